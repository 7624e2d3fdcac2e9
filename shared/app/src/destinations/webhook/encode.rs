//! What a webhook receiver gets for one event: the canonical JSON, verbatim, as the body (or
//! its OCSF record, for an endpoint whose `schema` is `ocsf`), and
//! the Standard Webhooks signature headers plus the single-header signature over it (sent under
//! the deployment's `AUDITRELAY_SIGNATURE_HEADER` name by the client), signed with every secret
//! the endpoint currently accepts (two during a rotation's overlap).

use time::OffsetDateTime;

use relay_core::model::event::AuditEvent;
use relay_core::model::webhook::WebhookEndpoint;
use relay_core::shapes::{ocsf, Schema, ShapeContext};
use relay_core::signing::{sign, SignatureHeaders};

/// The body for `endpoint`: the stored canonical JSON, or its OCSF record in `ctx` (the org's
/// context, with its class overrides). A stored event that does not parse is sent as it is
/// (it was valid when accepted; this only guards).
pub fn body(endpoint: &WebhookEndpoint, doc: &str, ctx: &ShapeContext) -> String {
    if endpoint.schema != Schema::Ocsf {
        return doc.to_string();
    }
    match serde_json::from_str::<AuditEvent>(doc) {
        Ok(event) => ocsf::record(&event, None, ctx).to_string(),
        Err(e) => {
            tracing::error!(error = %e, "stored event unreadable; sent canonical");
            doc.to_string()
        }
    }
}

/// The signature headers and the body of message `event_id` carrying `doc`, sent at `now`.
pub fn encode(
    endpoint: &WebhookEndpoint,
    ctx: &ShapeContext,
    event_id: &str,
    doc: &str,
    now: OffsetDateTime,
) -> (SignatureHeaders, String) {
    let ts = now.unix_timestamp();
    let body = body(endpoint, doc, ctx);
    let headers = sign(&endpoint.active_secrets(ts), event_id, ts, body.as_bytes());
    (headers, body)
}

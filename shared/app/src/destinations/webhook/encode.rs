//! What a webhook receiver gets for one event: the canonical JSON, verbatim, as the body, and
//! the Standard Webhooks signature headers plus the single-header signature over it (sent under
//! the deployment's `AUDITRELAY_SIGNATURE_HEADER` name by the client), signed with every secret
//! the endpoint currently accepts (two during a rotation's overlap).

use time::OffsetDateTime;

use relay_core::model::webhook::WebhookEndpoint;
use relay_core::signing::{sign, SignatureHeaders};

/// The signature headers and the body of message `event_id` carrying `doc`, sent at `now`.
pub fn encode(
    endpoint: &WebhookEndpoint,
    event_id: &str,
    doc: &str,
    now: OffsetDateTime,
) -> (SignatureHeaders, String) {
    let ts = now.unix_timestamp();
    let headers = sign(&endpoint.active_secrets(ts), event_id, ts, doc.as_bytes());
    (headers, doc.to_string())
}

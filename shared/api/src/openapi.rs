//! The API's OpenAPI 3.1 document, served at `GET /openapi.json`. It is generated from the
//! router itself: every route is registered with `utoipa_axum::routes!`, which takes the path,
//! methods, parameters and bodies from the handler's `#[utoipa::path]`, so a route cannot be
//! served without being documented. The error answers every operation shares (the one
//! `{"error","code"}` body of `error.rs`) are added here once, by what the operation takes.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder, Type};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::error::ErrorBody;
use crate::MAX_BODY_BYTES;

/// The document's root: metadata, the bearer-key scheme (required unless an operation says
/// otherwise) and the shared schemas; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "AuditRelay API",
        description = "Audit-log ingest, query and export. Every operation takes \
            `Authorization: Bearer <key>` unless it says otherwise; errors are JSON \
            `{\"error\", \"code\", \"field\"}`. Guide: docs/api.md.",
    ),
    security(("bearer" = [])),
    modifiers(&BearerKey),
    components(schemas(ErrorBody)),
    tags(
        (name = "trail", description = "Ingest and query the audit trail"),
        (name = "exports", description = "Export jobs (on demand)"),
        (name = "webhooks", description = "Webhook endpoints"),
        (name = "otel", description = "OTLP log export"),
        (name = "stream", description = "Continuous export to an object store"),
        (name = "credentials", description = "Stored upload credentials"),
        (name = "org", description = "Destination health, notifications, OCSF class overrides"),
        (name = "integrity", description = "Signing keys and accepted counts"),
        (name = "meta", description = "This document and the caller's key"),
    )
)]
struct ApiDoc;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (`ar_…`), created with `auditctl key create`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Any JSON object: answers whose shape is built in the service layer.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only, never built
pub struct Object(serde_json::Map<String, serde_json::Value>);

/// `POST /v1/audit/events`: one event, or a batch of 1 to 500.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // documentation only: the body is validated by `relay_app::ingest`
pub enum IngestBody {
    /// One event.
    One(Box<relay_core::model::AuditEvent>),
    /// A batch.
    Batch(EventBatch),
}

/// A batch of events.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only
pub struct EventBatch {
    /// 1 to 500 events.
    #[schema(min_items = 1, max_items = 500)]
    events: Vec<relay_core::model::AuditEvent>,
}

/// The query of the trail's listings (`GET /v1/audit/logs` and the trails). Documentation
/// only: handlers read the query as pairs so that an unknown or repeated parameter is a 400.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LogParams {
    /// Earliest event time (RFC 3339).
    #[param(format = DateTime)]
    from: Option<String>,
    /// Latest event time (RFC 3339), exclusive.
    #[param(format = DateTime)]
    to: Option<String>,
    /// Actions, comma-separated (at most 20).
    action: Option<String>,
    /// The actor's `user_id`.
    identity_id: Option<String>,
    /// The actor's type.
    #[param(pattern = "^(user|api_key|oauth_client|service_account|system|group)$")]
    identity_type: Option<String>,
    /// Resource path prefix.
    path_prefix: Option<String>,
    /// `true` or `false`.
    #[param(pattern = "^(true|false)$")]
    success: Option<String>,
    /// The actor's IP address.
    source_ip: Option<String>,
    /// The request id.
    request_id: Option<String>,
    /// Free-text search.
    q: Option<String>,
    /// Page size, 1 to 1000.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// The shape of each event: `canonical` (default), `entry` or `ocsf`.
    schema: Option<String>,
}

/// `limit` and `cursor` of a paged listing.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only
pub struct PageParams {
    /// Page size.
    #[param(minimum = 1)]
    limit: Option<u32>,
    /// The cursor of the previous page.
    cursor: Option<String>,
}

/// A time range (`from` inclusive, `to` exclusive, RFC 3339).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only
pub struct RangeParams {
    /// Start (RFC 3339).
    #[param(format = DateTime)]
    from: String,
    /// End (RFC 3339).
    #[param(format = DateTime)]
    to: String,
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub async fn serve() -> Response {
    ([(CACHE_CONTROL, "no-cache")], Json(document())).into_response()
}

/// The document, built once.
pub fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, paths) = crate::routes::api().split_for_parts();
        let mut doc = ApiDoc::openapi();
        doc.merge(paths);
        finish(&mut doc);
        doc
    })
}

/// Adds the shared error answers, and names the wildcard path segments the OpenAPI way
/// (`{*path}` is axum's syntax for a parameter that may contain `/`).
fn finish(doc: &mut Document) {
    let paths = std::mem::take(&mut doc.paths.paths);
    let mut renamed = BTreeMap::new();
    for (path, mut item) in paths {
        let path = path.replace("{*", "{");
        for (method, op) in operations(&mut item) {
            add_errors(method, op);
        }
        renamed.insert(path, item);
    }
    doc.paths.paths = renamed.into_iter().collect();
}

fn operations(item: &mut utoipa::openapi::PathItem) -> Vec<(HttpMethod, &mut Operation)> {
    [
        (HttpMethod::Get, item.get.as_mut()),
        (HttpMethod::Put, item.put.as_mut()),
        (HttpMethod::Post, item.post.as_mut()),
        (HttpMethod::Delete, item.delete.as_mut()),
        (HttpMethod::Patch, item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
    .collect()
}

fn add_errors(method: HttpMethod, op: &mut Operation) {
    // `security(())` marks the public operations.
    let public = op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| *r == Default::default()));
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let in_path = op.parameters.as_ref().is_some_and(|p| {
        p.iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Path))
    });
    let has_body = op.request_body.is_some();
    let mutating = !matches!(method, HttpMethod::Get);
    let body_limit = format!("The body is larger than {MAX_BODY_BYTES} bytes");
    let mut errors: Vec<(&str, &str)> = Vec::new();
    if has_params || has_body {
        errors.push((
            "400",
            "A field, parameter or the body is invalid (`field` names it)",
        ));
    }
    if !public {
        errors.push(("401", "No key, or not a live key"));
        errors.push(("403", "The key lacks the scope or role"));
    }
    if in_path {
        errors.push(("404", "No such resource, or another org's"));
    }
    if mutating && !public {
        errors.push(("409", "The resource's state does not allow it"));
    }
    if has_body {
        errors.push(("413", &body_limit));
        errors.push(("415", "The body is not `application/json`"));
    }
    if op.operation_id.as_deref() != Some("openapi") {
        errors.push(("503", "A dependency is throttling or unavailable; retry"));
    }
    for (status, description) in errors {
        if op.responses.responses.contains_key(status) {
            continue;
        }
        op.responses
            .responses
            .insert(status.to_string(), error_response(description).into());
    }
    if !public {
        let retry_after = HeaderBuilder::new()
            .schema(Some(
                utoipa::openapi::ObjectBuilder::new().schema_type(Type::Integer),
            ))
            .description(Some("Seconds to wait before retrying"))
            .build();
        let response = ResponseBuilder::new()
            .description("Rate limited: the key or its org sent too many requests")
            .header("Retry-After", retry_after)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        op.responses
            .responses
            .entry("429".to_string())
            .or_insert(response.into());
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

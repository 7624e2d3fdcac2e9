//! Identity and resource trails (`GET /v1/audit/identities/{identity_id}` and
//! `GET /v1/audit/secrets/{path}`, generalised to `GET /v1/audit/resources/{type}/{id}`): one
//! identity's or resource's events, paginated like `GET /v1/audit/logs` and served by the
//! `by_actor` / `by_resource` index, with the summary of the range.

use serde::Serialize;
use serde_json::value::RawValue;
use time::{Duration, OffsetDateTime};

use crate::summary::read::{trail_summary, TrailSummary, DEFAULT_RANGE_DAYS};
use relay_core::cursor::CursorSigner;
use relay_core::error::Error;
use relay_core::model::Org;
use relay_core::query::LogQuery;
use relay_core::summary::buckets::Dim;
use relay_store::Store;

/// A resource, as named in a trail's path.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ResourceRef {
    /// `resource.type`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// `resource.id`.
    pub id: String,
}

/// `GET /v1/audit/identities/{identity_id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IdentityTrail {
    /// The identity (`actor.user_id`).
    pub identity_id: String,
    /// Its events in the summary's range.
    pub summary: TrailSummary,
    /// Its events, newest first (the page), in the query's `schema` (raw JSON, as
    /// `GET /v1/audit/logs`).
    #[schema(value_type = Vec<Object>)]
    pub logs: Vec<Box<RawValue>>,
    /// Next page's cursor.
    pub cursor: Option<String>,
    /// Whether another page may follow.
    pub has_more: bool,
}

/// `GET /v1/audit/resources/{type}/{id}` and `GET /v1/audit/secrets/{path}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResourceTrail {
    /// The resource.
    pub resource: ResourceRef,
    /// The secret's path (the secrets route only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Its events in the summary's range (30 days unless `from`/`to` say otherwise).
    pub summary: TrailSummary,
    /// Its events, newest first (the page), in the query's `schema` (raw JSON, as
    /// `GET /v1/audit/logs`).
    #[schema(value_type = Vec<Object>)]
    pub logs: Vec<Box<RawValue>>,
    /// Next page's cursor.
    pub cursor: Option<String>,
    /// Whether another page may follow.
    pub has_more: bool,
}

fn check_path_value(field: &str, v: &str, max: usize) -> Result<(), Error> {
    if v.is_empty() || v.len() > max || v.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {max} bytes without control characters"),
        ));
    }
    Ok(())
}

/// The summary's range: the trail's `from`/`to` when given, else the 30 days up to `to`
/// (or now), never longer than the org keeps events.
fn summary_range(q: &LogQuery, org: &Org, now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    let to = q.filter.to.unwrap_or(now);
    let keep = to - Duration::days(i64::from(org.retention_days));
    let from = q
        .filter
        .from
        .unwrap_or(to - Duration::days(DEFAULT_RANGE_DAYS))
        .max(keep);
    (from, to)
}

/// One identity's trail.
pub async fn identity(
    store: &Store,
    cursors: &CursorSigner,
    org: &Org,
    identity_id: &str,
    pairs: &[(String, String)],
    now: OffsetDateTime,
) -> Result<IdentityTrail, Error> {
    check_path_value("identity_id", identity_id, 256)?;
    let mut query = LogQuery::parse(pairs)?;
    if query.filter.identity_id.is_some() {
        return Err(Error::invalid(
            "identity_id",
            "is given by the path; do not repeat it as a parameter",
        ));
    }
    query.filter.identity_id = Some(identity_id.to_string());
    let (from, to) = summary_range(&query, org, now);
    let dim = Dim::Identity(identity_id.to_string());
    let (page, summary) = futures::try_join!(
        crate::logs::list(store, cursors, &org.org_id, &query),
        async {
            trail_summary(store, &org.org_id, &dim, from, to)
                .await
                .map_err(Error::from)
        }
    )?;
    Ok(IdentityTrail {
        identity_id: identity_id.to_string(),
        summary,
        logs: page.logs,
        cursor: page.cursor,
        has_more: page.has_more,
    })
}

/// One resource's trail. `path` is set for the secrets route.
pub async fn resource(
    store: &Store,
    cursors: &CursorSigner,
    org: &Org,
    resource: ResourceRef,
    path: Option<String>,
    pairs: &[(String, String)],
    now: OffsetDateTime,
) -> Result<ResourceTrail, Error> {
    let id_field = if path.is_some() { "path" } else { "id" };
    check_path_value("type", &resource.resource_type, 128)?;
    check_path_value(id_field, &resource.id, 512)?;
    let mut query = LogQuery::parse(pairs)?;
    query.filter.resource = Some((resource.resource_type.clone(), resource.id.clone()));
    let (from, to) = summary_range(&query, org, now);
    let dim = Dim::Resource(resource.resource_type.clone(), resource.id.clone());
    let (page, summary) = futures::try_join!(
        crate::logs::list(store, cursors, &org.org_id, &query),
        async {
            trail_summary(store, &org.org_id, &dim, from, to)
                .await
                .map_err(Error::from)
        }
    )?;
    Ok(ResourceTrail {
        resource,
        path,
        summary,
        logs: page.logs,
        cursor: page.cursor,
        has_more: page.has_more,
    })
}

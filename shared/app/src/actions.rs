//! `GET /v1/audit/actions`: the actions that occur in the org's trail, for filters.

use serde::Serialize;

use relay_core::error::Error;
use relay_core::model::ids::OrgId;
use relay_store::Store;

/// The answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActionsResponse {
    /// Every action the org's trail has held, in lexical order (at most 1,000).
    pub actions: Vec<String>,
    /// Whether the org has more actions than listed.
    pub truncated: bool,
}

/// The org's actions.
pub async fn list(store: &Store, org_id: &OrgId) -> Result<ActionsResponse, Error> {
    let (actions, truncated) = store.list_actions(org_id).await?;
    Ok(ActionsResponse { actions, truncated })
}

//! An org's OCSF class overrides in the config table.
//!
//! Item `ORG#{org_id}` / `OCSF_CLASSES`: `overrides` (a list of `{pattern, class_uid,
//! activity_id}`, first match wins) and `updated_at`. A put replaces the whole list: the
//! list is one ordered table, so there is nothing to merge.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{get_n, get_s, n, opt_s, s, Item, Store};
use crate::error::StoreError;
use relay_core::model::ids::OrgId;
use relay_core::shapes::ocsf::ClassOverride;

const SK: &str = "OCSF_CLASSES";

fn pk(org_id: &OrgId) -> AttributeValue {
    s(format!("ORG#{org_id}"))
}

fn override_from(v: &AttributeValue) -> Result<ClassOverride, StoreError> {
    let m = v
        .as_m()
        .map_err(|_| StoreError::Corrupt("class override is not a map".into()))?;
    Ok(ClassOverride {
        pattern: get_s(m, "pattern")?.to_string(),
        class_uid: get_n(m, "class_uid")?,
        activity_id: get_n(m, "activity_id")?,
    })
}

fn override_value(o: &ClassOverride) -> AttributeValue {
    AttributeValue::M(
        [
            ("pattern".to_string(), s(&o.pattern)),
            ("class_uid".to_string(), n(o.class_uid)),
            ("activity_id".to_string(), n(o.activity_id)),
        ]
        .into_iter()
        .collect(),
    )
}

/// An org's stored overrides.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredClassOverrides {
    /// The overrides, first match wins.
    pub overrides: Vec<ClassOverride>,
    /// Last change (RFC 3339), `None` when never set.
    pub updated_at: Option<String>,
}

impl Store {
    /// The org's OCSF class overrides (empty when never set).
    pub async fn get_class_overrides(
        &self,
        org_id: &OrgId,
    ) -> Result<StoredClassOverrides, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key("pk", pk(org_id))
            .key("sk", s(SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let Some(item) = out.item() else {
            return Ok(StoredClassOverrides::default());
        };
        let overrides = match item.get("overrides") {
            Some(AttributeValue::L(l)) => l.iter().map(override_from).collect::<Result<_, _>>()?,
            _ => vec![],
        };
        Ok(StoredClassOverrides {
            overrides,
            updated_at: opt_s(item, "updated_at"),
        })
    }

    /// Replaces the org's overrides.
    pub async fn put_class_overrides(
        &self,
        org_id: &OrgId,
        overrides: &[ClassOverride],
        now: &str,
    ) -> Result<(), StoreError> {
        let item: Item = [
            ("pk", pk(org_id)),
            ("sk", s(SK)),
            ("org_id", s(org_id)),
            (
                "overrides",
                AttributeValue::L(overrides.iter().map(override_value).collect()),
            ),
            ("updated_at", s(now)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        self.ddb
            .put_item()
            .table_name(&self.config_table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }
}

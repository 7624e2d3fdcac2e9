//! How a [`BucketTarget`] is kept in an item: one attribute per field, so that the continuous
//! export and export jobs store destinations alike. Items written before the other stores
//! existed have neither `store_type` nor `access`: they are S3 through a role.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{get_s, opt_s, s, Item};
use crate::error::StoreError;
use relay_core::model::bucket::{Access, BucketTarget, StoreType};

/// Every attribute a target is stored in (several are DynamoDB reserved words: callers alias
/// them all).
pub(crate) const TARGET_ATTRS: [&str; 10] = [
    "store_type",
    "bucket",
    "region",
    "prefix",
    "access",
    "role_arn",
    "credentials_path",
    "endpoint_url",
    "force_path_style",
    "account_name",
];

/// The attributes of `t`: `Some` to set, `None` to remove.
pub(crate) fn target_values(t: &BucketTarget) -> Vec<(&'static str, Option<AttributeValue>)> {
    vec![
        ("store_type", Some(s(t.store.as_str()))),
        ("bucket", Some(s(&t.bucket))),
        ("region", Some(s(&t.region))),
        ("prefix", Some(s(&t.prefix))),
        ("access", Some(s(t.access.as_str()))),
        ("role_arn", t.role_arn().map(s)),
        ("credentials_path", t.credentials_path().map(s)),
        ("endpoint_url", t.endpoint_url.as_deref().map(s)),
        (
            "force_path_style",
            Some(AttributeValue::Bool(t.force_path_style)),
        ),
        ("account_name", t.account_name.as_deref().map(s)),
    ]
}

/// Reads a target back.
pub(crate) fn target_from_item(item: &Item) -> Result<BucketTarget, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("destination: {what}"));
    let store = match opt_s(item, "store_type") {
        None => StoreType::S3,
        Some(t) => StoreType::parse(&t).ok_or_else(|| corrupt("store_type"))?,
    };
    let access = match opt_s(item, "access").as_deref() {
        None | Some("role") => Access::Role(get_s(item, "role_arn")?.to_string()),
        Some("credentials") => Access::Credentials(get_s(item, "credentials_path")?.to_string()),
        Some("bucket_policy") => Access::BucketPolicy,
        Some(_) => return Err(corrupt("access")),
    };
    Ok(BucketTarget {
        store,
        bucket: get_s(item, "bucket")?.to_string(),
        region: get_s(item, "region")?.to_string(),
        prefix: get_s(item, "prefix")?.to_string(),
        access,
        endpoint_url: opt_s(item, "endpoint_url"),
        force_path_style: matches!(
            item.get("force_path_style"),
            Some(AttributeValue::Bool(true))
        ),
        account_name: opt_s(item, "account_name"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_and_old_items_are_roles() {
        let t = BucketTarget {
            store: StoreType::AzureBlob,
            bucket: "audit".into(),
            region: String::new(),
            prefix: "p".into(),
            access: Access::Credentials("az".into()),
            endpoint_url: Some("http://127.0.0.1:10000/devstoreaccount1".into()),
            force_path_style: false,
            account_name: Some("devstoreaccount1".into()),
        };
        let item: Item = target_values(&t)
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect();
        assert_eq!(target_from_item(&item).unwrap(), t);
        let old: Item = [
            ("bucket", "b"),
            ("region", "us-east-1"),
            ("prefix", "p"),
            ("role_arn", "arn:aws:iam::123456789012:role/r"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), s(v)))
        .collect();
        let t = target_from_item(&old).unwrap();
        assert_eq!(t.store, StoreType::S3);
        assert_eq!(t.role_arn(), Some("arn:aws:iam::123456789012:role/r"));
    }
}

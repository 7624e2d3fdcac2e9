//! Table definitions. `auditctl provision` creates exactly these, and a test checks that
//! `template.yaml` declares the same keys, indexes, stream and TTL, so local and deployed match.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};

use crate::error::StoreError;

/// Events GSI: an org's events by event time (`GET /v1/audit/logs`).
pub const GSI_BY_TIME: &str = "by_time";
/// Events GSI: an org's events by acceptance time (the S3 flush watermark).
pub const GSI_BY_RECEIVED: &str = "by_received";
/// Events GSI: one identity's events by event time (`identity_id`).
pub const GSI_BY_ACTOR: &str = "by_actor";
/// Events GSI: one resource's events by event time.
pub const GSI_BY_RESOURCE: &str = "by_resource";

/// A global secondary index (projection ALL: a query never needs a second read).
#[derive(Debug, Clone, PartialEq)]
pub struct IndexSpec {
    /// Index name.
    pub name: &'static str,
    /// Partition key attribute.
    pub hash: &'static str,
    /// Sort key attribute.
    pub range: &'static str,
}

/// A table: string keys, on-demand billing.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// Logical role of the table (`events`, `config`).
    pub role: &'static str,
    /// Partition key attribute.
    pub hash: &'static str,
    /// Sort key attribute.
    pub range: &'static str,
    /// Global secondary indexes.
    pub indexes: Vec<IndexSpec>,
    /// Whether a NEW_IMAGE stream feeds the fanout.
    pub stream: bool,
    /// TTL attribute (epoch seconds), if items expire.
    pub ttl_attribute: Option<&'static str>,
}

/// The events table: one partition per org (`pk` = org id, `sk` = event id, which makes the
/// conditional put the idempotency check), four GSIs keyed for the access patterns.
pub fn events_table() -> TableSpec {
    TableSpec {
        role: "events",
        hash: "pk",
        range: "sk",
        indexes: vec![
            IndexSpec {
                name: GSI_BY_TIME,
                hash: "pk",
                range: "ts_sk",
            },
            IndexSpec {
                name: GSI_BY_RECEIVED,
                hash: "pk",
                range: "rcv_sk",
            },
            IndexSpec {
                name: GSI_BY_ACTOR,
                hash: "actor_pk",
                range: "ts_sk",
            },
            IndexSpec {
                name: GSI_BY_RESOURCE,
                hash: "res_pk",
                range: "ts_sk",
            },
        ],
        stream: true,
        ttl_attribute: Some("expires_at"),
    }
}

/// The config table: orgs, API keys, destinations and run records, single-table style.
pub fn config_table() -> TableSpec {
    TableSpec {
        role: "config",
        hash: "pk",
        range: "sk",
        indexes: vec![],
        stream: false,
        ttl_attribute: Some("expires_at"),
    }
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| StoreError::Sdk(e.to_string()))
}

/// Creates `spec` as table `name` unless it exists; waits until it is active and sets its TTL.
pub async fn ensure_table(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
    spec: &TableSpec,
) -> Result<bool, StoreError> {
    let mut attrs: Vec<&str> = vec![spec.hash, spec.range];
    for ix in &spec.indexes {
        for a in [ix.hash, ix.range] {
            if !attrs.contains(&a) {
                attrs.push(a);
            }
        }
    }
    let mut req = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(spec.hash, KeyType::Hash)?)
        .key_schema(key(spec.range, KeyType::Range)?);
    for a in attrs {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Sdk(e.to_string()))?,
        );
    }
    for ix in &spec.indexes {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(ix.name)
                .key_schema(key(ix.hash, KeyType::Hash)?)
                .key_schema(key(ix.range, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(|e| StoreError::Sdk(e.to_string()))?,
        );
    }
    if spec.stream {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .map_err(|e| StoreError::Sdk(e.to_string()))?,
        );
    }
    let created = match req.send().await {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_in_use_exception()) =>
        {
            false
        }
        Err(e) => return Err(StoreError::from_sdk(e)),
    };
    for _ in 0..60 {
        let d = ddb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let active = d
            .table()
            .and_then(|t| t.table_status())
            .is_some_and(|s| s.as_str() == "ACTIVE");
        if active {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    if let Some(attr) = spec.ttl_attribute {
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(attr)
            .enabled(true)
            .build()
            .map_err(|e| StoreError::Sdk(e.to_string()))?;
        if let Err(e) = ddb
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(ttl)
            .send()
            .await
        {
            // Enabling TTL twice is refused with "TimeToLive is already enabled".
            let already = format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&e))
                .contains("already enabled");
            if !already {
                return Err(StoreError::from_sdk(e));
            }
        }
    }
    Ok(created)
}

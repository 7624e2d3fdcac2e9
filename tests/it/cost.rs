//! The request-cost model of `make cost` (`support::cost`): moto's recorder entries are
//! classified by service and operation, wire items have the store's sizes, and a recorded
//! event put costs what the store says it costs.

use serde_json::json;
use support::cost::{self, item, parse_entry, Recorder, TableShape};
use support::TestEnv;

#[test]
fn wire_items_have_the_stores_sizes() {
    let wire = json!({"pk": {"S": "org_1"}, "n": {"N": "12345"}, "ok": {"BOOL": true},
        "m": {"M": {"a": {"S": "xy"}}}, "l": {"L": [{"N": "1"}]}});
    let it = item(&wire);
    // pk: 2 + 5; n: 1 + (3 + 1); ok: 2 + 1; m: 1 + (3 + 1 + 1 + 2); l: 1 + (3 + 1 + 2)
    assert_eq!(relay_store::events::item_size(&it), 7 + 5 + 3 + 8 + 7);
}

#[test]
fn entries_name_service_and_operation() {
    let auth = |service: &str| {
        format!("AWS4-HMAC-SHA256 Credential=testing/20261201/us-east-1/{service}/aws4_request, SignedHeaders=host")
    };
    let ddb = json!({"headers": {"Authorization": auth("dynamodb"),
        "X-Amz-Target": "DynamoDB_20120810.PutItem"}, "method": "POST", "url": "http://x/",
        "body": "{\"TableName\":\"t\",\"Item\":{\"pk\":{\"S\":\"a\"}}}", "body_encoded": false});
    let c = parse_entry(&ddb);
    assert_eq!(
        (c.service.as_str(), c.operation.as_str()),
        ("dynamodb", "PutItem")
    );
    let s3 = json!({"headers": {"authorization": auth("s3")}, "method": "PUT",
        "url": "http://x/b/k?partNumber=1&uploadId=u", "body": "", "body_encoded": false});
    assert_eq!(parse_entry(&s3).operation, "UploadPart");
    let sts = json!({"headers": {"Authorization": auth("sts")}, "method": "POST", "url": "http://x/",
        "body": "Action=AssumeRole&Version=2011-06-15", "body_encoded": false});
    assert_eq!(parse_entry(&sts).operation, "AssumeRole");
}

#[tokio::test]
async fn a_recorded_event_put_costs_what_the_store_says() {
    let env = TestEnv::new().await;
    let org = env.a.org.clone();
    let now = time::OffsetDateTime::now_utc();
    let valid = relay_app::ingest::validate_body(support::seed_event(), &org, now).unwrap();
    let expected = relay_store::events::write_units(&relay_store::events::event_item(
        &org.org_id,
        &valid[0],
        0,
    ));
    let recorder = Recorder::from_env();
    recorder.start().await;
    env.store
        .put_event(&org.org_id, &valid[0], 0)
        .await
        .unwrap();
    let calls = recorder.stop().await;
    let ddb = env.store.client();
    let table = env.config.events_table.clone();
    let shape = TableShape::describe(ddb, &table).await;
    let keys = [(table.clone(), shape.key.clone())].into_iter().collect();
    let puts: Vec<_> = calls
        .iter()
        .filter(|c| c.service == "dynamodb")
        .flat_map(|c| cost::writes(c, &keys))
        .filter(|w| w.table == table)
        .collect();
    assert_eq!(puts.len(), 1, "{calls:?}");
    assert_eq!(shape.units(puts[0].item.as_ref().unwrap()), expected);
}

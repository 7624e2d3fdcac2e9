//! `template.yaml` against the Rust table specs (`relay_store::schema`): the tables
//! `auditctl provision` creates locally must be the tables SAM deploys. Also pins every
//! function to provided.al2023 / arm64 / cargo-lambda, each a binary of the `functions`
//! package. Needs no emulator.

use std::collections::{BTreeMap, BTreeSet};

use relay_store::schema::{config_table, events_table, TableSpec};
use serde_yaml::{Mapping, Value};

const TEMPLATE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");

fn template() -> Value {
    let text = std::fs::read_to_string(TEMPLATE_PATH)
        .unwrap_or_else(|e| panic!("read {TEMPLATE_PATH}: {e}"));
    // CloudFormation short forms (`!Ref`, `!GetAtt`, `!Sub`) parse as `Value::Tagged`.
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parse {TEMPLATE_PATH}: {e}"))
}

fn resources(t: &Value) -> &Mapping {
    t["Resources"]
        .as_mapping()
        .expect("template has a Resources mapping")
}

/// The logical id of a spec's table: role `events` -> `EventsTable`.
fn logical_id(spec: &TableSpec) -> String {
    let mut chars = spec.role.chars();
    let first = chars
        .next()
        .expect("role is not empty")
        .to_ascii_uppercase();
    format!("{first}{}Table", chars.as_str())
}

fn str_at<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {v:?}"))
}

fn seq_at<'a>(v: &'a Value, what: &str) -> &'a [Value] {
    v.as_sequence()
        .unwrap_or_else(|| panic!("{what}: expected a list, got {v:?}"))
}

/// A `KeySchema` list as (hash, range), asserting it has exactly those two elements.
fn key_schema(v: &Value, what: &str) -> (String, String) {
    let keys: Vec<(&str, &str)> = seq_at(v, what)
        .iter()
        .map(|k| {
            (
                str_at(&k["KeyType"], what),
                str_at(&k["AttributeName"], what),
            )
        })
        .collect();
    match keys.as_slice() {
        [("HASH", h), ("RANGE", r)] => (h.to_string(), r.to_string()),
        other => panic!("{what}: expected [HASH, RANGE], got {other:?}"),
    }
}

/// `!Ref <target>`, in either the short (`Tagged`) or the long (`{Ref: ..}`) form.
fn is_ref_to(v: &Value, target: &str) -> bool {
    match v {
        Value::Tagged(t) => t.tag == "Ref" && t.value.as_str() == Some(target),
        Value::Mapping(m) => m.len() == 1 && m.get("Ref").and_then(Value::as_str) == Some(target),
        _ => false,
    }
}

fn check_table(t: &Value, spec: &TableSpec) {
    let id = logical_id(spec);
    let res = &t["Resources"][id.as_str()];
    assert_eq!(
        res["Type"], "AWS::DynamoDB::Table",
        "{id}: missing or not a DynamoDB table"
    );
    // Audit data survives stack deletion and resource replacement.
    assert_eq!(res["DeletionPolicy"], "Retain", "{id}: DeletionPolicy");
    assert_eq!(
        res["UpdateReplacePolicy"], "Retain",
        "{id}: UpdateReplacePolicy"
    );
    let p = &res["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST", "{id}: BillingMode");
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true,
        "{id}: point-in-time recovery"
    );

    // Key schema.
    let table_keys = key_schema(&p["KeySchema"], &format!("{id}.KeySchema"));
    assert_eq!(
        table_keys,
        (spec.hash.to_string(), spec.range.to_string()),
        "{id}: table key schema"
    );

    // GSIs: same names, same keys, projection ALL.
    let mut want_gsis = BTreeMap::new();
    for ix in &spec.indexes {
        want_gsis.insert(
            ix.name.to_string(),
            (ix.hash.to_string(), ix.range.to_string()),
        );
    }
    let mut got_gsis = BTreeMap::new();
    if !p["GlobalSecondaryIndexes"].is_null() {
        for g in seq_at(
            &p["GlobalSecondaryIndexes"],
            &format!("{id}.GlobalSecondaryIndexes"),
        ) {
            let name = str_at(&g["IndexName"], &format!("{id}: IndexName")).to_string();
            let what = format!("{id}.{name}");
            assert_eq!(
                g["Projection"]["ProjectionType"], "ALL",
                "{what}: projection"
            );
            let keys = key_schema(&g["KeySchema"], &format!("{what}.KeySchema"));
            assert!(
                got_gsis.insert(name, keys).is_none(),
                "{what}: declared twice"
            );
        }
    }
    assert_eq!(got_gsis, want_gsis, "{id}: global secondary indexes");
    assert!(
        p["LocalSecondaryIndexes"].is_null(),
        "{id}: the specs have no LSIs"
    );

    // Attribute definitions: exactly the key attributes (CloudFormation rejects extras), all S.
    let mut want_attrs = BTreeSet::from([spec.hash, spec.range]);
    for ix in &spec.indexes {
        want_attrs.extend([ix.hash, ix.range]);
    }
    let mut got_attrs = BTreeSet::new();
    for a in seq_at(
        &p["AttributeDefinitions"],
        &format!("{id}.AttributeDefinitions"),
    ) {
        let name = str_at(&a["AttributeName"], &format!("{id}: AttributeName"));
        assert_eq!(a["AttributeType"], "S", "{id}.{name}: attribute type");
        assert!(got_attrs.insert(name), "{id}.{name}: defined twice");
    }
    assert_eq!(got_attrs, want_attrs, "{id}: attribute definitions");

    // Stream: NEW_IMAGE iff the spec has one.
    let stream = &p["StreamSpecification"];
    if spec.stream {
        assert_eq!(
            stream["StreamViewType"], "NEW_IMAGE",
            "{id}: stream view type"
        );
    } else {
        assert!(
            stream.is_null(),
            "{id}: has a stream the spec does not: {stream:?}"
        );
    }

    // TTL.
    let ttl = &p["TimeToLiveSpecification"];
    match spec.ttl_attribute {
        Some(attr) => {
            assert_eq!(ttl["AttributeName"], attr, "{id}: TTL attribute");
            assert_eq!(ttl["Enabled"], true, "{id}: TTL enabled");
        }
        None => assert!(
            ttl.is_null() || ttl["Enabled"] == false,
            "{id}: has a TTL the spec does not: {ttl:?}"
        ),
    }
}

#[test]
fn events_table_matches_schema() {
    check_table(&template(), &events_table());
}

#[test]
fn config_table_matches_schema() {
    check_table(&template(), &config_table());
}

#[test]
fn template_declares_exactly_the_spec_tables() {
    let t = template();
    let declared: BTreeSet<String> = resources(&t)
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::DynamoDB::Table")
        .map(|(k, _)| str_at(k, "logical id").to_string())
        .collect();
    let specs: BTreeSet<String> = [events_table(), config_table()]
        .iter()
        .map(logical_id)
        .collect();
    assert_eq!(
        declared, specs,
        "DynamoDB tables in template.yaml vs relay_store::schema"
    );
}

#[test]
fn functions_get_the_table_names() {
    let t = template();
    let globals = &t["Globals"]["Function"]["Environment"]["Variables"];
    for (var, spec) in [
        ("AUDITRELAY_EVENTS_TABLE", events_table()),
        ("AUDITRELAY_CONFIG_TABLE", config_table()),
    ] {
        let id = logical_id(&spec);
        for (name, res) in resources(&t) {
            if res["Type"] != "AWS::Serverless::Function" {
                continue;
            }
            let name = str_at(name, "logical id");
            let own = &res["Properties"]["Environment"]["Variables"][var];
            let v = if own.is_null() { &globals[var] } else { own };
            assert!(
                is_ref_to(v, &id),
                "{name}: {var} should be !Ref {id}, got {v:?}"
            );
        }
    }
}

#[test]
fn every_function_is_a_cargo_lambda_arm64_al2023_binary() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    let mut functions = 0;
    for (name, res) in resources(&t) {
        if res["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        functions += 1;
        let name = str_at(name, "logical id");
        // A property set on the function overrides Globals.
        let prop = |key: &str| {
            let own = &res["Properties"][key];
            if own.is_null() {
                &globals[key]
            } else {
                own
            }
        };
        assert_eq!(prop("Runtime"), "provided.al2023", "{name}: Runtime");
        assert_is_a_handler(str_at(prop("Handler"), &format!("{name}: Handler")));
        let arch: Vec<&str> = seq_at(prop("Architectures"), &format!("{name}.Architectures"))
            .iter()
            .map(|a| str_at(a, "architecture"))
            .collect();
        assert_eq!(arch, ["arm64"], "{name}: Architectures");
        assert_eq!(
            res["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{name}: BuildMethod"
        );
        assert_eq!(
            res["Metadata"]["BuildProperties"]["Binary"], FUNCTIONS_BINARY,
            "{name}: Metadata.BuildProperties.Binary"
        );
    }
    assert!(
        functions > 0,
        "template.yaml declares no AWS::Serverless::Function"
    );
}

/// `!GetAtt <target>` in the short (`Tagged`) or long (`{Fn::GetAtt: [..]}`) form.
fn is_getatt(v: &Value, target: &str) -> bool {
    match v {
        Value::Tagged(t) => t.tag == "GetAtt" && t.value.as_str() == Some(target),
        Value::Mapping(m) => m.get("Fn::GetAtt").is_some_and(|a| {
            let parts: Vec<&str> = a
                .as_sequence()
                .map(|s| s.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            parts.join(".") == target
        }),
        _ => false,
    }
}

fn as_u64(v: &Value, what: &str) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("{what}: expected a number, got {v:?}"))
}

#[test]
fn deliveries_queue_matches_the_retry_schedule() {
    use relay_app::pipeline::queues::{
        DLQ_RETENTION_SECS, RETENTION_SECS, VISIBILITY_TIMEOUT_SECS,
    };
    use relay_core::retry::RetrySchedule;
    let t = template();
    let q = &t["Resources"]["DeliveriesQueue"];
    assert_eq!(q["Type"], "AWS::SQS::Queue");
    let p = &q["Properties"];
    let redrive = &p["RedrivePolicy"];
    // The message reaches the DLQ right after its last attempt: maxReceiveCount = attempts.
    assert_eq!(
        as_u64(&redrive["maxReceiveCount"], "maxReceiveCount"),
        u64::from(RetrySchedule::seed().max_attempts())
    );
    assert!(is_getatt(
        &redrive["deadLetterTargetArn"],
        "DeliveriesDeadLetterQueue.Arn"
    ));
    let visibility = as_u64(&p["VisibilityTimeout"], "VisibilityTimeout");
    assert_eq!(visibility, u64::from(VISIBILITY_TIMEOUT_SECS));
    let timeout = as_u64(
        &t["Resources"]["DeliverFunction"]["Properties"]["Timeout"],
        "DeliverFunction.Timeout",
    );
    assert!(
        visibility > timeout,
        "the queue's visibility timeout must exceed the deliver function's timeout"
    );
    assert_eq!(
        as_u64(&p["MessageRetentionPeriod"], "retention"),
        u64::from(RETENTION_SECS)
    );
    let dlq = &t["Resources"]["DeliveriesDeadLetterQueue"];
    assert_eq!(dlq["Type"], "AWS::SQS::Queue");
    assert_eq!(
        as_u64(
            &dlq["Properties"]["MessageRetentionPeriod"],
            "DLQ retention"
        ),
        u64::from(DLQ_RETENTION_SECS)
    );
}

#[test]
fn the_slow_lane_mirrors_the_deliveries_queue_with_its_own_dlq_and_concurrency() {
    let t = template();
    let r = &t["Resources"];
    let (fast, slow) = (
        &r["DeliveriesQueue"]["Properties"],
        &r["SlowDeliveriesQueue"]["Properties"],
    );
    for key in ["VisibilityTimeout", "MessageRetentionPeriod"] {
        assert_eq!(fast[key], slow[key], "{key}");
    }
    let redrive = &slow["RedrivePolicy"];
    assert_eq!(
        redrive["maxReceiveCount"],
        fast["RedrivePolicy"]["maxReceiveCount"]
    );
    assert!(is_getatt(
        &redrive["deadLetterTargetArn"],
        "SlowDeliveriesDeadLetterQueue.Arn"
    ));
    let m = &r["DeliverSlowQueueEvents"]["Properties"];
    assert!(is_ref_to(&m["FunctionName"], "DeliverFunction"));
    assert!(is_getatt(&m["EventSourceArn"], "SlowDeliveriesQueue.Arn"));
    let concurrency = |p: &serde_yaml::Value| {
        as_u64(
            &p["ScalingConfig"]["MaximumConcurrency"],
            "MaximumConcurrency",
        )
    };
    assert!(concurrency(m) < concurrency(&r["DeliverQueueEvents"]["Properties"]));
    for f in ["FanoutFunction", "DeliverFunction"] {
        assert!(
            is_ref_to(
                &r[f]["Properties"]["Environment"]["Variables"]
                    ["AUDITRELAY_SLOW_DELIVERIES_QUEUE_URL"],
                "SlowDeliveriesQueue"
            ),
            "{f}"
        );
    }
}

#[test]
fn delivery_triggers_report_partial_batch_failures() {
    let t = template();
    let mut mappings = 0;
    for (name, res) in resources(&t) {
        if res["Type"] != "AWS::Lambda::EventSourceMapping" {
            continue;
        }
        mappings += 1;
        let name = str_at(name, "logical id");
        let p = &res["Properties"];
        let types: Vec<&str> = seq_at(&p["FunctionResponseTypes"], name)
            .iter()
            .map(|v| str_at(v, name))
            .collect();
        assert_eq!(types, ["ReportBatchItemFailures"], "{name}");
    }
    assert_eq!(
        mappings, 6,
        "the stream's two consumers, the two delivery lanes, the flush queue and the export-jobs \
         queue triggers"
    );
    // The stream's consumers, the summary counters apart from delivery: a batch one of them
    // cannot handle is retried by that one alone.
    for (mapping, function) in [
        ("FanoutEventsStream", "FanoutFunction"),
        ("SummarizeEventsStream", "SummarizeFunction"),
    ] {
        let stream = &t["Resources"][mapping]["Properties"];
        assert!(is_ref_to(&stream["FunctionName"], function), "{mapping}");
        assert!(is_getatt(
            &stream["EventSourceArn"],
            "EventsTable.StreamArn"
        ));
        assert_eq!(stream["BisectBatchOnFunctionError"], true, "{mapping}");
        // Never give up on a record: an accepted event is never skipped.
        assert_eq!(stream["MaximumRetryAttempts"], -1, "{mapping}");
        assert_eq!(stream["MaximumRecordAgeInSeconds"], -1, "{mapping}");
        // Only inserts invoke them (neither has anything to do for TTL deletes), filtered by
        // the field the handlers read.
        let filters = seq_at(
            &stream["FilterCriteria"]["Filters"],
            "FilterCriteria.Filters",
        );
        assert_eq!(filters.len(), 1, "{mapping}");
        let pattern: serde_json::Value =
            serde_json::from_str(str_at(&filters[0]["Pattern"], "Pattern"))
                .expect("a JSON pattern");
        assert_eq!(
            pattern,
            serde_json::json!({"eventName": ["INSERT"]}),
            "{mapping}"
        );
    }
    assert_eq!(
        t["Resources"]["SummarizeFunction"]["Properties"]["Handler"],
        "summarize"
    );
    assert_is_a_handler("summarize");
    for name in ["DeliverQueueEvents", "DeliverSlowQueueEvents"] {
        let queue = &t["Resources"][name]["Properties"];
        assert!(is_ref_to(&queue["FunctionName"], "DeliverFunction"));
        assert!(as_u64(&queue["BatchSize"], "BatchSize") <= 10, "{name}");
        // A batch gathers what arrives within a second, rather than one message each.
        assert_eq!(
            as_u64(
                &queue["MaximumBatchingWindowInSeconds"],
                "MaximumBatchingWindowInSeconds"
            ),
            1,
            "{name}"
        );
    }
    let queue = &t["Resources"]["DeliverQueueEvents"]["Properties"];
    assert!(is_getatt(&queue["EventSourceArn"], "DeliveriesQueue.Arn"));
    // SAM `Events` of these kinds would attach account-wide managed policies.
    for (name, res) in resources(&t) {
        for (_, ev) in res["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            assert!(
                !matches!(ev["Type"].as_str(), Some("SQS" | "DynamoDB")),
                "{name:?}: use an explicit EventSourceMapping"
            );
        }
    }
}

#[test]
fn delivery_functions_get_the_queue_and_the_topic() {
    let t = template();
    let env = |f: &str, var: &str| {
        t["Resources"][f]["Properties"]["Environment"]["Variables"][var].clone()
    };
    for f in ["ApiFunction", "FanoutFunction", "DeliverFunction"] {
        assert!(
            is_ref_to(
                &env(f, "AUDITRELAY_DELIVERIES_QUEUE_URL"),
                "DeliveriesQueue"
            ),
            "{f}: AUDITRELAY_DELIVERIES_QUEUE_URL"
        );
    }
    assert!(is_ref_to(
        &env("DeliverFunction", "AUDITRELAY_NOTIFY_TOPIC_ARN"),
        "NotificationTopic"
    ));
    assert_eq!(
        t["Resources"]["NotificationTopic"]["Type"],
        "AWS::SNS::Topic"
    );
    for (name, handler) in [("FanoutFunction", "fanout"), ("DeliverFunction", "deliver")] {
        assert_eq!(t["Resources"][name]["Properties"]["Handler"], handler);
        assert_is_a_handler(handler);
    }
}

/// The one binary of the `functions` package, which every function runs.
const FUNCTIONS_BINARY: &str = "auditrelay";

/// `handler` is one the functions' binary dispatches on (`_HANDLER`), with its module in
/// `functions/src/{handler}.rs`, and the binary is the package's one `[[bin]]`.
fn assert_is_a_handler(handler: &str) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions");
    let manifest = std::fs::read_to_string(format!("{root}/Cargo.toml")).expect("manifest");
    assert!(
        manifest.contains(&format!(
            "[[bin]]\nname = \"{FUNCTIONS_BINARY}\"\npath = \"src/main.rs\""
        )),
        "functions/Cargo.toml has no [[bin]] {FUNCTIONS_BINARY}"
    );
    let main = std::fs::read_to_string(format!("{root}/src/main.rs")).expect("main.rs");
    assert!(
        main.contains(&format!("\"{handler}\" => {handler}::run().await")),
        "functions/src/main.rs does not dispatch {handler:?}"
    );
    let module = format!("{root}/src/{handler}.rs");
    assert!(std::path::Path::new(&module).exists(), "{module}");
}

#[test]
fn the_flush_queue_matches_what_provision_creates() {
    let t = template();
    let spec = relay_app::destinations::s3_stream::pending::FLUSH_QUEUE;
    let q = &t["Resources"]["FlushQueue"]["Properties"];
    assert_eq!(
        as_u64(&q["VisibilityTimeout"], "VisibilityTimeout"),
        u64::from(spec.visibility_secs)
    );
    assert_eq!(
        as_u64(&q["MessageRetentionPeriod"], "MessageRetentionPeriod"),
        u64::from(spec.retention_secs)
    );
    assert_eq!(
        as_u64(&q["RedrivePolicy"]["maxReceiveCount"], "maxReceiveCount"),
        u64::from(spec.max_receive_count)
    );
    assert!(is_getatt(
        &q["RedrivePolicy"]["deadLetterTargetArn"],
        "FlushDeadLetterQueue.Arn"
    ));
    // The flush must outlive neither its queue's visibility timeout nor its lease.
    let timeout = as_u64(
        &t["Resources"]["FlushFunction"]["Properties"]["Timeout"],
        "Timeout",
    );
    assert!(timeout < u64::from(spec.visibility_secs));
    assert!(
        timeout
            <= relay_app::destinations::s3_stream::flush::FlushSettings::default()
                .lease
                .as_secs()
    );
}

#[test]
fn the_export_jobs_queue_matches_what_provision_creates() {
    let t = template();
    let spec = relay_app::destinations::export_job::queue::EXPORT_QUEUE;
    let q = &t["Resources"]["ExportJobsQueue"]["Properties"];
    assert_eq!(
        as_u64(&q["VisibilityTimeout"], "VisibilityTimeout"),
        u64::from(spec.visibility_secs)
    );
    assert_eq!(
        as_u64(&q["MessageRetentionPeriod"], "MessageRetentionPeriod"),
        u64::from(spec.retention_secs)
    );
    assert_eq!(
        as_u64(&q["RedrivePolicy"]["maxReceiveCount"], "maxReceiveCount"),
        u64::from(spec.max_receive_count)
    );
    assert!(is_getatt(
        &q["RedrivePolicy"]["deadLetterTargetArn"],
        "ExportJobsDeadLetterQueue.Arn"
    ));
    let f = &t["Resources"]["ExportFunction"];
    assert_eq!(f["Properties"]["Handler"], "export");
    assert_is_a_handler("export");
    // A message is never visible again while an invocation may still work on it.
    let timeout = as_u64(&f["Properties"]["Timeout"], "Timeout");
    assert!(timeout < u64::from(spec.visibility_secs));
    let mapping = &t["Resources"]["ExportJobsQueueEvents"]["Properties"];
    assert_eq!(as_u64(&mapping["BatchSize"], "BatchSize"), 1);
    assert!(is_getatt(&mapping["EventSourceArn"], "ExportJobsQueue.Arn"));
    // The API queues jobs; the function continues them.
    for fun in ["ApiFunction", "ExportFunction"] {
        assert!(
            is_ref_to(
                &t["Resources"][fun]["Properties"]["Environment"]["Variables"]
                    ["AUDITRELAY_EXPORT_QUEUE_URL"],
                "ExportJobsQueue"
            ),
            "{fun}: AUDITRELAY_EXPORT_QUEUE_URL"
        );
    }
}

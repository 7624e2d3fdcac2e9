//! The published API contract, `GET /openapi.json`: it lists exactly the (method, path) pairs the
//! router serves (the console's files aside), and it is a valid OpenAPI 3.1 document
//! (openapi-spec-validator from `requirements-dev.txt`). `scripts/fuzz-api.sh` (in `make test`)
//! then fuzzes the running stack against it with schemathesis.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};

use http::{Method, StatusCode};
use relay_app::clients::Clients;
use relay_app::destinations::export_job::local::ExportPoller;
use relay_app::destinations::export_job::queue::EXPORT_QUEUE;
use relay_app::destinations::export_job::run::{ExportRunner, ExportSettings};
use relay_app::pipeline::queues::ensure_queue_with_dlq;
use serde_json::Value;
use support::TestEnv;

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// The console's files, which the document may leave out.
fn is_console(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

async fn document(env: &TestEnv) -> Value {
    let r = env.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

/// The paths the router matches, read from its `Debug` form (axum lists its route table there;
/// it has no other way to enumerate routes), in OpenAPI's spelling (`{*rest}` → `{rest}`).
fn router_paths(env: &TestEnv) -> BTreeSet<String> {
    let debug = format!("{:?}", env.router);
    // The fallback's own catch-all routes come after the route table.
    let table = debug.split("fallback_router").next().unwrap();
    let mut out = BTreeSet::new();
    let mut rest = table;
    while let Some(i) = rest.find("\"/") {
        let tail = &rest[i + 1..];
        let end = tail.find('"').unwrap();
        out.insert(tail[..end].replace("{*", "{"));
        rest = &tail[end..];
    }
    assert!(out.len() > 10, "no route table in {debug}");
    out
}

/// `path` with every `{param}` filled in.
fn concrete(path: &str, org_id: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('}').unwrap() + i;
        let name = &rest[i + 1..end];
        out.push_str(if name == "org_id" { org_id } else { "x1" });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn openapi_document_lists_exactly_the_routes_the_router_serves() {
    let env = TestEnv::new().await;
    let doc = document(&env).await;
    let documented: BTreeMap<String, BTreeSet<String>> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| METHODS.iter().any(|m| m.as_str().eq_ignore_ascii_case(k)))
                .map(|k| k.to_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect();

    let served = router_paths(&env);
    let undocumented: Vec<_> = served
        .iter()
        .filter(|p| !is_console(p) && !documented.contains_key(*p))
        .collect();
    assert!(
        undocumented.is_empty(),
        "served, not documented: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.keys().filter(|p| !served.contains(*p)).collect();
    assert!(unserved.is_empty(), "documented, not served: {unserved:?}");

    // Per path, the methods the router answers (anything but 405: without a key that is a 401
    // before any handler runs, or the public routes' 200) are exactly the documented ones.
    let org_id = env.a.org.org_id.as_str();
    for (path, methods) in &documented {
        let uri = concrete(path, org_id);
        let mut answered = BTreeSet::new();
        for m in METHODS {
            let r = env.call(m.clone(), &uri, None, None).await;
            assert!(
                !r.status.is_server_error(),
                "{m} {uri}: {} {}",
                r.status,
                r.text
            );
            if r.status != StatusCode::METHOD_NOT_ALLOWED {
                answered.insert(m.as_str().to_string());
            }
        }
        assert_eq!(&answered, methods, "methods of {path}");
    }
    let pairs: usize = documented.values().map(BTreeSet::len).sum();
    assert!(pairs >= 40, "only {pairs} operations documented");
}

const VALIDATE: &str = r#"
import json, sys
from openapi_spec_validator import validate
from openapi_spec_validator.versions.shortcuts import get_spec_version
spec = json.load(sys.stdin)
validate(spec)
print(get_spec_version(spec))
"#;

#[tokio::test]
async fn openapi_document_is_valid_openapi_3_1_with_errors_rate_limits_and_bearer_keys() {
    let env = TestEnv::new().await;
    let doc = document(&env).await;
    assert_eq!(doc["openapi"], "3.1.0");

    let mut child = Command::new(support::python())
        .args(["-c", VALIDATE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python with openapi-spec-validator (make tools installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "not a valid OpenAPI document: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("3.1"),
        "validated as {}",
        String::from_utf8_lossy(&out.stdout)
    );

    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["security"][0]["bearer"], Value::Array(vec![]));
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error", "code"]));

    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
            let public = op["security"] == serde_json::json!([{}]);
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
            if public {
                continue;
            }
            for status in ["401", "403", "429"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
            assert!(
                responses["429"]["headers"]["Retry-After"].is_object(),
                "{method} {path}: 429 without Retry-After"
            );
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
            }
        }
    }
    for public in ["/openapi.json", "/v1/audit/integrity/keys"] {
        assert_eq!(
            doc["paths"][public]["get"]["security"],
            serde_json::json!([{}]),
            "{public} is public"
        );
    }
}

/// The answers whose shape is the caller's choice, documented as any object on purpose: an
/// event in the query's `schema` (the stored event verbatim, an `entry` or an OCSF record),
/// passed through as raw JSON; and IAM statements, whose grammar is AWS's.
const FREE_FORM: [&str; 8] = [
    "get_log 200",
    "list_logs 200 .logs[]",
    "identity_trail 200 .logs[]",
    "resource_trail 200 .logs[]",
    "secret_trail 200 .logs[]",
    "stream_setup 200 .bucketPolicy.Statement[]",
    "stream_setup 200 .permissionPolicy.Statement[]",
    "stream_setup 200 .trustPolicy.Statement[]",
];

/// Where in `schema` (followed through `$ref`s, arrays and compositions) an object has no
/// declared fields, as `.field` / `[]` paths from the answer's root.
fn bare_objects(
    doc: &Value,
    schema: &Value,
    at: &str,
    seen: &mut Vec<String>,
    out: &mut Vec<String>,
) {
    if let Some(r) = schema["$ref"].as_str() {
        if seen.iter().any(|s| s == r) {
            return; // a recursive type: its fields are checked where it is first met
        }
        seen.push(r.to_string());
        let name = r.trim_start_matches("#/components/schemas/");
        bare_objects(doc, &doc["components"]["schemas"][name], at, seen, out);
        seen.pop();
        return;
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for s in schema[key].as_array().into_iter().flatten() {
            bare_objects(doc, s, at, seen, out);
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if types.contains(&"array") {
        bare_objects(doc, &schema["items"], &format!("{at}[]"), seen, out);
    }
    if types.contains(&"object") {
        let props = schema["properties"].as_object();
        let typed_map = schema["additionalProperties"]
            .as_object()
            .is_some_and(|a| !a.is_empty());
        if props.is_none_or(|p| p.is_empty()) && !typed_map {
            out.push(at.to_string());
        }
        for (name, s) in props.into_iter().flatten() {
            bare_objects(doc, s, &format!("{at}.{name}"), seen, out);
        }
        if typed_map {
            bare_objects(
                doc,
                &schema["additionalProperties"],
                &format!("{at}.*"),
                seen,
                out,
            );
        }
    }
}

#[tokio::test]
async fn openapi_every_2xx_answer_of_a_keyed_operation_declares_its_fields() {
    let env = TestEnv::new().await;
    let doc = document(&env).await;
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["security"] == serde_json::json!([{}]) {
                continue;
            }
            let id = op["operationId"].as_str().unwrap();
            for (status, response) in op["responses"].as_object().unwrap() {
                if !status.starts_with('2') {
                    continue;
                }
                for (media, content) in response["content"].as_object().into_iter().flatten() {
                    assert!(
                        content["schema"].is_object(),
                        "{method} {path} {status} {media}: no schema"
                    );
                    let mut bare = Vec::new();
                    bare_objects(&doc, &content["schema"], "", &mut Vec::new(), &mut bare);
                    for at in bare {
                        found.insert(format!("{id} {status} {at}").trim_end().to_string());
                    }
                }
            }
        }
    }
    let allowed: BTreeSet<String> = FREE_FORM.iter().map(|s| s.to_string()).collect();
    let unexplained: Vec<_> = found.difference(&allowed).collect();
    assert!(
        unexplained.is_empty(),
        "2xx answers documented as objects without fields: {unexplained:#?}"
    );
    let stale: Vec<_> = allowed.difference(&found).collect();
    assert!(stale.is_empty(), "exceptions no longer needed: {stale:#?}");
}

/// Validates each `[label, schema, body]` against its schema, the document's components beside
/// it (so that `#/components/schemas/…` resolves), with JSON Schema 2020-12 as OpenAPI 3.1 does.
const CONFORMS: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
given = json.load(sys.stdin)
bad = 0
for label, schema, body in given["cases"]:
    root = dict(schema, components=given["components"])
    for e in Draft202012Validator(root).iter_errors(body):
        bad += 1
        print(f"{label}: {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}")
sys.exit(1 if bad else 0)
"#;

/// One request of the conformance test: operation id, method, URI, key, body, expected status.
type Call<'a> = (&'a str, Method, String, &'a str, Option<Value>, u16);

/// The documented schema of `operation_id`'s answer with `status`.
fn answer_schema(doc: &Value, operation_id: &str, status: u16) -> Value {
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if op["operationId"] == operation_id {
                let schema =
                    &op["responses"][status.to_string()]["content"]["application/json"]["schema"];
                assert!(schema.is_object(), "{operation_id} {status}: no schema");
                return schema.clone();
            }
        }
    }
    panic!("no operation {operation_id}");
}

#[tokio::test]
async fn openapi_real_answers_conform_to_their_documented_schemas() {
    // An export-jobs queue and a customer bucket, so that an export runs to its signed manifest.
    let sdk = support::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = format!("oas{}", ulid::Ulid::new().to_string().to_lowercase());
    let queue = ensure_queue_with_dlq(&sqs, &name, EXPORT_QUEUE)
        .await
        .expect("queue");
    let url = queue.queue_url.clone();
    let env = TestEnv::with_config(move |c| c.export_queue_url = Some(url)).await;
    let bucket = format!("oas-{}", ulid::Ulid::new().to_string().to_lowercase());
    support::customer_s3()
        .await
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let doc = document(&env).await;
    let org = env.a.org.org_id.to_string();
    let (owner, writer) = (env.a.owner.as_str(), env.a.writer.as_str());
    let mut failed = support::seed_event();
    failed["event_id"] = "evt_01SCHEMAFAILED".into();
    failed["success"] = false.into();
    let batch = serde_json::json!({"events": [support::seed_event(), failed]});
    let seed_id = support::seed_event()["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    let actor = support::seed_event()["actor"]["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let resource = &support::seed_event()["resource"];
    let (rtype, rid) = (
        resource["type"].as_str().unwrap().to_string(),
        resource["id"].as_str().unwrap().to_string(),
    );
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let (from, to) = (
        fmt(now - time::Duration::days(1)),
        fmt(now + time::Duration::hours(1)),
    );
    let admin = format!("/orgs/{org}/audit-export");
    let calls: Vec<Call> = vec![
        (
            "ingest_events",
            Method::POST,
            "/v1/audit/events".into(),
            writer,
            Some(batch.clone()),
            202,
        ),
        (
            "ingest_events",
            Method::POST,
            "/v1/audit/events".into(),
            writer,
            Some(batch),
            202,
        ),
        ("whoami", Method::GET, "/v1/whoami".into(), owner, None, 200),
        (
            "list_logs",
            Method::GET,
            "/v1/audit/logs?limit=1".into(),
            owner,
            None,
            200,
        ),
        (
            "list_logs",
            Method::GET,
            "/v1/audit/logs?schema=entry".into(),
            owner,
            None,
            200,
        ),
        (
            "list_logs",
            Method::GET,
            "/v1/audit/logs?schema=ocsf".into(),
            owner,
            None,
            200,
        ),
        (
            "get_log",
            Method::GET,
            format!("/v1/audit/logs/{seed_id}"),
            owner,
            None,
            200,
        ),
        (
            "summary",
            Method::GET,
            "/v1/audit/summary".into(),
            owner,
            None,
            200,
        ),
        (
            "identity_trail",
            Method::GET,
            format!("/v1/audit/identities/{actor}?limit=1"),
            owner,
            None,
            200,
        ),
        (
            "resource_trail",
            Method::GET,
            format!("/v1/audit/resources/{rtype}/{rid}"),
            owner,
            None,
            200,
        ),
        (
            "secret_trail",
            Method::GET,
            format!("/v1/audit/secrets/{rid}"),
            owner,
            None,
            200,
        ),
        (
            "list_actions",
            Method::GET,
            "/v1/audit/actions".into(),
            owner,
            None,
            200,
        ),
        (
            "integrity_counts",
            Method::GET,
            format!("/v1/audit/integrity/counts?from={from}&to={to}"),
            owner,
            None,
            200,
        ),
        (
            "integrity_keys",
            Method::GET,
            "/v1/audit/integrity/keys".into(),
            owner,
            None,
            200,
        ),
        (
            "put_credential",
            Method::POST,
            format!("{admin}/credentials"),
            owner,
            Some(
                serde_json::json!({"name": "c1", "type": "s3_access_key", "accessKeyId": "AKIAX", "secretAccessKey": "s"}),
            ),
            201,
        ),
        (
            "list_credentials",
            Method::GET,
            format!("{admin}/credentials"),
            owner,
            None,
            200,
        ),
        (
            "stream_setup",
            Method::GET,
            format!("{admin}/setup"),
            owner,
            None,
            200,
        ),
        (
            "create_export",
            Method::POST,
            "/v1/audit/export".into(),
            owner,
            Some(
                serde_json::json!({"from": from, "to": to, "format": "jsonl", "filters": {"action": ["document.opened"], "success": true}, "destination": {"type": "s3", "bucket": bucket, "region": "us-east-1", "roleArn": "arn:aws:iam::123456789012:role/R"}}),
            ),
            202,
        ),
        (
            "list_exports",
            Method::GET,
            "/v1/audit/exports".into(),
            owner,
            None,
            200,
        ),
        (
            "list_stream_runs",
            Method::GET,
            format!("{admin}/runs"),
            owner,
            None,
            200,
        ),
        (
            "destination_health",
            Method::GET,
            format!("{admin}/health"),
            owner,
            None,
            200,
        ),
    ];
    let mut cases = Vec::new();
    let mut export_id = None;
    for (op, method, uri, token, body, status) in calls {
        let r = env.call(method, &uri, Some(token), body.as_ref()).await;
        assert_eq!(r.status.as_u16(), status, "{op} {uri}: {}", r.text);
        if op == "create_export" {
            export_id = r.body["export_id"].as_str().map(str::to_string);
        }
        cases.push(serde_json::json!([
            format!("{op} {uri}"),
            answer_schema(&doc, op, status),
            r.body
        ]));
    }
    let id = export_id.expect("an export id");
    // Queued: no manifest seal yet (its fields are absent, not null).
    let r = env
        .call(
            Method::GET,
            &format!("/v1/audit/exports/{id}"),
            Some(owner),
            None,
        )
        .await;
    assert_eq!(r.body["status"], "queued", "{}", r.text);
    cases.push(serde_json::json!([
        "get_export (queued)",
        answer_schema(&doc, "get_export", 200),
        r.body
    ]));
    let runner = ExportRunner::new(
        env.store.clone(),
        Clients::new(&sdk),
        support::buckets(&env.config, &sdk),
        relay_app::pipeline::pause::Notifier::new(aws_sdk_sns::Client::new(&sdk), None),
        Some(queue.queue_url.clone()),
        ExportSettings {
            retry_delay: std::time::Duration::ZERO,
            ..ExportSettings::default()
        },
    )
    .with_signer(relay_app::integrity::signer::Signer::new(
        aws_sdk_kms::Client::new(&sdk),
        Some(support::signing_key(&sdk).await),
        env.store.clone(),
    ));
    let poller = ExportPoller::new(
        sqs,
        queue.queue_url,
        runner,
        std::time::Duration::from_secs(600),
    );
    while poller.poll_once().await.expect("poll") {}
    let r = env
        .call(
            Method::GET,
            &format!("/v1/audit/exports/{id}"),
            Some(owner),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["filters"]["success"], true, "filters as given");
    assert_eq!(r.body["status"], "completed", "{}", r.text);
    assert!(r.body["manifest_signature"].is_string(), "{}", r.text);
    cases.push(serde_json::json!([
        "get_export",
        answer_schema(&doc, "get_export", 200),
        r.body
    ]));

    let mut child = Command::new(support::python())
        .args(["-c", CONFORMS])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python with jsonschema (make tools installs it)");
    let input = serde_json::json!({"components": doc["components"], "cases": cases});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "answers outside their schemas:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

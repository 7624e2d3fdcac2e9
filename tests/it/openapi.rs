//! The published API contract, `GET /openapi.json`: it lists exactly the (method, path) pairs the
//! router serves (the console's files aside), and it is a valid OpenAPI 3.1 document
//! (openapi-spec-validator from `requirements-dev.txt`). `scripts/fuzz-api.sh` (in `make test`)
//! then fuzzes the running stack against it with schemathesis.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};

use http::{Method, StatusCode};
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
    std::fs::write("/tmp/schemas-openapi.json", doc.to_string()).unwrap();
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

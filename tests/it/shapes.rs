//! The OCSF shape checked by someone else's validator: a varied sample of events (every class
//! and activity the mapping emits, with and without the optional fields, every actor type)
//! goes through ingest validation and `ocsf::record`, and every record is validated offline
//! against the OCSF schema's JSON Schema for its class (`ocsf-json-schema`, which carries the
//! schema, with `jsonschema` from the tools venv). A broken record must fail, so a validator
//! that accepts anything cannot pass the test.

use std::collections::BTreeSet;

use relay_core::model::event::{parse_event, validate, IngestContext};
use relay_core::shapes::ocsf::{self, ClassOverride, OCSF_VERSION};
use relay_core::shapes::ShapeContext;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const TENANT: &str = "ten_shapes";

/// Actions that between them reach every class and activity the rules produce.
const ACTIONS: &[&str] = &[
    "user_login",
    "user.logged_in",
    "invalid_login",
    "user.login_failed",
    "user_logout",
    "user.logged_out",
    "user_created",
    "user.reactivated",
    "password_change",
    "user.password_reset",
    "user.disabled",
    "user.deleted",
    "user_role_added",
    "user_role_removed",
    "user_locked",
    "user.mfa_enabled",
    "user.mfa_disabled",
    "user.updated",
    "role.created",
    "document.created",
    "new_api_key",
    "document.opened",
    "portal_page_view",
    "document.updated",
    "folder.renamed",
    "document.deleted",
    "deleted_api_key",
    "app_deployed",
];

/// Four ways to fill an event around an action: everything, the bare minimum, unusual values
/// (IPv6, an e-mail OCSF refuses, a user as the resource, a failure), and a machine actor.
fn variant(action: &str, i: usize, n: usize) -> Value {
    let actor_types = [
        "user",
        "api_key",
        "oauth_client",
        "service_account",
        "system",
        "group",
    ];
    let actor_type = actor_types[(i + n) % actor_types.len()];
    let id = format!("evt_shape_{i:03}_{n}");
    match n {
        0 => json!({
            "event_id": id, "timestamp": "2026-05-22T10:30:00.123Z", "action": action,
            "actor": {"user_id": "usr_1", "email": "jane@example.com", "ip_address": "203.0.113.42",
                      "type": "user", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"},
            "resource": {"type": "document", "id": "doc_1", "name": "Contract_v2.docx"},
            "project": "billing", "success": true, "request_id": "req_1", "duration_ms": 42,
            "metadata": {"app_id": "app_1", "nested": {"a": [1, 2, {"b": null}]}, "flag": true}
        }),
        1 => json!({"event_id": id, "action": action, "actor": {"user_id": "usr_2"}}),
        2 => json!({
            "event_id": id, "timestamp": "2026-05-22T12:30:00+02:00", "action": action,
            "actor": {"user_id": "usr_3", "email": "ops@localhost", "ip_address": "2001:db8::7",
                      "type": actor_type},
            "resource": {"type": "user", "id": "usr_target", "name": "Bob"},
            "success": false, "duration_ms": 0, "metadata": {}
        }),
        _ => json!({
            "event_id": id, "timestamp": "2026-01-01T00:00:00Z", "action": action,
            "actor": {"user_id": "sa:reporting", "type": actor_type, "user_agent": "scaivault-python/1.0"},
            "resource": {"type": "secret", "id": "integrations/salesforce/oauth"},
            "request_id": "req_xyz"
        }),
    }
}

/// The sample's records, each as validated-then-mapped, in order.
fn sample() -> Vec<Value> {
    let now = OffsetDateTime::parse("2026-05-22T10:31:00.5Z", &Rfc3339).unwrap();
    let ingest = IngestContext {
        tenant_id: TENANT,
        now,
    };
    let ctx = ShapeContext::new(TENANT);
    let overrides = vec![
        ClassOverride {
            pattern: "document.open*".into(),
            class_uid: 3001,
            activity_id: ocsf::ACTIVITY_OTHER,
        },
        ClassOverride {
            pattern: "sso.*".into(),
            class_uid: 3002,
            activity_id: 1,
        },
    ];
    let overridden = ShapeContext::new(TENANT).with_class_overrides(overrides);
    let mut out = Vec::new();
    for (i, action) in ACTIONS.iter().enumerate() {
        for n in 0..4 {
            let ev = parse_event(variant(action, i, n), "").unwrap();
            let valid = validate(ev, &ingest, "").unwrap();
            out.push(ocsf::record(&valid.event, None, &ctx));
            if n == 0 {
                out.push(ocsf::record(&valid.event, None, &overridden));
            }
        }
    }
    let sso = parse_event(
        json!({"action": "sso.assertion_received", "actor": {"user_id": "u"}}),
        "",
    )
    .unwrap();
    let sso = validate(sso, &ingest, "").unwrap();
    out.push(ocsf::record(&sso.event, None, &overridden));
    out
}

/// Validates every line of `path` (JSONL) and prints `{"checked": n, "classes": {...},
/// "failures": [{"line": i, "errors": [...]}]}`.
const VALIDATE: &str = r#"
import json, sys
from ocsf_json_schema import get_ocsf_schema, OcsfJsonSchemaEmbedded
from jsonschema import Draft202012Validator
path, version = sys.argv[1], sys.argv[2]
schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
validators, classes, failures, checked = {}, {}, [], 0
with open(path, encoding="utf-8") as fh:
    for i, line in enumerate(fh):
        rec = json.loads(line)
        uid = rec.get("class_uid")
        if uid not in validators:
            name = schema.lookup_class_name_from_uid(class_uid=uid)
            js = schema.get_class_schema(class_name=name, profiles=[])
            Draft202012Validator.check_schema(js)
            validators[uid] = Draft202012Validator(js)
        errs = sorted(validators[uid].iter_errors(rec), key=lambda e: list(e.absolute_path))
        checked += 1
        classes[str(uid)] = classes.get(str(uid), 0) + 1
        if errs:
            failures.append({"line": i, "event": rec.get("metadata", {}).get("uid"),
                             "errors": ["/".join(map(str, e.absolute_path)) + ": " + e.message for e in errs]})
print(json.dumps({"checked": checked, "classes": classes, "failures": failures}))
"#;

fn run_validator(records: &[Value], name: &str) -> Value {
    let dir = std::env::temp_dir().join(format!("ocsf-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.jsonl"));
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).unwrap());
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(support::python())
        .args(["-c", VALIDATE, path.to_str().unwrap(), OCSF_VERSION])
        .output()
        .expect("python with ocsf-json-schema and jsonschema (make tools installs them)");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "the validator did not run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_ocsf_record_of_a_varied_sample_passes_the_ocsf_schema() {
    let records = sample();
    let seen: BTreeSet<(u64, u64)> = records
        .iter()
        .map(|r| {
            (
                r["class_uid"].as_u64().unwrap(),
                r["activity_id"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: BTreeSet<(u64, u64)> = [
        (3002, 1),
        (3002, 2),
        (3001, 1),
        (3001, 2),
        (3001, 3),
        (3001, 4),
        (3001, 5),
        (3001, 6),
        (3001, 7),
        (3001, 8),
        (3001, 9),
        (3001, 10),
        (3001, 11),
        (3001, 99),
        (6003, 1),
        (6003, 2),
        (6003, 3),
        (6003, 4),
        (6003, 99),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        seen, expected,
        "the sample reaches every class and activity"
    );
    for status in [0, 1, 2] {
        assert!(records.iter().any(|r| r["status_id"] == status), "{status}");
    }

    let report = run_validator(&records, "sample");
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures.is_empty(),
        "the OCSF {OCSF_VERSION} schema refuses {} of {} records: {}",
        failures.len(),
        records.len(),
        serde_json::to_string_pretty(failures).unwrap()
    );
    assert_eq!(report["checked"], records.len(), "100% of the records");
    for class in ["3001", "3002", "6003"] {
        assert!(report["classes"][class].as_u64().unwrap() > 0, "{class}");
    }
}

#[test]
fn the_validator_refuses_broken_records() {
    let records = sample();
    let api = records.iter().find(|r| r["class_uid"] == 6003).unwrap();
    let auth = records.iter().find(|r| r["class_uid"] == 3002).unwrap();
    let mut no_api = api.clone();
    no_api.as_object_mut().unwrap().remove("api");
    let mut bad_type = auth.clone();
    bad_type["type_uid"] = json!(300299_u64 + 1);
    let mut extra = api.clone();
    extra["not_an_ocsf_attribute"] = json!(1);
    let mut no_service = auth.clone();
    no_service.as_object_mut().unwrap().remove("service");
    let broken = [no_api, bad_type, extra, no_service];
    let report = run_validator(&broken, "broken");
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), broken.len(), "{report}");
}

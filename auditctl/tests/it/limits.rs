//! `auditctl org limits`: the operator's per-org overrides of the rate limits, over the
//! defaults the environment sets, and `auditctl serve` applying them.

use crate::ctl::{http, Ctl};

#[test]
fn org_limits_are_set_merged_applied_and_cleared() {
    let ctl = Ctl::new("limits").with_env("AUDITRELAY_RATE_LIMIT_OUTBOUND_PER_KEY", "50");
    ctl.json(&["provision"]);
    let org = ctl.org_with_keys("Limited Org");
    let id = org.org_id.as_str();

    let shown = ctl.json(&["org", "limits", "show", id]);
    assert_eq!(shown["overrides"], serde_json::json!({}));
    assert_eq!(shown["limits"]["outbound"]["per_key"], 50, "{shown}");
    assert_eq!(shown["limits"]["window_secs"], 60);

    ctl.json(&["org", "limits", "set", id, "--read-per-key", "2"]);
    let shown = ctl.json(&[
        "org",
        "limits",
        "set",
        id,
        "--replay-messages-per-hour",
        "1000",
    ]);
    assert_eq!(
        shown["overrides"],
        serde_json::json!({"read_per_key": 2, "replay_messages_per_hour": 1000}),
        "a set keeps what it does not name"
    );
    assert_eq!(shown["limits"]["read"]["per_key"], 2);
    assert_eq!(shown["limits"]["outbound"]["per_key"], 50);

    let bad = ctl.run(&["org", "limits", "set", id, "--read-per-org", "0"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--read-per-org"));
    let bad = ctl.run(&["org", "limits", "show", "org_missing"]);
    assert!(!bad.status.success());

    let server = ctl.serve(&["--flush-interval", "0"]);
    let mut statuses = vec![];
    for _ in 0..6 {
        let (status, body) = http(&server.addr, "GET", "/v1/whoami", &org.owner, "");
        statuses.push(status);
        if status == 429 {
            assert!(body.contains("\"code\":\"rate_limited\""), "{body}");
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses.len() <= 5, "{statuses:?}");
    // The service key has its own budget.
    let (status, body) = http(&server.addr, "GET", "/v1/whoami", &org.writer, "");
    assert_eq!(status, 200, "{body}");

    let cleared = ctl.json(&["org", "limits", "clear", id]);
    assert_eq!(cleared["overrides"], serde_json::json!({}));
    assert_eq!(cleared["limits"]["read"]["per_key"], 6000);
}

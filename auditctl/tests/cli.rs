//! `auditctl` as an operator runs it, against moto (`make test` sets `AWS_ENDPOINT_URL`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Ctl {
    prefix: String,
}

impl Ctl {
    fn new() -> Ctl {
        assert!(
            std::env::var_os("AWS_ENDPOINT_URL").is_some(),
            "run through `make test` (it starts moto)"
        );
        Ctl {
            prefix: format!("cli{}", std::process::id()),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_auditctl"));
        c.env("AUDITRELAY_EVENTS_TABLE", format!("{}-events", self.prefix))
            .env("AUDITRELAY_CONFIG_TABLE", format!("{}-config", self.prefix))
            .env("RUST_LOG", "warn");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("auditctl runs")
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "auditctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON on stdout")
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http(addr: &str, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let status = resp[9..12].parse().expect("status");
    let body = resp
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

#[test]
fn provision_org_key_and_serve() {
    let ctl = Ctl::new();
    let first = ctl.json(&["provision"]);
    assert_eq!(first["created"].as_array().unwrap().len(), 2);
    let again = ctl.json(&["provision"]);
    assert_eq!(again["created"].as_array().unwrap().len(), 0, "idempotent");

    let org = ctl.json(&["org", "create", "--name", "CLI Org"]);
    let org_id = org["org_id"].as_str().unwrap();
    assert!(org_id.starts_with("org_"));
    assert_eq!(org["tenant_id"], org_id);
    assert_eq!(org["retention_days"], 365);

    let owner = ctl.json(&["key", "create", "--org", org_id, "--role", "owner"]);
    let writer = ctl.json(&[
        "key",
        "create",
        "--org",
        org_id,
        "--role",
        "service",
        "--scope",
        "audit:write",
    ]);
    let owner_token = owner["token"].as_str().unwrap();
    let writer_token = writer["token"].as_str().unwrap();
    assert!(owner_token.starts_with("ar_"));
    assert_eq!(writer["scopes"], serde_json::json!(["audit:write"]));

    let listed = ctl.json(&["key", "list", "--org", org_id]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        !listed.to_string().contains(owner_token),
        "tokens are never shown again"
    );

    let bad = ctl.run(&["key", "create", "--org", org_id, "--role", "emperor"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--role"));
    let bad = ctl.run(&["key", "create", "--org", "org_missing", "--role", "owner"]);
    assert!(!bad.status.success());

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _server = Server(
        ctl.cmd()
            .args(["serve", "--addr", &addr])
            .spawn()
            .expect("serve"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, body) = http(
        &addr,
        "POST",
        "/v1/audit/events",
        writer_token,
        r#"{"action":"user.login","actor":{"user_id":"usr_1"}}"#,
    );
    assert_eq!(status, 202, "{body}");
    let (status, body) = http(&addr, "GET", "/v1/audit/logs", owner_token, "");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["logs"][0]["action"], "user.login");

    let key_id = owner["key_id"].as_str().unwrap();
    ctl.json(&["key", "revoke", "--org", org_id, key_id]);
    let (status, _) = http(&addr, "GET", "/v1/audit/logs", owner_token, "");
    assert_eq!(status, 401);
}

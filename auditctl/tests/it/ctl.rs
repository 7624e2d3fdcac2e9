//! What the `auditctl` tests share: running it against tables of its own in moto (`make test`
//! sets `AWS_ENDPOINT_URL`), `serve` on a free port, and a bare HTTP/1.1 client.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `auditctl` with its tables named `{prefix}-events` and `{prefix}-config`.
pub struct Ctl {
    prefix: String,
    env: Vec<(String, String)>,
}

impl Ctl {
    /// Tables of this test process: `{name}{pid}-…`.
    pub fn new(name: &str) -> Ctl {
        assert!(
            std::env::var_os("AWS_ENDPOINT_URL").is_some(),
            "run through `make test` (it starts moto)"
        );
        Ctl {
            prefix: format!("{name}{}", std::process::id()),
            env: vec![],
        }
    }

    /// Sets an environment variable for every run.
    pub fn with_env(mut self, key: &str, value: &str) -> Ctl {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The table name prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The command, not started.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_auditctl"));
        c.env("AUDITRELAY_EVENTS_TABLE", format!("{}-events", self.prefix))
            .env("AUDITRELAY_CONFIG_TABLE", format!("{}-config", self.prefix))
            .env("RUST_LOG", "warn");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs `args` to the end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("auditctl runs")
    }

    /// Runs `args`, which must succeed; its stdout as JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "auditctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON on stdout")
    }

    /// Creates an org named `name` with an owner key and a service key.
    pub fn org_with_keys(&self, name: &str) -> CliOrg {
        let org = self.json(&["org", "create", "--name", name]);
        let org_id = org["org_id"].as_str().expect("org_id").to_string();
        let token = |role: &str| {
            let key = self.json(&["key", "create", "--org", &org_id, "--role", role]);
            key["token"].as_str().expect("token").to_string()
        };
        CliOrg {
            owner: token("owner"),
            writer: token("service"),
            org_id,
        }
    }

    /// Starts `auditctl serve` on a free loopback port (with `args` added) and waits until it
    /// accepts connections.
    pub fn serve(&self, args: &[&str]) -> Serving {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = self
            .cmd()
            .args(["serve", "--addr", &addr])
            .args(args)
            .spawn()
            .expect("serve");
        let serving = Serving {
            addr,
            _child: Killed(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&serving.addr).is_err() {
            assert!(Instant::now() < deadline, "serve did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        serving
    }
}

/// An org made through the CLI (`auditctl org create`), and two of its keys' tokens.
pub struct CliOrg {
    /// Its id.
    pub org_id: String,
    /// An owner key.
    pub owner: String,
    /// A service key (ingests).
    pub writer: String,
}

/// A running `auditctl serve`, stopped when dropped.
pub struct Serving {
    /// `127.0.0.1:{port}`.
    pub addr: String,
    _child: Killed,
}

/// A child process killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 request with a bearer token; the status and the body.
pub fn http(addr: &str, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    // A bound for a hung server, not a latency bar: a 500-event ingest on a moto shared with
    // the other test lane can take well over 10 s.
    s.set_read_timeout(Some(Duration::from_secs(120))).ok();
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

/// The customer's bucket as the tests see it, with boto3 on moto: `create`, `count` (JSONL
/// lines of every object, gzip decoded), `list` (the keys, as JSON) and `delete KEY`.
const S3_PY: &str = r#"
import boto3, gzip, json, os, sys
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
op, bucket = sys.argv[1], sys.argv[2]
def keys():
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out
if op == "create":
    s3.create_bucket(Bucket=bucket)
elif op == "delete":
    s3.delete_object(Bucket=bucket, Key=sys.argv[3])
elif op == "list":
    print(json.dumps(keys()))
else:
    lines = 0
    for key in keys():
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if key.endswith(".gz"):
            body = gzip.decompress(body)
        lines += body.decode().count("\n")
    print(lines)
"#;

/// Runs one [`S3_PY`] operation (`args`: the operation, the bucket, its argument); its output.
pub fn s3(args: &[&str]) -> String {
    let out = Command::new(support::python())
        .args(["-c", S3_PY])
        .args(args)
        .output()
        .expect("python with boto3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("text")
        .trim()
        .to_string()
}

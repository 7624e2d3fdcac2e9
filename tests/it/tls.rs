//! The functions' one HTTPS client (hyper 1 + rustls on ring, built in
//! `relay_app::clients::load_aws_config`) against a real TLS server on loopback: it completes a
//! handshake with a certificate chained to a CA the system trust store holds (here
//! `SSL_CERT_FILE`, which the native root loader reads), and refuses a certificate from
//! another CA or for another name.
//! Everything else reaches moto over plain HTTP, so without this test a broken TLS setup
//! would only show in AWS.
//!
//! The checks run in a fresh copy of the test binary, because the trust store is read once per
//! process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A CA, a leaf for `localhost` signed by it, and an HTTPS server answering every request as
/// DynamoDB's `ListTables` would. Prints the port, then serves.
const SERVER: &str = r#"
import datetime, http.server, json, ssl, sys, tempfile, os
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

out = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
ca_key = ec.generate_private_key(ec.SECP256R1())
ca_name = name(f"auditrelay test CA {os.getpid()}")
ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
      .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
      .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                   key_encipherment=False, data_encipherment=False, key_agreement=False,
                                   encipher_only=False, decipher_only=False), critical=True)
      .sign(ca_key, hashes.SHA256()))
key = ec.generate_private_key(ec.SECP256R1())
leaf = (x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256()))
pem = serialization.Encoding.PEM
with open(os.path.join(out, "ca.pem"), "wb") as f:
    f.write(ca.public_bytes(pem))
with open(os.path.join(out, "leaf.pem"), "wb") as f:
    f.write(leaf.public_bytes(pem))
    f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps({"TableNames": ["tls-ok"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("x-amzn-RequestId", "tls-test")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(out, "leaf.pem"))
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

struct Server {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_server() -> Server {
    let dir = std::env::temp_dir().join(format!("auditrelay-tls-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut child = Command::new(support::python())
        .arg("-c")
        .arg(SERVER)
        .arg(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the TLS server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the port");
    let port = line.trim().parse().expect("a port");
    Server { child, port, dir }
}

async fn list_tables(endpoint: &str) -> Result<Vec<String>, String> {
    let sdk = relay_app::clients::load_aws_config().await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "AKIDTEST", "secret", None, None, "tls-test",
        ))
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
        .list_tables()
        .send()
        .await
        .map(|out| out.table_names().to_vec())
        .map_err(|e| format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
}

/// The client reads its trusted roots once per process (as a function does per cold start),
/// and other tests in this binary build clients first; so the check runs in a fresh copy of
/// this test binary, with `SSL_CERT_FILE` set before anything reads it.
#[test]
fn the_functions_https_client_verifies_the_server_certificate() {
    // Each server makes its own CA; only the first one's is trusted.
    let trusted = start_server();
    let stranger = start_server();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tls::checks_in_a_fresh_process",
            "--ignored",
            "--nocapture",
        ])
        .env("SSL_CERT_FILE", trusted.dir.join("ca.pem"))
        .env("TLS_TRUSTED_PORT", trusted.port.to_string())
        .env("TLS_STRANGER_PORT", stranger.port.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
#[ignore = "run by the_functions_https_client_verifies_the_server_certificate in a fresh process"]
async fn checks_in_a_fresh_process() {
    let port = |name: &str| -> u16 { std::env::var(name).unwrap().parse().unwrap() };
    let (trusted, stranger) = (port("TLS_TRUSTED_PORT"), port("TLS_STRANGER_PORT"));

    let tables = list_tables(&format!("https://localhost:{trusted}"))
        .await
        .expect("TLS to a trusted server");
    assert_eq!(tables, vec!["tls-ok".to_string()]);

    let unknown = list_tables(&format!("https://localhost:{stranger}")).await;
    let err = unknown.expect_err("a certificate from an unknown CA was accepted");
    assert!(err.contains("UnknownIssuer"), "{err}");

    let wrong_name = list_tables(&format!("https://127.0.0.1:{trusted}")).await;
    let err = wrong_name.expect_err("a certificate for another name was accepted");
    assert!(err.contains("NotValidForName"), "{err}");
}

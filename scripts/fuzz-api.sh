#!/usr/bin/env bash
# Fuzzes the HTTP API against its own OpenAPI document (GET /openapi.json) with schemathesis:
# `auditctl serve` on the emulators of scripts/with-moto.sh (run it under that script), one
# seeded org with an owner and a service key and one of each resource a path names (a webhook
# endpoint and an OTLP export to real receivers on loopback, a credential, an event, an export
# job), every documented operation in positive and negative cases, then stateful sequences along
# the document's links.
# The bar: no 5xx, every answer documented, in its schema (the errors in `{"error","code"}`).
#
#   scripts/with-moto.sh scripts/fuzz-api.sh
#
# FUZZ_EXAMPLES bounds the cases per operation (default 20), FUZZ_SEED fixes the random seed.
# schemathesis' reports (JUnit, NDJSON) go to $CARGO_TARGET_DIR/fuzz-api/; the server's log and
# the config go to a temp dir, removed on exit unless the run fails.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="${VENV:-$here/.venv}"
py="$venv/bin/python"
schemathesis="${SCHEMATHESIS:-$venv/bin/schemathesis}"
target="${CARGO_TARGET_DIR:-$here/target}"
: "${AWS_ENDPOINT_URL:?run under scripts/with-moto.sh}"

tmp=$(mktemp -d -t auditrelay-fuzz.XXXXXX)
serve_pid=
pids=()
cleanup() {
  status=$?
  for pid in $serve_pid "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$status" -eq 0 ]; then
    rm -rf "$tmp"
  else
    echo "fuzz-api: failed; server log and reports in $tmp" >&2
  fi
}
trap cleanup EXIT

(cd "$here" && cargo build -q -p auditctl)
auditctl="$target/debug/auditctl"
export RUST_LOG="${RUST_LOG:-warn}"
export AUDITRELAY_EVENTS_TABLE="fuzz-events" AUDITRELAY_CONFIG_TABLE="fuzz-config"
# The fuzzer is to reach every handler, not the rate limits (tests/it/limits.rs proves those):
# thousands of requests a minute would spend the outbound and replay budgets in seconds.
export AUDITRELAY_RATE_LIMIT_OUTBOUND_PER_KEY=1000000 AUDITRELAY_RATE_LIMIT_OUTBOUND_PER_ORG=1000000
export AUDITRELAY_REPLAY_MESSAGES_PER_HOUR=100000000

"$auditctl" provision >/dev/null
org_id=$("$auditctl" org create --name "Fuzz Org" --tenant-id ten_01FUZZ |
  "$py" -c 'import json,sys; print(json.load(sys.stdin)["org_id"])')
token_of() { "$py" -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
owner=$("$auditctl" key create --org "$org_id" --role owner --name fuzz-owner | token_of)
writer=$("$auditctl" key create --org "$org_id" --role service --name fuzz-backend | token_of)

free_port() {
  "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
hook_port=$(free_port)
otlp_port=$(free_port)
base="http://127.0.0.1:$port"
# Real receivers on loopback for the seeded webhook endpoint and OTLP export, which is why
# private destinations are allowed here (as in `make dev`): no request leaves the machine for
# them. A fuzzed public URL is refused at creation unless its name resolves.
: >"$tmp/webhook-secret"
"$py" "$here/scripts/webhook-receiver.py" "$hook_port" "$tmp/webhook-secret" >"$tmp/webhook.log" 2>&1 &
pids+=($!)
"$py" "$here/scripts/otlp-receiver.py" --port "$otlp_port" >"$tmp/otlp.log" 2>&1 &
pids+=($!)
AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS=1 "$auditctl" serve --addr "127.0.0.1:$port" >"$tmp/serve.log" 2>&1 &
serve_pid=$!

# One of each resource the path parameters name, so that the operations on them get past 404.
seeded=$("$py" - "$base" "$org_id" "$owner" "$writer" "$hook_port" "$otlp_port" <<'PY'
import datetime, json, sys, time, urllib.error, urllib.request
base, org, owner, writer, hook_port, otlp_port = sys.argv[1:]
def call(method, path, token, body):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        sys.exit(f"seeding: {method} {path}: {e.code} {e.read().decode()}")
for _ in range(300):
    try:
        urllib.request.urlopen(base + "/openapi.json", timeout=1)
        break
    except Exception:
        time.sleep(0.1)
admin = f"/orgs/{org}/audit-export"
hook = call("POST", f"{admin}/webhooks", owner, {"url": f"http://127.0.0.1:{hook_port}/hook"})
call("POST", f"{admin}/otel", owner, {"endpointUrl": f"http://127.0.0.1:{otlp_port}"})
call("POST", f"{admin}/credentials", owner,
     {"name": "fuzz-cred", "type": "s3_access_key", "accessKeyId": "AKIAFUZZ", "secretAccessKey": "fuzz"})
call("POST", "/v1/audit/events", writer, {"event_id": "evt_01FUZZSEED", "action": "document.opened",
     "actor": {"user_id": "usr_01FUZZ"}, "resource": {"type": "document", "id": "doc_01FUZZ"}})
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
iso = lambda t: t.isoformat().replace("+00:00", "Z")
import boto3  # the customer's bucket, in moto
boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="fuzz-exports")
job = call("POST", "/v1/audit/export", owner,
           {"from": iso(now - datetime.timedelta(days=1)), "to": iso(now), "format": "jsonl",
            "destination": {"type": "s3", "bucket": "fuzz-exports", "region": "us-east-1",
                            "roleArn": "arn:aws:iam::123456789012:role/AuditRelayExport"}})
print(hook["id"], job["export_id"])
PY
)
read -r hook_id export_id <<<"$seeded"

cat >"$tmp/schemathesis.toml" <<TOML
# The owner key for everything (it holds audit:read and audit:export), the service key for
# ingest (audit:write); every operation's org is the seeded one (a random org id is a 404
# before anything else runs).
[auth.openapi.bearer]
bearer = "$owner"

[parameters]
"path.org_id" = "$org_id"
"path.id" = "$hook_id"
"path.name" = "fuzz-cred"
"path.export_id" = "$export_id"
"path.event_id" = "evt_01FUZZSEED"
"path.identity_id" = "usr_01FUZZ"
"path.resource_type" = "document"
"path.resource_id" = "doc_01FUZZ"

[[operations]]
include-operation-id = "ingest_events"
headers = { Authorization = "Bearer $writer" }
TOML
reports="$target/fuzz-api"
rm -rf "$reports"

cd "$tmp"
status=0
"$schemathesis" --config-file "$tmp/schemathesis.toml" run "$base/openapi.json" \
  --wait-for-schema 60 \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,unsupported_method,ignored_auth,use_after_free,ensure_resource_availability \
  --phases examples,coverage,fuzzing,stateful \
  --mode all \
  --max-examples "${FUZZ_EXAMPLES:-20}" \
  ${FUZZ_SEED:+--seed "$FUZZ_SEED"} \
  --workers 2 \
  --request-timeout 20 \
  --generation-database none \
  --report junit,vcr --report-dir "$reports" \
  --no-color || status=$?

# The numbers: requests sent, by status class, and the checks run on them, from the cassette.
"$(dirname "$schemathesis")/python" - "$reports"/vcr-*.yaml <<'PY'
import collections, sys, yaml
run = yaml.safe_load(open(sys.argv[1]))["http_interactions"]
codes = collections.Counter(f"{int(i['response']['status']['code']) // 100}xx" for i in run if i.get("response"))
checks = collections.Counter((c["name"], c["status"]) for i in run for c in i.get("checks") or [])
print(f"fuzz-api: {len(run)} requests ({', '.join(f'{k}: {v}' for k, v in sorted(codes.items()))})")
for name in sorted({n for n, _ in checks}):
    by = {st: n for (c, st), n in checks.items() if c == name}
    print(f"  {name}: " + ", ".join(f"{st.lower()} {n}" for st, n in sorted(by.items())))
PY
exit "$status"

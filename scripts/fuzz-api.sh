#!/usr/bin/env bash
# Fuzzes the HTTP API against its own OpenAPI document (GET /openapi.json) with schemathesis:
# `auditctl serve` on the emulators of scripts/with-moto.sh (run it under that script), one
# seeded org with an owner key (every operation's path `org_id` is that org's), every documented
# operation in positive and negative cases, then stateful sequences along the document's links.
# The bar: no 5xx, every answer documented, in its schema (the errors in `{"error","code"}`).
#
#   scripts/with-moto.sh scripts/fuzz-api.sh
#
# FUZZ_EXAMPLES bounds the cases per operation (default 25), FUZZ_SEED fixes the random seed.
# Everything it writes (the server's log, schemathesis' reports) goes to a temp dir, removed on
# exit unless the run fails.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="${VENV:-$here/.venv}"
py="$venv/bin/python"
schemathesis="${SCHEMATHESIS:-$venv/bin/schemathesis}"
target="${CARGO_TARGET_DIR:-$here/target}"
: "${AWS_ENDPOINT_URL:?run under scripts/with-moto.sh}"

tmp=$(mktemp -d -t auditrelay-fuzz.XXXXXX)
serve_pid=
cleanup() {
  status=$?
  if [ -n "$serve_pid" ]; then
    kill "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
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

"$auditctl" provision >/dev/null
org_id=$("$auditctl" org create --name "Fuzz Org" --tenant-id ten_01FUZZ |
  "$py" -c 'import json,sys; print(json.load(sys.stdin)["org_id"])')
owner=$("$auditctl" key create --org "$org_id" --role owner --name fuzz-owner |
  "$py" -c 'import json,sys; print(json.load(sys.stdin)["token"])')

port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$auditctl" serve --addr "127.0.0.1:$port" >"$tmp/serve.log" 2>&1 &
serve_pid=$!

cat >"$tmp/schemathesis.toml" <<TOML
# Every operation's org is the seeded one (a random org id is a 404 before anything else runs).
[parameters]
"path.org_id" = "$org_id"
TOML

cd "$tmp"
"$schemathesis" --config-file "$tmp/schemathesis.toml" run "$base/openapi.json" \
  --wait-for-schema 60 \
  --header "Authorization: Bearer $owner" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing,stateful \
  --mode all \
  --max-examples "${FUZZ_EXAMPLES:-25}" \
  ${FUZZ_SEED:+--seed "$FUZZ_SEED"} \
  --workers 2 \
  --request-timeout 20 \
  --generation-database none \
  --report junit,ndjson --report-dir "$tmp/report" \
  --no-color

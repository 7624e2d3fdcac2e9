#!/usr/bin/env bash
# `make dev`: moto on 127.0.0.1:${MOTO_PORT:-4566}, tables, queues and topic provisioned, a demo
# org with keys, a demo webhook receiver on 127.0.0.1:${RECEIVER_PORT:-3001} registered as the
# org's endpoint, and `auditctl serve` on ${AUDITRELAY_ADDR:-127.0.0.1:3000} (API + fanout +
# webhook deliveries). Also the object-store destinations' emulators: an S3-compatible store (a
# second moto) on ${S3COMPAT_PORT:-9000}, Azurite on ${AZURITE_PORT:-10000} and the GCS emulator on
# ${GCS_PORT:-9023}, all on 127.0.0.1 and in memory. Ctrl-C stops all.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
venv="$here/.venv"
moto_port="${MOTO_PORT:-4566}"
addr="${AUDITRELAY_ADDR:-127.0.0.1:3000}"
receiver_port="${RECEIVER_PORT:-3001}"
mkdir -p .local

cargo build -q -p auditctl
auditctl="$here/target/debug/auditctl"

MOTO_RECORDER_FILEPATH=.local/moto-recording "$venv/bin/python" emulators/moto_server.py -H 127.0.0.1 -p "$moto_port" >.local/moto.log 2>&1 &
moto_pid=$!
pids="$moto_pid"
trap 'kill $pids 2>/dev/null || true' EXIT INT TERM
s3compat_url="http://127.0.0.1:${S3COMPAT_PORT:-9000}"
azurite_port="${AZURITE_PORT:-10000}"
gcs_url="http://127.0.0.1:${GCS_PORT:-9023}"
"$venv/bin/moto_server" -H 127.0.0.1 -p "${s3compat_url##*:}" >.local/s3compat.log 2>&1 &
pids="$pids $!"
emulators/node_modules/.bin/azurite-blob --blobHost 127.0.0.1 --blobPort "$azurite_port" --inMemoryPersistence \
  --skipApiVersionCheck --loose --disableTelemetry >.local/azurite.log 2>&1 &
pids="$pids $!"
"$venv/bin/python" emulators/gcs.py "${gcs_url##*:}" >.local/gcs.log 2>&1 &
pids="$pids $!"
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS=1
# Locally nothing is in flight for long: export events 5 s after acceptance instead of 120 s.
export AUDITRELAY_FLUSH_SETTLE_SECS="${AUDITRELAY_FLUSH_SETTLE_SECS:-5}"
unset AWS_PROFILE AWS_SESSION_TOKEN
for _ in $(seq 100); do
  "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL/moto-api/', timeout=1)" 2>/dev/null && break
  sleep 0.1
done

"$auditctl" provision >/dev/null
org=$("$auditctl" org create --name "Demo Org" --tenant-id ten_01ABCDEFG)
org_id=$(echo "$org" | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["org_id"])')
token_of() { "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
owner=$("$auditctl" key create --org "$org_id" --role owner --name demo-owner | token_of)
writer=$("$auditctl" key create --org "$org_id" --role service --name demo-backend | token_of)
# The "customer's bucket" for the S3 export lives in the same moto server.
"$venv/bin/python" -c "import boto3; boto3.client('s3', endpoint_url='$AWS_ENDPOINT_URL', region_name='us-east-1').create_bucket(Bucket='demo-audit-bucket')"
base="http://$addr"

# A receiver that prints each webhook it gets, verified with the standardwebhooks package.
secret_file="$here/.local/webhook-secret"
: >"$secret_file"
"$venv/bin/python" "$here/scripts/webhook-receiver.py" "$receiver_port" "$secret_file" &
pids="$pids $!"
"$auditctl" serve --addr "$addr" --flush-interval "${FLUSH_INTERVAL:-60}" &
serve_pid=$!
pids="$pids $serve_pid"
for _ in $(seq 100); do
  "$venv/bin/python" -c "import socket; socket.create_connection(('${addr%:*}', ${addr##*:}), 1)" 2>/dev/null && break
  sleep 0.1
done
hook=$("$venv/bin/python" - "$base/orgs/$org_id/audit-export/webhooks" "$owner" "http://127.0.0.1:$receiver_port/hook" <<'PY'
import json, sys, urllib.request
url, token, target = sys.argv[1:]
req = urllib.request.Request(url, data=json.dumps({"url": target, "description": "make dev receiver"}).encode(),
                             headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
print(urllib.request.urlopen(req).read().decode())
PY
)
hook_id=$(echo "$hook" | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "$hook" | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["secret"])' >"$secret_file"
hooks="$base/orgs/$org_id/audit-export/webhooks"

cat <<TXT

AuditRelay is running locally (moto on $AWS_ENDPOINT_URL, API on $base,
fanout and webhook deliveries polling the emulator's stream and queue).
Demo org: $org_id (tenant ten_01ABCDEFG)
  owner key:   $owner
  service key: $writer

Admin console: $base/console (sign in with the owner key above)

Send the documented example event:
  curl -s -X POST $base/v1/audit/events -H "Authorization: Bearer $writer" -H 'content-type: application/json' \\
    -d '{"event_id":"evt_01HXYZABCDEF","timestamp":"2026-05-22T10:30:00Z","action":"document.opened","actor":{"user_id":"usr_01ABCDEFG","email":"jane@example.com","ip_address":"203.0.113.42"},"resource":{"type":"document","id":"doc_01ABCDEF","name":"Contract_v2.docx"},"tenant_id":"ten_01ABCDEFG"}'
Query the trail:
  curl -s "$base/v1/audit/logs?limit=10" -H "Authorization: Bearer $owner"
  curl -s "$base/v1/audit/logs/evt_01HXYZABCDEF" -H "Authorization: Bearer $owner"
  curl -s "$base/v1/audit/logs?action=document.opened,user.login&identity_id=usr_01ABCDEFG" -H "Authorization: Bearer $owner"

S3 export into the local bucket demo-audit-bucket (flushed every ${FLUSH_INTERVAL:-60} s here; 5 min when deployed):
  curl -s -X POST $base/orgs/$org_id/audit-export/config -H "Authorization: Bearer $owner" -H 'content-type: application/json' \\
    -d '{"bucket":"demo-audit-bucket","region":"us-east-1","roleArn":"arn:aws:iam::123456789012:role/AuditRelayExport"}'
  curl -s -X POST $base/orgs/$org_id/audit-export/test-connection -H "Authorization: Bearer $owner"
  AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AUDITRELAY_FLUSH_SETTLE_SECS=5 target/debug/auditctl flush   # or wait for the schedule
  curl -s $base/orgs/$org_id/audit-export/runs -H "Authorization: Bearer $owner"

Object-store emulators (credentials: tests/support/stores.rs):
  S3-compatible store (moto): $s3compat_url   any access key, region us-east-1, path-style
  Azure Blob (Azurite):       http://127.0.0.1:$azurite_port/devstoreaccount1   account devstoreaccount1, Azurite's well-known key
  GCS emulator:               $gcs_url   no auth (object_store: service-account JSON with gcs_base_url and disable_oauth)

Webhooks: endpoint $hook_id is registered for the demo receiver on 127.0.0.1:$receiver_port, which
prints "[webhook] <event id> <action> (signature verified)" here within a second of each ingest.
Register your own (http and loopback are allowed locally: AUDITRELAY_ALLOW_PRIVATE_DESTINATIONS=1):
  curl -s -X POST $hooks -H "Authorization: Bearer $owner" -H 'content-type: application/json' \\
    -d '{"url":"http://127.0.0.1:9000/siem","actions":["document.*","user.login"]}'
  curl -s $hooks -H "Authorization: Bearer $owner"
  curl -s -X POST $hooks/$hook_id/test -H "Authorization: Bearer $owner"
  curl -s "$hooks/$hook_id/attempts?limit=5" -H "Authorization: Bearer $owner"
  curl -s -X POST $hooks/$hook_id/rotate-secret -H "Authorization: Bearer $owner"
  curl -s -X POST $hooks/$hook_id/replay -H "Authorization: Bearer $owner" -H 'content-type: application/json' \\
    -d '{"from":"2026-01-01T00:00:00Z","to":"2030-01-01T00:00:00Z"}'

TXT
wait "$serve_pid"

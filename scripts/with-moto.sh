#!/usr/bin/env bash
# Runs a command with fresh storage emulators, each on a free loopback port, then stops them:
#   moto          the AWS services; the AWS SDKs reach it through AWS_ENDPOINT_URL (moto's dummy
#                 credentials); emulators/moto_server.py, so that DynamoDB's conditional
#                 writes are isolated from each other
#   a second moto an S3-compatible store ("MinIO"), reached only by its URL and an access key:
#                 AUDITRELAY_TEST_S3COMPAT_URL=http://127.0.0.1:P
#   Azurite       Azure Blob: AUDITRELAY_TEST_AZURITE_URL=http://127.0.0.1:P/devstoreaccount1 (the
#                 account's blob endpoint), and AZURITE_BLOB_STORAGE_URL=http://127.0.0.1:P for
#                 object_store's `with_use_emulator(true)`
#   GCS emulator  emulators/gcs.py: AUDITRELAY_TEST_GCS_URL=http://127.0.0.1:P (serves both the
#                 XML API at /{bucket}/{key} and the JSON API at /storage/v1)
# tests/support/stores.rs knows their credentials. Data and logs go to a temp dir, never into
# the work tree; the data is removed on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="${VENV:-$here/.venv}"
py="$venv/bin/python"
tmp=$(mktemp -d -t auditrelay-emulators.XXXXXX)
pids=()

stop_all() {
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  rm -rf "$tmp/azurite"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

free_port() {
  "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start LOG COMMAND...: runs COMMAND in the background, its output in LOG.
start() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  pids+=($!)
}

start_moto() { # PORT LOG
  # The request recorder (/moto-api/recorder/*, read by `make cost`) writes its log in the
  # temp dir, never in the work tree. emulators/moto_server.py is moto_server with DynamoDB's
  # conditional writes isolated from each other, as DynamoDB's are.
  MOTO_RECORDER_FILEPATH="$tmp/moto-recording-$1" start "$2" "$py" "$here/emulators/moto_server.py" -H 127.0.0.1 -p "$1"
}

start_azurite() { # PORT
  mkdir -p "$tmp/azurite"
  # --skipApiVersionCheck: the Python SDK speaks a newer x-ms-version than Azurite knows;
  # --disableTelemetry: Azurite otherwise posts usage data to Application Insights.
  start "$tmp/azurite.log" "$here/emulators/node_modules/.bin/azurite-blob" \
    --blobHost 127.0.0.1 --blobPort "$1" --location "$tmp/azurite" --skipApiVersionCheck --loose --disableTelemetry
}

start_gcs() { # PORT
  start "$tmp/gcs.log" "$py" "$here/emulators/gcs.py" "$1"
}

# wait_for URL...: until every URL answers (any HTTP status: Azurite answers 403 without a key).
wait_for() {
  "$py" - "$@" <<'PY'
import sys, time, urllib.error, urllib.request
pending = set(sys.argv[1:])
for _ in range(300):
    for url in sorted(pending):
        try:
            urllib.request.urlopen(url, timeout=1)
            pending.discard(url)
        except urllib.error.HTTPError:
            pending.discard(url)
        except Exception:
            pass
    if not pending:
        sys.exit(0)
    time.sleep(0.05)
sys.exit(f"emulators did not start: {sorted(pending)}")
PY
}

moto_port=$(free_port)
s3compat_port=$(free_port)
azurite_port=$(free_port)
gcs_port=$(free_port)
moto_log="${MOTO_LOG:-$tmp/moto.log}"
start_moto "$moto_port" "$moto_log"
start_moto "$s3compat_port" "$tmp/s3compat.log"
start_azurite "$azurite_port"
start_gcs "$gcs_port"
if ! wait_for "http://127.0.0.1:$moto_port/moto-api/" "http://127.0.0.1:$s3compat_port/moto-api/" \
  "http://127.0.0.1:$azurite_port/devstoreaccount1?comp=list" "http://127.0.0.1:$gcs_port/"; then
  echo "logs: $tmp" >&2
  exit 1
fi

export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_PROFILE AWS_SESSION_TOKEN
export AUDITRELAY_TEST_S3COMPAT_URL="http://127.0.0.1:$s3compat_port"
export AUDITRELAY_TEST_AZURITE_URL="http://127.0.0.1:$azurite_port/devstoreaccount1"
export AZURITE_BLOB_STORAGE_URL="http://127.0.0.1:$azurite_port"
export AUDITRELAY_TEST_GCS_URL="http://127.0.0.1:$gcs_port"
export AUDITRELAY_TEST_PYTHON="$py"
echo "moto server on $AWS_ENDPOINT_URL, S3-compatible store on $AUDITRELAY_TEST_S3COMPAT_URL," \
  "Azurite on $AUDITRELAY_TEST_AZURITE_URL, GCS emulator on $AUDITRELAY_TEST_GCS_URL (logs: $tmp)" >&2
"$@"

#!/usr/bin/env python3
"""An OTLP/HTTP logs receiver on 127.0.0.1 that decodes every request with the official
OpenTelemetry protobuf definitions (the `opentelemetry-proto` package), for the tests and
`make dev`. Usage:

    otlp-receiver.py [--port 0] [--out FILE] [--print]

The first line on stdout is `listening on PORT`. `POST /v1/logs` takes
`application/x-protobuf` bodies (gzip when `content-encoding: gzip`), answers an
`ExportLogsServiceResponse`, and records the request: its headers, byte counts and every
LogRecord with its resource and scope, as JSON (one line per request in FILE when given).

Control (tests):
  POST /control/script   JSON list of replies used by the next requests, in order:
                         {"status": 503, "retry_after": "2", "message": "…",
                          "rejected": 1}   (rejected: a 200 with OTLP partial success)
  POST /control/default  one reply for every request after the scripted ones
  GET  /control/requests everything recorded so far, as a JSON list
"""
import argparse
import gzip
import json
import sys
import threading
import http.server

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

LOCK = threading.Lock()
REQUESTS = []
SCRIPT = []
DEFAULT = {"status": 200}


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def attributes(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


def rpc_status(code, message):
    """google.rpc.Status{code, message}: the body OTLP/HTTP error answers carry (two fields,
    encoded by hand: the package ships the OTLP messages only)."""
    def varint(n):
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)

    msg = message.encode()
    return b"\x08" + varint(code) + b"\x12" + varint(len(msg)) + msg


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body=b"", content_type="application/x-protobuf", extra=()):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        return self.rfile.read(int(self.headers.get("content-length", 0)))

    def do_GET(self):
        if self.path == "/control/requests":
            with LOCK:
                body = json.dumps(REQUESTS).encode()
            return self.reply(200, body, "application/json")
        self.reply(404, b"", "text/plain")

    def do_POST(self):
        global DEFAULT
        raw = self.read_body()
        if self.path == "/control/script":
            with LOCK:
                SCRIPT.extend(json.loads(raw))
            return self.reply(204, b"", "text/plain")
        if self.path == "/control/default":
            with LOCK:
                DEFAULT = json.loads(raw)
            return self.reply(204, b"", "text/plain")
        path = self.path.split("?", 1)[0]
        if path != "/v1/logs":
            return self.reply(404, rpc_status(5, f"no such path {path}"))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            planned = SCRIPT.pop(0) if SCRIPT else dict(DEFAULT)
        entry = {
            "path": self.path,
            "headers": headers,
            "bytes": len(raw),
            "answered": planned.get("status", 200),
        }
        try:
            body = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
            entry["raw_bytes"] = len(body)
            if headers.get("content-type") != "application/x-protobuf":
                raise ValueError(f"content-type {headers.get('content-type')}")
            req = ExportLogsServiceRequest()
            req.ParseFromString(body)
        except (DecodeError, ValueError, OSError, EOFError) as e:
            entry["answered"] = 400
            entry["error"] = str(e)
            self.record(entry)
            return self.reply(400, rpc_status(3, f"undecodable request: {e}"))
        records = []
        for rl in req.resource_logs:
            resource = attributes(rl.resource.attributes)
            for sl in rl.scope_logs:
                for r in sl.log_records:
                    records.append({
                        "time_unix_nano": r.time_unix_nano,
                        "observed_time_unix_nano": r.observed_time_unix_nano,
                        "severity_number": r.severity_number,
                        "severity_text": r.severity_text,
                        "event_name": r.event_name,
                        "body": any_value(r.body),
                        "attributes": attributes(r.attributes),
                        "resource": resource,
                        "scope": {"name": sl.scope.name, "version": sl.scope.version},
                    })
        entry["records"] = records
        self.record(entry)
        status = planned.get("status", 200)
        extra = [("retry-after", planned["retry_after"])] if "retry_after" in planned else []
        if 200 <= status < 300:
            resp = ExportLogsServiceResponse()
            if planned.get("rejected") or planned.get("message"):
                resp.partial_success.rejected_log_records = planned.get("rejected", 0)
                resp.partial_success.error_message = planned.get("message", "")
            return self.reply(status, resp.SerializeToString(), extra=extra)
        self.reply(status, rpc_status(14, planned.get("message", f"answering {status}")), extra=extra)

    def record(self, entry):
        with LOCK:
            REQUESTS.append(entry)
        if ARGS.out:
            with open(ARGS.out, "a") as f:
                f.write(json.dumps(entry) + "\n")
        if ARGS.print:
            for r in entry.get("records", []):
                print(f"[otlp] {r['attributes'].get('log.record.uid')} {r['event_name']} "
                      f"{r['severity_text']} ({entry['answered']})", flush=True)

    def log_message(self, *args):
        pass


ARGS = None

if __name__ == "__main__":
    p = argparse.ArgumentParser(description="OTLP/HTTP logs receiver (127.0.0.1)")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--out")
    p.add_argument("--print", action="store_true")
    ARGS = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)

#!/usr/bin/env python3
"""A local webhook receiver for `make dev`: prints one line per delivery, verified with the
`standardwebhooks` package like any SIEM receiver would. Usage: webhook-receiver.py PORT SECRET_FILE
(the secret file is read at each request, so it may be written after the receiver starts)."""
import http.server
import json
import sys

from standardwebhooks.webhooks import Webhook

port, secret_file = int(sys.argv[1]), sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        try:
            with open(secret_file) as f:
                Webhook(f.read().strip()).verify(body, dict(self.headers))
            verdict = "signature verified"
        except Exception as e:  # show why, keep serving
            verdict = f"signature NOT verified: {e}"
        action = json.loads(body).get("action") if body else None
        print(f"[webhook] {self.headers.get('webhook-id')} {action} ({verdict})", flush=True)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()

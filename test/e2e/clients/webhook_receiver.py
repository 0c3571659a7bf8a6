#!/usr/bin/env python3
"""A keygate webhook receiver, written from docs/usage.md's verifier only (standard library).

Verifies Keygate-Signature (t=<unix>,v1=<hex HMAC-SHA256 of "t.body">, keyed with the secret as
shown at registration) with a 5-minute tolerance, answers 500 to the first FAIL deliveries, and
records what it saw. The test configures it with PUT /config {"secret", "fail"} and reads
GET /received.

    python3 webhook_receiver.py <port>
"""
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 300
state = {"secret": "", "fail": 0, "received": []}


def verify(secret: str, header: str, body: bytes) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    timestamp, signature = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class Handler(BaseHTTPRequestHandler):
    def _json(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        state.update(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self._json(200, {"ok": True})

    def do_GET(self):
        self._json(200, state["received"])

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok = verify(state["secret"], self.headers.get("Keygate-Signature", ""), body)
        status = 500 if len(state["received"]) < state["fail"] else (200 if ok else 400)
        event = json.loads(body) if ok else {}
        state["received"].append(
            {"verified": ok, "status": status, "event_id": self.headers.get("Keygate-Event-Id"), "type": event.get("type"), "data": event.get("data")}
        )
        self._json(status, {"received": len(state["received"])})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    server.serve_forever()

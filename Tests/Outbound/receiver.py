"""A webhook receiver for the outbound tests: every message is verified with both public libraries, PyPI's
`standardwebhooks` and `svix`, before it is answered; a message either refuses is answered 400 and recorded as refused.

    python receiver.py PORT

POST /hook/NAME          a delivery to receiver NAME (its behaviour set by /_control/NAME)
PUT  /_control/NAME      {"secrets": [...], "mode": "ok|down|gone|retry_after|hang|redirect", "retry_after": N, "fail_next": N,
                          "fail_ids": [webhook-id, ...]}
GET  /_received/NAME     every delivery it took: id, timestamp, type, which libraries verified it, the body
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook as StandardWebhook
from svix.webhooks import Webhook as SvixWebhook

lock = threading.Lock()
receivers = {}


def receiver(name):
    return receivers.setdefault(name, {"secrets": [], "mode": "ok", "retry_after": 0, "fail_next": 0, "fail_ids": [], "received": []})


def verified_by(secrets, body, headers):
    """Which libraries accepted the message, with any of the receiver's secrets."""
    standard = svix = False
    for secret in secrets:
        try:
            StandardWebhook(secret).verify(body, headers)
            standard = True
        except Exception:
            pass
        try:
            SvixWebhook(secret).verify(body, headers)
            svix = True
        except Exception:
            pass
    return standard, svix


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=None):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_PUT(self):
        name = self.path.split("/")[-1]
        settings = json.loads(self.read_body() or b"{}")
        with lock:
            receiver(name).update(settings)
        self.answer(200, b"{}")

    def do_GET(self):
        name = self.path.split("/")[-1]
        with lock:
            received = list(receiver(name)["received"])
        self.answer(200, json.dumps(received).encode(), {"Content-Type": "application/json"})

    def do_POST(self):
        name = self.path.split("/")[-1]
        body = self.read_body().decode()
        headers = {key.lower(): value for key, value in self.headers.items()}
        with lock:
            state = receiver(name)
            secrets = list(state["secrets"])
        standard, svix = verified_by(secrets, body, headers)
        try:
            kind = json.loads(body).get("type")
        except Exception:
            kind = None
        record = {
            "id": headers.get("webhook-id"), "timestamp": headers.get("webhook-timestamp"),
            "signatures": len(headers.get("webhook-signature", "").split(" ")), "type": kind,
            "standard": standard, "svix": svix, "received_at": time.time(), "body": body,
        }
        with lock:
            mode, retry_after = state["mode"], state["retry_after"]
            if state["fail_next"] > 0:
                state["fail_next"] -= 1
                mode = "down"
            if record["id"] in state["fail_ids"]:
                mode = "down"
            record["answered"] = {"ok": 200, "down": 503, "gone": 410, "retry_after": 429, "hang": 0, "redirect": 307}[mode] if standard and svix else 400
            state["received"].append(record)
        if not (standard and svix):
            return self.answer(400, b"signature refused")
        if mode == "hang":
            time.sleep(60)
            return self.answer(200)
        if mode == "down":
            return self.answer(503, b"down for the test")
        if mode == "gone":
            return self.answer(410, b"gone for the test")
        if mode == "redirect":
            return self.answer(307, b"elsewhere", {"Location": "/hook/" + name + "-elsewhere"})
        if mode == "retry_after":
            return self.answer(429, b"slow down", {"Retry-After": str(retry_after)})
        self.answer(200, b"ok")


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()

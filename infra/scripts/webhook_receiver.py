"""A local webhook receiver: prints each delivery (its Billing-Signature, whether it verifies
with SECRET when given, and the body) and answers STATUS (default 200).

    make webhook-receiver                      # listens on 127.0.0.1:9000
    PORT=9001 STATUS=500 SECRET=whsec_... make webhook-receiver

Register it: POST /api/v1/webhook-endpoints {"url": "http://127.0.0.1:9000/hooks", "events": ["*"]}.
"""
import hashlib
import hmac
import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ.get("SECRET", "")
STATUS = int(os.environ.get("STATUS", "200"))


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        header = self.headers.get("billing-signature", "")
        pairs = [p.split("=", 1) for p in header.split(",") if "=" in p]
        t = next((v for k, v in pairs if k == "t"), "")
        # One v1= per signing secret (two while a rolled secret still signs): any may match.
        signatures = [v for k, v in pairs if k == "v1"]
        verdict = "unchecked (set SECRET)"
        if SECRET:
            expected = hmac.new(SECRET.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
            valid = any(hmac.compare_digest(expected, s) for s in signatures)
            verdict = "valid" if valid else "INVALID"
        event = json.loads(body) if body else {}
        print(f"{event.get('type')} {event.get('id')} sequence={event.get('sequence')} signature {verdict}", flush=True)
        print(json.dumps(event, indent=2), flush=True)
        self.send_response(STATUS)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "9000"))), Handler).serve_forever()

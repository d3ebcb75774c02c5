"""A webhook receiver that verifies mediagate's signatures — run it, point `callback_url` at it.

    python examples/webhook_receiver.py --secret whsec_… --port 9000
    # then create a task with "callback_url": "http://<this host>:9000/webhook"
    # (a local receiver needs MEDIAGATE_ALLOW_PRIVATE_URLS=true on a development gateway)

Standard library only, plus `mediagate.webhooks` (which ships with the SDK: pip install mediagate).
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, HTTPServer

from mediagate.webhooks import WebhookVerificationError, verify


def make_handler(secret: str) -> type[BaseHTTPRequestHandler]:
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            try:
                verify(secret, dict(self.headers.items()), body)
            except WebhookVerificationError as exc:
                self.send_response(400)
                self.end_headers()
                print("refused:", exc)
                return
            message_id = self.headers["webhook-id"]
            if message_id not in seen:  # retries carry the same webhook-id: handle each message once
                seen.add(message_id)
                event = json.loads(body)
                print(event["event"], event["task_id"], event.get("video_url") or event.get("error_message"))
            self.send_response(204)
            self.end_headers()

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--secret", required=True, help="webhook_secret from GET /api/v1/account")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    HTTPServer(("0.0.0.0", args.port), make_handler(args.secret)).serve_forever()  # noqa: S104 - a receiver


if __name__ == "__main__":
    main()

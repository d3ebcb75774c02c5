"""The documented receiver example verifies a real signed delivery and refuses a forged one."""

from __future__ import annotations

import importlib.util
import threading
import time
from http.server import HTTPServer
from pathlib import Path

import httpx

from mediagate.webhooks import signature_header

EXAMPLE = Path(__file__).parents[2] / "examples" / "webhook_receiver.py"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_example_receiver_accepts_signed_and_refuses_forged() -> None:
    spec = importlib.util.spec_from_file_location("webhook_receiver", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = HTTPServer(("127.0.0.1", 0), module.make_handler(SECRET))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/webhook"
        body = b'{"event":"task.completed","task_id":"t1","status":"completed","video_url":"https://x/v.mp4"}'
        stamp = int(time.time())
        headers = {
            "webhook-id": "msg_1",
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature_header([SECRET], "msg_1", stamp, body),
        }
        assert httpx.post(url, content=body, headers=headers).status_code == 204
        forged = {**headers, "webhook-signature": "v1,AAAA"}
        assert httpx.post(url, content=body, headers=forged).status_code == 400
    finally:
        server.shutdown()

"""A real webhook receiver on 127.0.0.1, for unit and end-to-end tests.

It answers each POST with the next scripted status (200 once the script runs out),
verifies the signature the way `@nangohq/node` does, and records what it got.
"""

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from webhooks import signing


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    def __init__(self, key: str = "", port: int = 0):
        self.key = key
        self.port = port
        self.script: list[int] = []
        self.delay = 0.0
        self.redirect_to = ""
        self.received: list[Received] = []
        self.server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/nango"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = signing.verify(
                    receiver.key, body, headers.get(signing.HMAC_HEADER.lower(), "")
                )
                with receiver._lock:
                    status = receiver.script.pop(0) if receiver.script else 200
                if receiver.delay:
                    time.sleep(receiver.delay)
                receiver.received.append(Received(self.path, headers, body, verified, status))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.redirect_to or "/elsewhere")
                answer = json.dumps({"status": status}).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received

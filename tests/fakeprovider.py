"""A small fake provider HTTP server for tests and benchmarks.

In tests, start it in-process and point a provider at it through
PROVIDER_BASE_URL_OVERRIDES::

    provider = FakeProvider().start()
    provider.route("POST", "/repos/acme/app/issues", status=201, json={"id": 7})
    provider.route("GET", "/user", lambda req: (200, {}, {"login": req.headers["X-Who"]}))
    ...
    provider.requests[-1].headers["Authorization"]  # what it received
    provider.stop()

Anything without a route gets the default answer: 200 with a JSON echo of the request
(method, path, query, headers, body). The server speaks HTTP/1.1 with keep-alive, one
thread per connection, and logs nothing.

As a script it serves one fixed JSON answer on every path, without recording anything, for
benchmarks (run it as its own process so it does not share a GIL with the load generator)::

    python tests/fakeprovider.py --port 9000     # prints "listening on http://127.0.0.1:9000"
"""

import argparse
import json
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# Shaped like a GitHub user and issue at once, so the README's quick start works against it.
BENCH_ANSWER = {
    "id": 1,
    "login": "octocat",
    "type": "User",
    "site_admin": False,
    "number": 1347,
    "html_url": "https://github.com/octocat/Hello-World/issues/1347",
}


class Headers(dict):
    """Request headers with case-insensitive lookup (`h["authorization"] == h["Authorization"]`)."""

    def __init__(self, pairs=()):
        super().__init__()
        for name, value in pairs:
            self[name] = value

    def __setitem__(self, name: str, value: str) -> None:
        super().__setitem__(name.lower(), value)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default=None):
        return super().get(name.lower(), default)


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: str  # the raw query string ("" when none)
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> object:
        return json.loads(self.body) if self.body else None


# What a handler returns: (status, headers, body). A dict/list body is sent as JSON, a str
# as UTF-8 text, bytes as they are; a `Stream` of byte chunks is written as it is produced.
Answer = tuple[int, dict, object]
Handler = Callable[[RecordedRequest], Answer]


@dataclass
class Stream:
    """A body written chunk by chunk, never held whole: `Stream(chunks)` goes out with
    `Transfer-Encoding: chunked`, `Stream(chunks, length=n)` with `Content-Length: n`."""

    chunks: Iterable[bytes]
    length: int | None = None

    @classmethod
    def of_size(cls, size: int, chunk: int = 64 * 1024, chunked: bool = False) -> "Stream":
        """`size` bytes of filler, made one chunk at a time."""
        block = b"x" * chunk

        def chunks() -> Iterator[bytes]:
            left = size
            while left > 0:
                yield block[: min(chunk, left)]
                left -= chunk

        return cls(chunks(), None if chunked else size)


def echo(request: RecordedRequest) -> Answer:
    body: object = request.text
    try:
        body = request.json()
    except ValueError:
        pass
    return (
        200,
        {},
        {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "headers": dict(request.headers),
            "body": body,
        },
    )


def encode(headers: dict, body: object) -> tuple[dict, bytes]:
    headers = {str(k): str(v) for k, v in (headers or {}).items()}
    names = {k.lower() for k in headers}
    if isinstance(body, bytes | bytearray):
        payload = bytes(body)
    elif isinstance(body, str):
        payload = body.encode()
        if "content-type" not in names:
            headers["Content-Type"] = "text/plain; charset=utf-8"
    elif body is None:
        payload = b""
    else:
        payload = json.dumps(body, separators=(",", ":")).encode()
        if "content-type" not in names:
            headers["Content-Type"] = "application/json"
    return headers, payload


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the client says `Connection: close`
    server_version = "FakeProvider/1.0"
    # Buffered output: status line, headers and body leave in one send (see handle_one_request,
    # which flushes), so Nagle and delayed ACKs never add their 40 ms on loopback.
    wbufsize = 64 * 1024
    fake: "FakeProvider"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fake._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.fake._closed(self.connection)

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    def version_string(self) -> str:
        return self.server_version

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=parts.path or "/",
            query=parts.query,
            headers=Headers(self.headers.items()),
            body=self._read_body(),
        )
        fake = self.fake
        fake._record(request)
        handler = fake.handler_for(request.method, request.path)
        try:
            status, headers, body = handler(request)
        except Exception as exc:  # a broken test handler answers 500 rather than hanging
            status, headers, body = 500, {}, {"error": f"{type(exc).__name__}: {exc}"}
        if isinstance(body, Stream):
            self._send_stream(status, headers, body)
            return
        headers, payload = encode(headers, body)
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_stream(self, status: int, headers: dict, body: Stream) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(str(name), str(value))
        if body.length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(body.length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            for chunk in body.chunks:
                if body.length is None:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    self.wfile.write(chunk)
            if body.length is None:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away mid-body
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class FakeProvider:
    """A programmable HTTP server on 127.0.0.1 (a free port unless one is given)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, record: bool = True):
        self.host = host
        self.port = port
        self.record = record
        self.requests: list[RecordedRequest] = []
        self.default: Handler = echo
        self._routes: dict[tuple[str, str], Handler] = {}
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> "FakeProvider":
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server((self.host, self.port), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"fakeprovider-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            # Idle keep-alive connections would keep their threads waiting for a request.
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._connections.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_until_interrupted(self) -> None:
        """Run as a script: serve until Ctrl-C (or SIGINT), then stop."""
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> "FakeProvider":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- routes ------------------------------------------------------------------------

    def route(
        self,
        method: str,
        path: str,
        handler: Handler | None = None,
        *,
        status: int = 200,
        json: object = None,
        body: object = None,
        headers: dict | None = None,
    ) -> None:
        """Answer `method path` (exact path, no query; method "*" for any) with `handler`,
        or with a fixed `status`, `headers` and `json` / `body`."""
        if handler is None:
            fixed = (status, dict(headers or {}), json if json is not None else body)

            def handler(request: RecordedRequest, fixed=fixed) -> Answer:
                return fixed

        with self._lock:
            self._routes[(method.upper(), path)] = handler

    def handler_for(self, method: str, path: str) -> Handler:
        with self._lock:
            return (
                self._routes.get((method.upper(), path))
                or self._routes.get(("*", path))
                or self.default
            )

    def reset(self) -> None:
        """Forget the routes and the recorded requests."""
        with self._lock:
            self._routes.clear()
            self.requests.clear()

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    # --- what was received -------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        if self.record:
            with self._lock:
                self.requests.append(request)

    def received(self, method: str | None = None, path: str | None = None) -> list:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path is None or r.path == path)
            ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve one fixed JSON answer, for benchmarks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    fixed = (200, {}, BENCH_ANSWER)
    fake = FakeProvider(args.host, args.port, record=False)
    fake.default = lambda request: fixed
    fake.start()
    print(f"listening on {fake.url}", flush=True)
    fake.serve_until_interrupted()


if __name__ == "__main__":
    sys.exit(main())

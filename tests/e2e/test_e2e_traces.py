"""OpenTelemetry traces end to end: gunicorn and a qcluster export over OTLP/HTTP to a fake
collector on 127.0.0.1 (it decodes the protobuf requests with OpenTelemetry's own
classes), and an async run is one trace, whose id is the execution's, across both."""

import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.conftest import Platform
from tests.fakeprovider import FakeProvider
from tests.processes import stop_group

pytestmark = pytest.mark.e2e

WHOAMI = """
    from nango import create_action
    action = create_action(description="Who am I", input={"type": "object"},
                           output={"type": "object"},
                           exec=lambda nango, input: nango.get("/user").data)
"""


class Collector:
    """An OTLP/HTTP traces receiver: `spans` holds every span it was sent."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.services: set[str] = set()
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = trace_service_pb2.ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector.add(request)
                answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, request) -> None:
        with self.lock:
            for resource_spans in request.resource_spans:
                for attribute in resource_spans.resource.attributes:
                    if attribute.key == "service.name":
                        self.services.add(attribute.value.string_value)
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append(
                            {
                                "name": span.name,
                                "trace": span.trace_id.hex(),
                                "id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex(),
                                "attributes": {
                                    a.key: a.value.string_value or a.value.int_value
                                    for a in span.attributes
                                },
                            }
                        )

    def trace(self, trace_id: str, names: set[str], timeout: float = 30) -> list[dict]:
        """The spans of one trace, once every name in `names` arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [s for s in self.spans if s["trace"] == trace_id]
            if names <= {s["name"] for s in found}:
                return found
            time.sleep(0.1)
        raise AssertionError(f"spans of {trace_id}: {found}")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e-traces")
    collector = Collector()
    provider = FakeProvider().start()
    provider.route("GET", "/user", status=200, json={"login": "octocat"})
    platform = Platform(workdir, provider)
    platform.env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
        OTEL_SERVICE_NAME="nangosite-e2e",
        Q_POLL="0.05",
        Q_WORKERS="1",
        Q_NAME=f"e2e-traces-{uuid.uuid4().hex[:8]}",
    )
    worker = None
    try:
        platform.start()
        platform.write_function("github", "whoami", WHOAMI)
        platform.add_connections("c", 1)
        platform.deploy()
        worker = platform.start_worker()
        platform.collector = collector
        yield platform
    finally:
        if worker is not None:
            stop_group(worker, grace=10)
        platform.stop()
        provider.stop()
        collector.stop()


def test_an_async_run_is_one_trace_across_the_web_process_and_the_worker(traced):
    r = traced.trigger("whoami", {}, connection="c1", headers={"X-Async": "true"})
    assert r.status_code == 202
    code = uuid.UUID(r.json()["id"])
    deadline = time.monotonic() + 60
    while traced.client().get(f"{traced.url}/action/{code}?wait=10").status_code == 404:
        assert time.monotonic() < deadline
    spans = traced.collector.trace(code.hex, {"trigger", "queue wait", "run", "GET"})
    named = {s["name"]: s for s in spans}
    root = named["trigger"]
    assert root["parent"] == ""
    assert named["queue wait"]["parent"] == named["run"]["parent"] == root["id"]
    assert named["GET"]["parent"] == named["run"]["id"]
    assert named["GET"]["attributes"]["url.full"].endswith("/user")
    assert named["GET"]["attributes"]["http.response.status_code"] == 200
    assert named["run"]["attributes"]["nangosite.execution.id"] == str(code)
    assert traced.collector.services == {"nangosite-e2e"}


def test_a_sync_run_is_traced_in_the_web_process(traced):
    r = traced.trigger("whoami", {}, connection="c1")
    assert r.status_code == 200
    code = uuid.UUID(r.headers["X-Execution-Id"])
    spans = traced.collector.trace(code.hex, {"trigger", "run", "GET"})
    assert "queue wait" not in {s["name"] for s in spans}

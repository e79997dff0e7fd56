"""What reaches the platform over real HTTP before any view: chunked bodies, what gunicorn
itself refuses (configured by `nangosite/webserver.py`), unknown paths and wrong methods.
Every answer is the API's JSON error shape."""

import socket

import pytest
import requests

from tests.e2e.conftest import running_platform

pytestmark = pytest.mark.e2e

ECHO = """
from nango import create_action

action = create_action(
    description="Echo the input back", input={}, output={}, exec=lambda nango, input: input
)
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    # Its own platform: a function deployed into the shared one would change what the
    # other modules' deploys report.
    with running_platform(tmp_path_factory.mktemp("edges")) as platform:
        platform.add_connections("edge", 1, key="edges")
        platform.write_function("edges", "echo", ECHO)
        platform.deploy()
        yield platform


def chunks(data: bytes, size: int = 7):
    for i in range(0, len(data), size):
        yield data[i : i + size]


def raw_request(platform, text: bytes) -> bytes:
    """Bytes on a socket, as a client that does not follow the rules would send them."""
    host, port = platform.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(text)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_chunked_body_is_read_whole(deployed):
    http = deployed.client()
    body = b'{"repo": "octocat/Hello-World", "title": "Chunked"}'
    r = http.post(
        deployed.url + "/actions/edges/echo",
        data=chunks(body),  # a generator: requests sends it chunked, with no Content-Length
        headers={"Connection-Id": "edge1", "Content-Type": "application/json"},
        timeout=30,
    )
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert r.status_code == 200, r.text
    ran = http.get(deployed.url + f"/executions/{r.headers['X-Execution-Id']}", timeout=10)
    assert ran.json()["input"] == {"repo": "octocat/Hello-World", "title": "Chunked"}


def test_a_chunked_body_reaches_the_provider_through_the_proxy(deployed):
    r = deployed.client().post(
        deployed.url + "/proxy/echo",
        data=chunks(b'{"sent": "in chunks"}'),
        headers={"Connection-Id": "edge1", "Provider-Config-Key": "edges"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json()["body"] == {"sent": "in chunks"}


def test_a_chunked_body_past_the_limit_is_413(deployed):
    big = b'{"a": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    r = deployed.client().post(
        deployed.url + "/proxy/echo",
        data=chunks(big, 1024 * 1024),
        headers={"Connection-Id": "edge1", "Provider-Config-Key": "edges"},
        timeout=60,
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "request_bytes, status, code",
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET /integrations HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
            431,
            "request_header_fields_too_large",
        ),
        (b"GET /integrations HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n", 400, "invalid_request"),
        (b"NOT A REQUEST\r\n\r\n", 400, "invalid_request"),
    ],
    ids=["long url", "big header", "bad header", "bad line"],
)
def test_what_the_server_refuses_is_answered_in_the_error_shape(
    deployed, request_bytes, status, code
):
    answer = raw_request(deployed, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == str(status).encode(), answer[:300]
    assert b"Content-Type: application/json" in head
    assert requests.models.complexjson.loads(body)["error"]["code"] == code


def test_unknown_paths_and_wrong_methods_are_json(deployed):
    http = deployed.client()
    r = http.get(deployed.url + "/no/such/endpoint", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = http.post(deployed.url + "/docs", timeout=10)
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
    assert r.json()["error"]["code"] == "method_not_allowed"
    r = http.request("TRACE", deployed.url + "/proxy/anything", timeout=10)
    assert r.status_code == 405 and r.headers["Allow"]
    # The admin keeps its HTML pages.
    r = http.get(deployed.url + "/admin/login/", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")

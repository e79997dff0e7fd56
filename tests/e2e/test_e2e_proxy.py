"""/proxy end to end over gunicorn: the official @nangohq/node client's proxy/get/post,
retries on 429, and a 50 MB answer streamed through with the web worker's memory flat."""

import json
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import run_node
from tests.fakeprovider import Stream
from tests.processes import manage

pytestmark = pytest.mark.e2e

KEY = "proxy-github"
TOKEN = "gho_proxy_token_1357"


@pytest.fixture(scope="module")
def world(platform):
    secret = str(uuid.uuid4())
    manage(platform.env, "create_environment", "proxy", "--secret-key", secret)
    api = platform.client(secret)
    r = api.post(platform.url + "/integrations", json={"unique_key": KEY, "provider": "github"})
    assert r.status_code == 200, r.text
    body = {
        "provider_config_key": KEY,
        "connection_id": "alice",
        "credentials": {"type": "OAUTH2", "access_token": TOKEN},
    }
    r = api.post(platform.url + "/connections", json=body)
    assert r.status_code == 200, r.text
    api.headers.update({"Connection-Id": "alice", "Provider-Config-Key": KEY})
    return platform, secret, api


def node(world, method: str, config: dict) -> dict:
    platform, secret, _ = world
    config = {"providerConfigKey": KEY, "connectionId": "alice", **config}
    return run_node(["proxy.mjs", platform.url, secret, method, json.dumps(config)])


def test_the_node_clients_get_and_post_reach_the_provider_as_the_connection(world):
    platform = world[0]
    provider = platform.provider
    provider.route(
        "GET", "/proxy-e2e/repos", status=200, json=[{"id": 1}], headers={"X-Total": "1"}
    )
    r = node(
        world,
        "get",
        {"endpoint": "/proxy-e2e/repos", "params": {"per_page": "5"}, "headers": {"X-Trace": "n1"}},
    )
    assert r["ok"] and r["status"] == 200 and r["data"] == [{"id": 1}]
    assert r["headers"]["x-total"] == "1"
    sent = provider.received("GET", "/proxy-e2e/repos")[-1]
    assert sent.query == "per_page=5"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["X-Trace"] == "n1"
    # The client's own plumbing headers stay with us.
    for name in ("Nango-Is-Sync", "Nango-Activity-Log-Id", "Base-Url-Override", "Connection-Id"):
        assert name not in sent.headers

    provider.route("POST", "/proxy-e2e/issues", status=201, json={"number": 3})
    r = node(world, "post", {"endpoint": "/proxy-e2e/issues", "data": {"title": "Hi"}})
    assert r["ok"] and r["status"] == 201 and r["data"] == {"number": 3}
    sent = provider.received("POST", "/proxy-e2e/issues")[-1]
    assert sent.json() == {"title": "Hi"}
    assert sent.headers["Content-Type"].startswith("application/json")

    provider.route("PATCH", "/proxy-e2e/issues/3", status=200, json={"state": "closed"})
    r = node(world, "proxy", {"endpoint": "/proxy-e2e/issues/3", "method": "PATCH", "data": {}})
    assert r["ok"] and r["data"] == {"state": "closed"}


def test_the_providers_error_reaches_the_node_client_as_it_was(world):
    world[0].provider.route("GET", "/proxy-e2e/gone", status=404, json={"message": "Not Found"})
    r = node(world, "get", {"endpoint": "/proxy-e2e/gone"})
    assert r == {"ok": False, "status": 404, "data": {"message": "Not Found"}}


def test_retries_on_429_honour_retry_after(world):
    platform = world[0]
    answers = iter([(429, {"Retry-After": "1"}, {"m": "slow down"}), (200, {}, {"ok": True})])
    platform.provider.route("GET", "/proxy-e2e/limited", lambda request: next(answers))
    started = time.monotonic()
    r = node(world, "get", {"endpoint": "/proxy-e2e/limited", "retries": 2})
    assert r["ok"] and r["data"] == {"ok": True}
    assert time.monotonic() - started >= 1
    assert len(platform.provider.received("GET", "/proxy-e2e/limited")) == 2


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def web_worker_pid(platform) -> int:
    master = platform.server.proc.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children  # the platform runs one gunicorn worker
    return int(children[0])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_50_mb_answer_streams_through_with_flat_memory(world, chunked):
    platform, _, api = world
    size = 50 * 1024 * 1024
    platform.provider.route(
        "GET",
        "/proxy-e2e/export",
        lambda request: (200, {"Content-Type": "text/csv"}, Stream.of_size(size, chunked=chunked)),
    )
    assert api.get(platform.url + "/proxy/proxy-e2e/repos", timeout=30).status_code == 200
    pid = web_worker_pid(platform)
    baseline = peak = rss_kib(pid)
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_kib(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    received = 0
    try:
        with api.get(platform.url + "/proxy/proxy-e2e/export", stream=True, timeout=60) as r:
            assert r.status_code == 200 and r.headers["Content-Type"] == "text/csv"
            assert r.headers.get("Content-Length") == (None if chunked else str(size))
            for chunk in r.iter_content(256 * 1024):
                received += len(chunk)
    finally:
        done.set()
        sampler.join()
    assert received == size
    growth_mib = (peak - baseline) / 1024
    print(f"50 MB through /proxy ({'chunked' if chunked else 'length'}): RSS +{growth_mib:.1f} MiB")
    assert growth_mib < 10, f"the web worker grew by {growth_mib:.1f} MiB"


def test_hop_by_hop_headers_stop_at_the_proxy(world):
    platform, _, api = world
    platform.provider.route(
        "GET",
        "/proxy-e2e/hop",
        status=200,
        json={},
        headers={"Keep-Alive": "timeout=99", "Proxy-Authenticate": "Basic", "X-Kept": "yes"},
    )
    r = api.get(platform.url + "/proxy/proxy-e2e/hop", timeout=30)
    assert r.status_code == 200 and r.headers["X-Kept"] == "yes"
    assert "Proxy-Authenticate" not in r.headers
    assert "timeout=99" not in r.headers.get("Keep-Alive", "")

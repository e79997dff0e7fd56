"""Operating the platform, end to end over HTTP: /metrics adding up gunicorn's two
workers and a qcluster (prometheus_client's multiprocess mode), JSON log lines of runs and
requests in the processes' output, /ready with the database and Redis down, and the
trigger rate limit shared by two web processes through Redis."""

import json
import os
import time
import uuid

import pytest
import requests

from tests.e2e.conftest import Gunicorn, Platform
from tests.fakeprovider import FakeProvider
from tests.processes import free_port, manage, platform_env, stop_group
from tests.scrape import Scrape

pytestmark = pytest.mark.e2e

TOKEN = "e2e-metrics-token"
REQUEST_LOG = ("--access-logfile", "-", "--logger-class", "nangosite.access_log.RequestLogger")
NAP = """
    import time
    from nango import create_action

    def run(nango, input):
        time.sleep(0.3)
        return {"login": nango.get("/user").data["login"]}

    action = create_action(description="Naps", input={"type": "object"},
                           output={"type": "object"}, exec=run)
"""
FLAKY = """
    from nango import ActionError, create_action

    def run(nango, input):
        raise ActionError({"message": "no"})

    action = create_action(description="Fails", input={"type": "object"},
                           output={"type": "object"}, exec=run)
"""


@pytest.fixture(scope="module")
def oplat(tmp_path_factory):
    """gunicorn (2 workers, the request log on) and a qcluster sharing a metrics folder,
    logging JSON."""
    workdir = tmp_path_factory.mktemp("e2e-ops")
    (workdir / "metrics").mkdir()
    provider = FakeProvider().start()
    provider.route("GET", "/user", status=200, json={"login": "octocat"})
    platform = Platform(workdir, provider)
    platform.env.update(
        METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(workdir / "metrics"),
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        Q_POLL="0.05",
        Q_WORKERS="1",
        Q_NAME=f"e2e-ops-{uuid.uuid4().hex[:8]}",
    )
    worker = None
    try:
        platform.start(workers=2, extra=REQUEST_LOG)
        platform.write_function("github", "nap", NAP)
        platform.write_function("github", "flaky", FLAKY)
        platform.add_connections("c", 3)
        platform.deploy()
        worker = platform.start_worker()
        platform.worker_log = workdir / "worker.log"
        yield platform
    finally:
        if worker is not None:
            stop_group(worker, grace=10)
        platform.stop()
        provider.stop()


def scrape(platform) -> Scrape:
    r = requests.get(
        platform.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert r.status_code == 200, r.text
    return Scrape(r.text)


def wait_result(platform, run_id: str) -> requests.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = platform.client().get(f"{platform.url}/action/{run_id}?wait=10", timeout=20)
        if r.status_code != 404:
            return r
    raise AssertionError(f"run {run_id} did not end")


def json_lines(*paths) -> list[dict]:
    found = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
    return found


def test_metrics_add_up_the_web_workers_and_the_worker_cluster(oplat):
    assert requests.get(oplat.url + "/metrics", timeout=10).status_code == 401
    before = scrape(oplat)
    for i in range(4):
        assert oplat.trigger("nap", {}, connection=f"c{1 + i % 3}").status_code == 200
    for _ in range(2):
        assert oplat.trigger("flaky", {}, connection="c1").status_code == 500
    started = [
        oplat.trigger("nap", {}, connection=f"c{i}", headers={"X-Async": "true"}).json()["id"]
        for i in (1, 2, 3)
    ]
    assert all(wait_result(oplat, run).status_code == 200 for run in started)
    after = scrape(oplat)

    def delta(name: str, **labels) -> float:
        labels = {"environment": "e2e", "integration": "github", **labels}
        return after.value(name, **labels) - before.value(name, **labels)

    # 4 sync runs in two gunicorn workers and 3 async ones in the qcluster, added up.
    assert delta("nangosite_runs_total", action="nap", outcome="succeeded") == 7
    assert delta("nangosite_runs_total", action="flaky", outcome="failed") == 2
    bucket = "nangosite_run_duration_seconds_bucket"
    assert delta(bucket, action="nap", le="0.25") == 0  # each naps 0.3 s
    assert delta(bucket, action="nap", le="10.0") == 7
    calls = "nangosite_provider_call_duration_seconds_count"
    assert (
        after.value(calls, provider="github", status="2xx")
        - before.value(calls, provider="github", status="2xx")
        == 7
    )
    assert after.value("nangosite_queue_depth", environment="e2e") == 0
    assert after.value("nangosite_queue_depth", environment="other") == 0


def test_runs_and_requests_are_json_log_lines_with_the_execution_id(oplat):
    sync = oplat.trigger("flaky", {}, connection="c1")
    sync_id = sync.headers["X-Execution-Id"]
    queued = oplat.trigger("nap", {}, connection="c2", headers={"X-Async": "true"})
    assert queued.status_code == 202
    async_id = queued.headers["X-Execution-Id"]
    assert async_id == queued.json()["id"]
    assert wait_result(oplat, async_id).status_code == 200
    logs = (oplat.server.logfile, oplat.worker_log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = json_lines(*logs)
        runs = {e["execution_id"]: e for e in lines if e.get("logger") == "executions.runs"}
        # gunicorn writes a request's line after its answer: the result's GET may be logged
        # a moment after the client has it.
        got = any(e.get("path") == f"/action/{async_id}" for e in lines)
        if async_id in runs and got:
            break
        time.sleep(0.2)
    ran = runs[async_id]
    assert {k: ran[k] for k in ("environment", "integration", "action", "connection")} == {
        "environment": "e2e",
        "integration": "github",
        "action": "nap",
        "connection": "c2",
    }
    assert (ran["mode"], ran["outcome"], ran["status"]) == ("async", "succeeded", "succeeded")
    assert ran["duration_ms"] >= 300 and ran["level"] == "info"
    failed = runs[sync_id]
    assert (failed["error_code"], failed["http_status"]) == ("action_script_runtime_error", 500)
    requests_seen = [e for e in lines if e.get("logger") == "nangosite.requests"]
    triggers = {e["execution_id"]: e for e in requests_seen if e["path"] == "/action/trigger"}
    assert (triggers[async_id]["method"], triggers[async_id]["status"]) == ("POST", 202)
    assert triggers[sync_id]["status"] == 500 and triggers[sync_id]["duration_ms"] > 0
    # The result's GET names its run too.
    assert any(e["path"] == f"/action/{async_id}" for e in requests_seen)
    text = "".join(path.read_text(errors="replace") for path in logs)
    for secret in (oplat.secret, oplat.other_secret, "gho_c2_2", TOKEN):
        assert secret not in text


def test_ready_says_ok_when_everything_answers(oplat):
    assert requests.get(oplat.url + "/health", timeout=10).json() == {"status": "ok"}
    r = requests.get(oplat.url + "/ready", timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"database": "ok", "broker": "ok", "migrations": "ok"}


def test_ready_is_503_naming_what_is_down(tmp_path):
    """A web process whose PostgreSQL and Redis are ports nothing listens on."""
    env = platform_env(
        tmp_path,
        {},
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/nangosite",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    try:
        server.start()
        assert requests.get(server.url + "/health", timeout=10).status_code == 200
        r = requests.get(server.url + "/ready", timeout=10)
        assert r.status_code == 503
        assert r.json() == {
            "status": "unavailable",
            "checks": {
                "database": "unreachable (OperationalError)",
                "broker": "unreachable (ConnectionError)",
                "migrations": "not checked (database unreachable)",
            },
            "error": {
                "code": "not_ready",
                "message": "Not ready: database unreachable (OperationalError); broker "
                "unreachable (ConnectionError); migrations not checked (database unreachable).",
            },
        }
    finally:
        server.stop()


@pytest.mark.skipif(not os.getenv("REDIS_URL"), reason="REDIS_URL is not set")
def test_two_web_processes_share_the_trigger_rate_limit_through_redis(tmp_path):
    provider = FakeProvider().start()
    platform = Platform(tmp_path, provider)
    # Each process reads the environment's limit at once (no key cache).
    platform.env.update(
        REDIS_URL=os.environ["REDIS_URL"],
        AUTH_CACHE_SECONDS="0",
        Q_NAME=f"e2e-rate-{uuid.uuid4().hex[:8]}",
    )
    second = Gunicorn(platform.env, tmp_path / "second.log")
    try:
        platform.start()
        second.start()
        platform.write_function(
            "github", "nap", FLAKY.replace('raise ActionError({"message": "no"})', "return input")
        )
        platform.add_connections("c", 1)
        platform.deploy()
        manage(
            platform.env,
            "shell",
            "-c",
            "from integrations.models import Environment;"
            "Environment.objects.filter(name='e2e').update(trigger_rate_limit=2)",
        )
        sessions = [platform.client(), platform.client()]
        urls = [platform.url, second.url]
        answers = []
        clock = time.monotonic()
        for i in range(12):  # alternately to each process, as fast as they answer
            r = sessions[i % 2].post(
                urls[i % 2] + "/action/trigger",
                json={"action_name": "nap", "input": {}},
                headers={"Connection-Id": "c1", "Provider-Config-Key": "github"},
                timeout=30,
            )
            answers.append((i % 2, r))
        elapsed = time.monotonic() - clock
        passed = [r for _, r in answers if r.status_code == 200]
        refused = [(server, r) for server, r in answers if r.status_code == 429]
        assert len(passed) + len(refused) == 12, [r.text for _, r in answers]
        # One budget for both: a burst of 2 plus 2 a second. Each process counting alone
        # would let through a burst of 2 each, twice that.
        assert 2 <= len(passed) <= 2 + int(2 * elapsed) + 1, (len(passed), elapsed)
        assert {server for server, _ in refused} == {0, 1}
        assert all(r.headers["X-RateLimit-Limit"] == "2" for _, r in refused)
        assert all(r.json()["error"]["code"] == "too_many_requests" for _, r in refused)
    finally:
        second.stop()
        platform.stop()
        provider.stop()

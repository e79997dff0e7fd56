"""Async runs end to end: gunicorn + real django-q2 worker processes, over HTTP.

On SQLite with the ORM broker by default; with DATABASE_URL and REDIS_URL set (as the
second pass of .ci/run does) the same tests run on a fresh PostgreSQL database and the
Redis broker.
"""

import json
import os
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.conftest import Platform, run_node
from tests.fakeprovider import FakeProvider
from tests.processes import manage, qcluster, scratch_postgres, stop_group

pytestmark = pytest.mark.e2e


FUNCTIONS = {
    "nap": """
        import os
        import time
        from nango import create_action

        def run(nango, input):
            time.sleep(input.get("seconds", 0.3))
            return {"tag": input.get("tag"), "pid": os.getpid()}

        action = create_action(description="Sleeps", input={"type": "object"},
                               output={"type": "object"}, exec=run, timeout=20)
    """,
    "whoami": """
        from nango import create_action
        action = create_action(description="Who am I", input={"type": "object"},
                               output={"type": "object"},
                               exec=lambda nango, input: nango.get("/user").data)
    """,
    "flaky": """
        from nango import create_action, ActionError

        def run(nango, input):
            raise ActionError({"message": "provider is down"})

        action = create_action(description="Always fails", input={"type": "object"},
                               output={"type": "object"}, exec=run)
    """,
    "hang": """
        import time
        from nango import create_action

        def run(nango, input):
            while True:
                time.sleep(0.05)

        action = create_action(description="Never ends", input={"type": "object"},
                               output={"type": "object"}, exec=run, timeout=1)
    """,
}


class Worker:
    """A `manage.py qcluster` for runs and one for webhook deliveries, each in its own
    process group, so they can be SIGKILLed whole."""

    def __init__(self, env: dict, logfile: Path):
        self.env, self.logfile = env, logfile
        self.procs: list[subprocess.Popen] = []

    def start(self) -> "Worker":
        self.procs = [qcluster(self.env, self.logfile), qcluster(self.env, self.logfile, True)]
        return self

    def kill(self) -> None:
        """SIGKILL the whole clusters at once: no chance to tidy up, as in a crash."""
        for proc in self.procs:
            stop_group(proc, grace=0)
        self.procs = []


@pytest.fixture(scope="module")
def aplat(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e-async")
    provider = FakeProvider().start()
    provider.route("GET", "/user", status=200, json={"login": "octocat"})
    platform = Platform(workdir, provider)
    platform.env.update(
        HEARTBEAT_SECONDS="0.5",
        EXECUTION_STALE_SECONDS="3",
        RETRY_BACKOFF_BASE_SECONDS="0.4",
        RETRY_BACKOFF_MAX_SECONDS="5",
        Q_POLL="0.05",
        Q_WORKERS="2",
        Q_NAME=f"e2e-{uuid.uuid4().hex[:8]}",
    )
    drop = None
    if os.environ.get("DATABASE_URL"):
        platform.env["DATABASE_URL"], drop = scratch_postgres(os.environ["DATABASE_URL"], "e2e")
    if os.environ.get("REDIS_URL"):
        platform.env["REDIS_URL"] = os.environ["REDIS_URL"]
    workers = []
    try:
        platform.start()
        for name, source in FUNCTIONS.items():
            platform.write_function("github", name, source)
        platform.add_connections("c", 6)
        platform.deploy()
        # Two worker processes of two workers each: four runs can be in flight at once.
        workers = [Worker(platform.env, workdir / f"worker{i}.log").start() for i in range(2)]
        platform.workers = workers
        yield platform
    finally:
        for worker in workers:
            worker.kill()
        platform.stop()
        provider.stop()
        if drop:
            drop()


def set_concurrency(platform, n: int) -> None:
    manage(
        platform.env,
        "shell",
        "-c",
        "from integrations.models import Environment;"
        f"Environment.objects.filter(name='e2e').update(action_concurrency={n})",
    )


def start(platform, action: str, input: dict, connection: str = "c1", **headers) -> str:
    r = platform.trigger(
        action, input, connection=connection, headers={"X-Async": "true", **headers}
    )
    assert r.status_code == 202, r.text
    assert r.headers["Location"] == r.json()["statusUrl"]
    return r.json()["id"]


def result(platform, id: str, wait: float = 20):
    deadline = time.monotonic() + wait + 30
    while time.monotonic() < deadline:
        r = platform.client().get(f"{platform.url}/action/{id}?wait={min(wait, 30)}", timeout=40)
        if r.status_code != 404 or r.json()["error"]["code"] != "pending":
            return r
    raise AssertionError(f"execution {id} never ended")


def detail(platform, id: str) -> dict:
    return platform.client().get(f"{platform.url}/executions/{id}", timeout=10).json()


def interval(execution: dict) -> tuple[datetime, datetime]:
    attempt = execution["attempts"][-1]
    return datetime.fromisoformat(attempt["started"]), datetime.fromisoformat(attempt["finished"])


def max_overlap(intervals) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def test_it_runs_an_async_action_and_serves_its_result(aplat):
    id = start(aplat, "whoami", {})
    r = result(aplat, id)
    assert r.status_code == 200 and r.json() == {"login": "octocat"}
    assert detail(aplat, id)["status"] == "succeeded"
    assert aplat.provider.received("GET", "/user")[-1].headers["Authorization"] == "Bearer gho_c_1"


def test_it_retries_with_backoff_then_serves_the_final_error(aplat):
    id = start(aplat, "flaky", {}, **{"X-Max-Retries": "2"})
    r = result(aplat, id)
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "action_script_runtime_error"
    attempts = detail(aplat, id)["attempts"]
    assert [a["outcome"] for a in attempts] == ["failed", "failed", "failed"]
    gaps = [
        (
            datetime.fromisoformat(attempts[i + 1]["started"])
            - datetime.fromisoformat(attempts[i]["finished"])
        ).total_seconds()
        for i in range(2)
    ]
    # Base 0.4 s doubling, jitter in [half, full]: at least 0.2 s, then at least 0.4 s.
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, gaps


def test_it_starts_runs_in_fifo_order_within_the_environment_concurrency(aplat):
    set_concurrency(aplat, 2)
    try:
        ids = []
        for i in range(6):
            ids.append(start(aplat, "nap", {"seconds": 0.4, "tag": i}, connection=f"c{i + 1}"))
            time.sleep(0.02)
        for id in ids:
            assert result(aplat, id).status_code == 200
        runs = [interval(detail(aplat, id)) for id in ids]
        starts = [s for s, _ in runs]
        assert starts == sorted(starts), "runs did not start in trigger order"
        assert max_overlap(runs) == 2, "the concurrency of 2 was not used, or exceeded"
    finally:
        set_concurrency(aplat, 4)


def test_it_never_overlaps_runs_of_one_connection(aplat):
    ids = [start(aplat, "nap", {"seconds": 0.3, "tag": i}, connection="c2") for i in range(4)]
    other = start(aplat, "nap", {"seconds": 0.3, "tag": "other"}, connection="c3")
    for id in [*ids, other]:
        assert result(aplat, id).status_code == 200
    runs = [interval(detail(aplat, id)) for id in ids]
    assert max_overlap(runs) == 1
    # c3's run did not wait for c2's queue to drain.
    assert interval(detail(aplat, other))[0] < runs[-1][0]


def test_it_replays_an_idempotency_key_and_refuses_a_changed_request(aplat):
    first = start(aplat, "whoami", {"n": 1}, **{"Idempotency-Key": "order-77"})
    again = start(aplat, "whoami", {"n": 1}, **{"Idempotency-Key": "order-77"})
    assert again == first
    r = aplat.trigger(
        "whoami",
        {"n": 2},
        connection="c1",
        headers={"X-Async": "true", "Idempotency-Key": "order-77"},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_conflict"


def test_it_cancels_a_queued_run_and_stops_a_running_one(aplat):
    running = start(aplat, "nap", {"seconds": 15}, connection="c4")
    waiting = start(aplat, "nap", {"seconds": 0.1}, connection="c4")  # queued behind it
    for _ in range(100):
        if detail(aplat, running)["status"] == "running":
            break
        time.sleep(0.05)
    http = aplat.client()
    r = http.post(f"{aplat.url}/executions/{waiting}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert http.post(f"{aplat.url}/executions/{running}/cancel").status_code == 202
    r = result(aplat, running)
    # time.sleep(15) cannot be interrupted mid-call, but the answer does not wait for it:
    # the run is over while the nap still goes on.
    assert r.status_code == 410 and r.json()["error"]["code"] == "script_aborted"
    (attempt,) = detail(aplat, running)["attempts"]
    assert attempt["outcome"] == "cancelled" and attempt["duration_ms"] < 15_000
    assert result(aplat, waiting).status_code == 410


def test_it_stops_a_run_at_its_timeout(aplat):
    id = start(aplat, "hang", {})
    r = result(aplat, id)
    assert r.status_code == 500
    assert r.json()["error"]["payload"]["reason"] == "timeout"


def test_it_ends_runs_whose_worker_was_killed(aplat):
    retried = start(
        aplat, "nap", {"seconds": 4, "tag": "r"}, connection="c5", **{"X-Max-Retries": "1"}
    )
    final = start(aplat, "nap", {"seconds": 4, "tag": "f"}, connection="c6")
    for _ in range(200):
        if all(detail(aplat, id)["status"] == "running" for id in (retried, final)):
            break
        time.sleep(0.05)
    for worker in aplat.workers:
        worker.kill()
    time.sleep(3.5)  # past EXECUTION_STALE_SECONDS with no heartbeat
    assert "2 crashed run(s)" in manage(aplat.env, "sweep")
    aplat.workers = [w.start() for w in aplat.workers]
    r = result(aplat, retried)
    assert r.status_code == 200 and r.json()["tag"] == "r"
    assert [a["outcome"] for a in detail(aplat, retried)["attempts"]] == ["crashed", "succeeded"]
    r = result(aplat, final)
    assert r.status_code == 500
    assert r.json()["error"]["payload"] == {"reason": "worker_died"}


def node_client(platform, method: str, *args):
    return run_node(["client.mjs", platform.url, platform.secret, method, json.dumps(args)])


def test_it_works_with_the_official_node_client_unchanged(aplat):
    sync = node_client(aplat, "triggerAction", "github", "c1", "whoami", {})
    assert sync == {"ok": True, "value": {"login": "octocat"}}
    started = node_client(aplat, "triggerActionAsync", "github", "c1", "whoami", {})
    assert started["ok"], started
    id = started["value"]["id"]
    assert started["value"]["statusUrl"] == f"/action/{id}"
    assert result(aplat, id).status_code == 200
    done = node_client(aplat, "getAsyncActionResult", {"id": id})
    assert done == {"ok": True, "value": {"login": "octocat"}}
    missing = node_client(aplat, "getAsyncActionResult", {"id": str(uuid.uuid4())})
    assert missing["ok"] is False and missing["status"] == 404
    failed = node_client(aplat, "triggerAction", "github", "c1", "flaky", {})
    assert failed["status"] == 500
    assert failed["data"]["error"]["code"] == "action_script_runtime_error"

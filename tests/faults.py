"""A fault-injection harness: the platform under a steady async load while a fault strikes.

Used by `tests/e2e/test_e2e_faults.py` (small, bounded scenarios) and `bench/faults.py` (the
issue's load). One scenario: gunicorn, `clusters` qclusters for runs and one for webhook
deliveries, on SQLite + the ORM broker or on a private PostgreSQL and/or a private Redis
(started here, so they can be stopped); a fake provider; a webhook receiver; an action that
calls the provider once with a token and sleeps. A load thread triggers async runs at a
steady rate while, at `fault_at`, one fault strikes:

  sigkill   one runs cluster is SIGKILLed whole, and started again at once (a supervisor)
  redis     the Redis broker is SIGKILLed, and started again `fault_seconds` later
  postgres  PostgreSQL stops at once (immediate), and starts again `fault_seconds` later

Afterwards, from the executions' own records and what the fake servers received: runs lost
(acknowledged with 202 and gone, or never ended), provider calls beyond one per run that had
no crashed attempt, crashed attempts, trigger answers by status, seconds from the fault's end
until as many runs ran at once as the environment allows, and webhook lag (receipt minus the
run's end) p50/p99.
"""

import json
import random
import sqlite3
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests

from tests.e2e.conftest import Platform
from tests.fakeprovider import FakeProvider
from tests.processes import manage, qcluster, scratch_postgres, stop_group
from tests.servers import PrivatePostgres, PrivateRedis

# A webhook's message lost with the fault is sent again once it is QUEUE_STALL_SECONDS (3)
# late, by the next heartbeat (every 2 s) that finds the webhook queue empty.
WEBHOOK_SETTLE_SECONDS = 10.0

WORK = """
import time
from nango import create_action

def run(nango, input):
    nango.get("/work", params={"token": input["token"]})
    time.sleep(input["sleep"])
    return {"token": input["token"]}

action = create_action(description="Calls the provider once, then works a while",
                       input={"type": "object", "required": ["token", "sleep"]},
                       output={"type": "object"}, exec=run)
"""


@dataclass
class Scenario:
    name: str
    fault: str | None = None  # None | "sigkill" | "redis" | "postgres"
    database: str = "sqlite"  # "sqlite" | "postgres" (private)
    broker: str = "orm"  # "orm" | "redis" (private)
    rate: float = 40.0  # triggers per second
    seconds: float = 8.0  # of load
    sleep: tuple[float, float] = (0.1, 0.2)  # the action's work, seconds
    fault_at: float = 3.0  # seconds into the load
    fault_seconds: float = 3.0  # how long the broker or database stays down
    clusters: int = 2  # runs clusters, each with `workers` workers
    workers: int = 2
    concurrency: int = 4  # the environment's action_concurrency
    connections: int = 20
    max_retries: int = 2
    settle_seconds: float = 120.0  # how long to wait for every run to end
    env: dict = field(default_factory=dict)


@dataclass
class Report:
    scenario: str
    triggered: int = 0
    answers: dict = field(default_factory=dict)  # HTTP status -> count
    lost: int = 0
    stuck: int = 0
    crashed_attempts: int = 0
    extra_provider_calls: int = 0  # beyond one per run, for runs with no crashed attempt
    recovery_seconds: float | None = None  # fault's end -> full concurrency again
    reached_full_concurrency: bool = False  # before the fault: the baseline was healthy
    webhook_lag_p50: float | None = None
    webhook_lag_p99: float | None = None
    webhooks_missing: int = 0
    drain_seconds: float = 0.0
    statuses: dict = field(default_factory=dict)

    def line(self) -> str:
        def sec(v):
            return "-" if v is None else f"{v:.2f}s"

        return (
            f"{self.scenario:<22} runs={self.triggered} answers={self.answers} lost={self.lost} "
            f"stuck={self.stuck} extra_provider_calls={self.extra_provider_calls} "
            f"crashed_attempts={self.crashed_attempts} recovery={sec(self.recovery_seconds)} "
            f"webhook_lag p50={sec(self.webhook_lag_p50)} p99={sec(self.webhook_lag_p99)} "
            f"webhooks_missing={self.webhooks_missing} drain={self.drain_seconds:.1f}s"
        )


def _parse_time(value) -> float:
    if isinstance(value, datetime):
        moment = value
    else:  # SQLite keeps "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC, or an ISO string in JSON
        moment = datetime.fromisoformat(str(value).replace(" ", "T"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class Harness:
    def __init__(self, workdir: Path, scenario: Scenario) -> None:
        self.workdir, self.s = workdir, scenario
        self.provider = FakeProvider().start()
        self.calls: dict[str, int] = {}
        self.hooks: dict[str, float] = {}
        self._lock = threading.Lock()
        self.provider.route("GET", "/work", self._work)
        self.provider.route("POST", "/hooks", self._hook)
        self.pg = self.redis = None
        self.drop_db = None
        self.platform = Platform(workdir, self.provider)
        self.runs_clusters: list = []
        self.webhook_cluster = None
        self.accepted: dict[str, str] = {}  # execution id -> token
        self.answers: dict[int, int] = {}
        self.fault_end: float | None = None

    # --- the fake servers' routes ------------------------------------------------------

    def _work(self, request):
        token = request.params.get("token", [""])[0]
        with self._lock:
            self.calls[token] = self.calls.get(token, 0) + 1
        return 200, {}, {"ok": True}

    def _hook(self, request):
        body = request.json()
        with self._lock:
            self.hooks.setdefault(body["payload"]["id"], time.time())
        return 200, {}, {}

    # --- set-up ------------------------------------------------------------------------

    def start(self) -> "Harness":
        s = self.s
        env = self.platform.env
        env.update(
            Q_NAME=f"faults-{uuid.uuid4().hex[:8]}",
            Q_WORKERS=str(s.workers),
            Q_POLL="0.05",
            RETRY_BACKOFF_BASE_SECONDS="0.2",
            RETRY_BACKOFF_MAX_SECONDS="1",
            WEBHOOK_SETTINGS_CACHE_SECONDS="0",
            **s.env,
        )
        if s.database == "postgres":
            self.pg = PrivatePostgres()
            env["DATABASE_URL"], self.drop_db = scratch_postgres(self.pg.url, "faults")
        if s.broker == "redis":
            self.redis = PrivateRedis()
            env["REDIS_URL"] = self.redis.url
        self.platform.start()
        self.platform.write_function("github", "work", WORK)
        self.platform.add_connections("f", s.connections)
        self.platform.deploy()
        manage(
            env,
            "shell",
            "-c",
            "from integrations.models import Environment;"
            f"Environment.objects.filter(name='e2e').update(action_concurrency={s.concurrency},"
            f" webhook_primary_url='{self.provider.url}/hooks')",
        )
        for i in range(s.clusters):
            self.runs_clusters.append(qcluster(env, self.workdir / f"runs-{i}.log"))
        self.webhook_cluster = qcluster(env, self.workdir / "webhooks.log", webhooks=True)
        time.sleep(2)  # the clusters start their workers
        return self

    def stop(self) -> None:
        for proc in [*self.runs_clusters, self.webhook_cluster]:
            if proc is not None:
                stop_group(proc, grace=5)
        self.platform.stop()
        self.provider.stop()
        if self.redis is not None:
            self.redis.close()
        if self.pg is not None:
            if self.drop_db is not None:
                try:
                    self.pg.start()
                except RuntimeError:
                    pass
            self.pg.close()

    # --- load and fault ----------------------------------------------------------------

    def _load(self, started: float) -> None:
        s = self.s
        total = int(s.rate * s.seconds)
        http = self.platform.client()
        lo, hi = s.sleep
        for i in range(total):
            pause = started + i / s.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            token = uuid.uuid4().hex
            input = {"token": token, "sleep": round(random.uniform(lo, hi), 3)}
            try:
                r = self.platform.trigger(
                    "work",
                    input,
                    connection=f"f{i % s.connections + 1}",
                    session=http,
                    timeout=30,
                    headers={"X-Async": "true", "X-Max-Retries": str(s.max_retries)},
                )
                status = r.status_code
                if status == 202:
                    self.accepted[r.json()["id"]] = token
            except requests.RequestException:
                status = 0  # no answer at all
            self.answers[status] = self.answers.get(status, 0) + 1

    def _fault(self) -> None:
        s = self.s
        if s.fault == "sigkill":
            victim = self.runs_clusters.pop(0)
            stop_group(victim, grace=0)  # SIGKILL, sentinel and workers at once
            self.runs_clusters.append(qcluster(self.platform.env, self.workdir / "runs-new.log"))
        elif s.fault == "redis":
            self.redis.kill()
            time.sleep(s.fault_seconds)
            self.redis.start()
        elif s.fault == "postgres":
            self.pg.stop()
            time.sleep(s.fault_seconds)
            self.pg.start()
        self.fault_end = time.time()

    def run(self) -> Report:
        started = time.monotonic()
        self.load_started = time.time()
        load = threading.Thread(target=self._load, args=(started,), daemon=True)
        load.start()
        if self.s.fault:
            time.sleep(self.s.fault_at)
            self._fault()
        load.join()
        deadline = time.monotonic() + self.s.settle_seconds
        while time.monotonic() < deadline and self._unfinished() > 0:
            time.sleep(0.5)
        # The last webhooks, and one sent again because its message went with the fault.
        deadline = time.monotonic() + WEBHOOK_SETTLE_SECONDS
        while time.monotonic() < deadline and self.report().webhooks_missing:
            time.sleep(0.5)
        return self.report()

    # --- what happened -----------------------------------------------------------------

    def _query(self, sql: str) -> list[tuple]:
        url = self.platform.env.get("DATABASE_URL")
        if url:
            import psycopg

            with psycopg.connect(url, connect_timeout=5) as conn:
                return conn.execute(sql).fetchall()
        with sqlite3.connect(self.platform.env["SQLITE_PATH"], timeout=30) as conn:
            return conn.execute(sql).fetchall()

    def _unfinished(self) -> int:
        try:
            rows = self._query(
                "SELECT count(*) FROM executions_execution WHERE status IN ('queued', 'running')"
            )
        except Exception:  # the database may still be coming back
            return 1
        return rows[0][0]

    def report(self) -> Report:
        s = self.s
        rows = self._query(
            "SELECT code, status, attempt_log, finished FROM executions_execution WHERE is_async"
        )
        by_id = {}
        for code, status, attempts, finished in rows:
            attempts = json.loads(attempts) if isinstance(attempts, str) else attempts
            by_id[str(uuid.UUID(str(code)))] = (status, attempts, finished)
        report = Report(s.name, triggered=sum(self.answers.values()), answers=dict(self.answers))
        intervals, lags = [], []
        for execution_id, token in self.accepted.items():
            found = by_id.get(execution_id)
            if found is None:
                report.lost += 1
                continue
            status, attempts, finished = found
            report.statuses[status] = report.statuses.get(status, 0) + 1
            if status in ("queued", "running"):
                report.stuck += 1
                continue
            crashed = [a for a in attempts if a.get("outcome") == "crashed"]
            report.crashed_attempts += len(crashed)
            if not crashed:
                report.extra_provider_calls += max(0, self.calls.get(token, 0) - 1)
            for a in attempts:
                if a.get("started") and a.get("finished"):
                    begin, end = _parse_time(a["started"]), _parse_time(a["finished"])
                    if a.get("outcome") == "crashed" and self.fault_end is not None:
                        end = min(end, self.fault_end)  # it stopped when its process died
                    intervals.append((begin, end))
            if status == "succeeded" or (status == "failed" and attempts):
                received = self.hooks.get(execution_id)
                if received is None:
                    report.webhooks_missing += 1
                elif finished is not None:
                    lags.append(received - _parse_time(finished))
        if lags:
            lags.sort()
            report.webhook_lag_p50 = statistics.median(lags)
            report.webhook_lag_p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        report.drain_seconds = max((e for _, e in intervals), default=0) - self.load_started
        report.reached_full_concurrency = self._first_full(intervals, self.load_started) is not None
        if self.fault_end is not None:
            full = self._first_full(intervals, self.fault_end)
            report.recovery_seconds = None if full is None else max(0.0, full - self.fault_end)
        return report

    def _first_full(self, intervals: list[tuple[float, float]], since: float) -> float | None:
        """The first moment at or after `since` when `concurrency` attempts ran at once."""
        events = sorted([(b, 1) for b, _ in intervals] + [(e, -1) for _, e in intervals])
        running = 0
        for moment, change in events:
            running += change
            if moment >= since and running >= self.s.concurrency:
                return moment
        return None

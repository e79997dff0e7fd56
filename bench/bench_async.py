"""Benchmark: how fast the async queue drains, against raw django-q2 in the same run.

Per backend, two sides, interleaved, `--rounds` times:

  ours       2,000 `X-Async: true` POST /action/trigger of an action that does one
             `nango.get` to the fake provider, round-robin over 50 connections
  reference  bench/reference/: 2,000 POST /enqueue, a minimal DRF view that inserts a run
             record and hands django-q2 a trivial task (`refsite.tasks.finish`, which marks
             the record done): django-q2's own throughput, the ceiling of any design on it

Both behind the same gunicorn command, flooded by 16 client threads, drained by 2 worker
processes (`qcluster` with Q_WORKERS=1 each: on this 2-core machine more processes only add
context switches), each side's workers running only during its own loads. Per side and
round:

  flood   the clients send as fast as the server answers: the drain rate, runs/s from the
          first record's creation to the last one's end
  paced   the same number of triggers at a steady half of that side's flood rate (open
          loop): trigger-to-result median and p99 at that load

Times come from the records themselves (created → finished), read straight from the
database, so that nothing polls the web servers while the workers drain. Backends: SQLite +
django-q2's ORM broker, then PostgreSQL + the Redis broker (skipped with a note when either
is unreachable). Then, per backend and round, the ratio the target is about:

  drain ours / drain reference    target >= 0.9 on SQLite + ORM, >= 0.8 on PostgreSQL + Redis

Usage:
    .venv/bin/python bench/bench_async.py [--runs 2000] [--rounds 2] [--connections 50]
        [--clients 16] [--qworkers 2] [--qworker-threads 1] [--backends sqlite,postgres]
        [--concurrency 4] [--time-limit 900]

Exit status: 0; 1 if any run failed; 3 if the time limit stopped the run.
"""

import argparse
import http.client
import json
import secrets
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_sync as b  # noqa: E402  (shared process, database and platform helpers)

TARGETS = {"sqlite": 0.9, "postgres": 0.8}  # drain ours / drain reference, at least


class Side:
    """What both sides share: worker processes started per load, records read from the
    database."""

    table = ""
    workers: list

    def queue_env(self, args, redis_url: str) -> None:
        self.env.update(
            Q_WORKERS=str(args.qworker_threads),
            Q_POLL="0.01",
            Q_NAME=f"bench-{self.name}-{secrets.token_hex(3)}",
        )
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.workers = []

    def worker_command(self) -> list[str]:
        raise NotImplementedError

    def start_workers(self) -> None:
        command = self.worker_command()
        for i in range(self.args.qworkers):
            log = open(self.workdir / f"qcluster-{self.name}-{self.backend}-{i}.log", "ab")  # noqa: SIM115
            proc = b.spawn(command, env=self.env, stdout=log, stderr=b.subprocess.STDOUT)
            self.workers.append(proc)
        time.sleep(2)  # let the clusters start their workers

    def stop_workers(self) -> None:
        for proc in self.workers:
            b.kill(proc)
        self.workers = []

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        url = self.env.get("DATABASE_URL")
        if url:
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                return conn.execute(sql.replace("?", "%s"), params).fetchall()
        with sqlite3.connect(self.env["SQLITE_PATH"], timeout=30) as conn:
            return conn.execute(sql, params).fetchall()

    def last_pk(self) -> int:
        return self.rows(f"SELECT COALESCE(MAX(id), 0) FROM {self.table}")[0][0]

    def wait_done(self, after: int, count: int, limit: float) -> None:
        deadline = time.monotonic() + limit
        while True:
            done = self.rows(
                f"SELECT COUNT(*) FROM {self.table} WHERE id > ? AND finished IS NOT NULL",
                (after,),
            )[0][0]
            if done >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: {count - done} runs unfinished after {limit}s")
            time.sleep(0.25)

    def times(self, after: int) -> list[tuple[datetime, datetime]]:
        found = self.rows(f"SELECT created, finished FROM {self.table} WHERE id > ?", (after,))
        return [(_moment(c), _moment(f)) for c, f in found]

    def failed(self, after: int) -> int:
        return 0


def _moment(value) -> datetime:
    # SQLite keeps Django's datetimes as ISO text in UTC, PostgreSQL as timestamptz.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Ours(Side, b.Platform):
    """The sync benchmark's platform plus worker processes and many connections."""

    table = "executions_execution"
    path = "/action/trigger"

    def __init__(self, backend, workdir, provider_url, args, database_url="", redis_url=""):
        super().__init__(backend, workdir, provider_url, args, database_url)
        self.queue_env(args, redis_url)
        self.env["HEARTBEAT_SECONDS"] = "5"

    def setup(self) -> None:
        super().setup()
        api = b.plain_session()
        api.headers["Authorization"] = f"Bearer {self.secret}"
        for i in range(self.args.connections):
            r = api.post(
                self.url + "/connections",
                json={
                    "provider_config_key": "github",
                    "connection_id": f"c{i}",
                    "credentials": {"type": "OAUTH2", "access_token": f"gho_bench_{i}"},
                },
            )
            r.raise_for_status()
        b.manage(
            self.env,
            "shell",
            "-c",
            "from integrations.models import Environment;"
            f"Environment.objects.update(action_concurrency={self.args.concurrency})",
        )

    def worker_command(self) -> list[str]:
        return [sys.executable, str(b.ROOT / "manage.py"), "qcluster"]

    def headers(self, i: int) -> dict:
        return {
            "Authorization": f"Bearer {self.secret}",
            "Connection-Id": f"c{i % self.args.connections}",
            "Provider-Config-Key": "github",
            "X-Async": "true",
        }

    def failed(self, after: int) -> int:
        return self.rows(
            f"SELECT COUNT(*) FROM {self.table} WHERE id > ? AND status != 'succeeded'",
            (after,),
        )[0][0]


class Reference(Side, b.Reference):
    """bench/reference/: a DRF view that enqueues a trivial django-q2 task."""

    name = "reference"
    table = "refsite_run"
    path = "/enqueue"

    def __init__(self, backend, workdir, provider_url, args, database_url="", redis_url=""):
        super().__init__(backend, workdir, provider_url, args, database_url)
        self.queue_env(args, redis_url)

    def setup(self) -> None:
        super().setup(self.args.connections)

    def worker_command(self) -> list[str]:
        # Run from the repository like the platform's: the reference's settings find
        # refsite through PYTHONPATH.
        return [sys.executable, str(b.REFERENCE / "manage.py"), "qcluster"]

    def headers(self, i: int) -> dict:
        return {"Connection-Id": f"c{i % self.args.connections}", "Provider-Config-Key": "github"}


def fire(side: Side, runs: int, clients: int, rate: float = 0.0) -> list[float]:
    """`runs` triggers from `clients` threads: as fast as the server answers, or, with a
    `rate`, trigger number i is sent at i / rate seconds after the start (open loop: a
    client that falls behind sends at once). The 202s' latencies."""
    accept, lock = [], threading.Lock()
    counter = iter(range(runs))
    start = time.perf_counter() + 0.1
    body = json.dumps({"action_name": "get-user"}).encode()

    def client():
        # http.client rather than requests: the load generator shares the machine's two
        # cores with the servers, and requests costs it several times the CPU per call.
        parts = urlsplit(side.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                conn.close()
                return
            if rate:
                time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            headers = {"Content-Type": "application/json", **side.headers(i)}
            started = time.perf_counter()
            conn.request("POST", side.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            elapsed = time.perf_counter() - started
            if r.status != 202:
                raise RuntimeError(f"{side.name} {i}: {r.status} {data[:300]!r}")
            with lock:
                accept.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return accept


def load(side: Side, runs: int, args, rate: float = 0.0) -> dict:
    """One load on a side whose workers run: its figures from the records."""
    after = side.last_pk()
    accept = fire(side, runs, args.clients, rate)
    side.wait_done(after, runs, args.time_limit)
    times = side.times(after)
    latency = [(f - c).total_seconds() * 1000 for c, f in times]
    span = (max(f for _, f in times) - min(c for c, _ in times)).total_seconds()
    return {
        "runs": len(times),
        "failed": side.failed(after),
        "drain": len(times) / span,
        "median": statistics.median(latency),
        "p99": percentile(latency, 0.99),
        "accept_median": statistics.median(accept) * 1000,
        "accept_p99": percentile(accept, 0.99) * 1000,
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def row(backend: str, side: str, kind: str, r: dict) -> str:
    failed = f"  !! {r['failed']} not succeeded" if r["failed"] else ""
    return (
        f"{backend:<15} {side:<10} {kind:<12} {r['runs']:>5} {r['drain']:>8.0f} "
        f"{r['median']:>9.1f} {r['p99']:>9.1f} {r['accept_median']:>9.2f} "
        f"{r['accept_p99']:>9.2f}{failed}"
    )


HEADER = (
    f"{'backend':<15} {'side':<10} {'load':<12} {'runs':>5} {'runs/s':>8} {'t→r med':>9} "
    f"{'t→r p99':>9} {'202 med':>9} {'202 p99':>9}   (ms)"
)


def scenario(backend: str, args, provider_url: str, db_urls=("", ""), redis_url="") -> list:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-async-{backend}-"))
    sides = [
        cls(backend, workdir, provider_url, args, url, redis_url)
        for cls, url in zip((Ours, Reference), db_urls, strict=True)
    ]
    results = []
    try:
        for side in sides:
            side.setup()
        print(f"\n{HEADER}")
        for _ in range(args.rounds):
            got = {}
            for side in sides:
                side.start_workers()
                try:
                    load(side, 100, args)  # warm-up: imports, connections, compiled code
                    flood = load(side, args.runs, args)
                    print(row(backend, side.name, "flood", flood), flush=True)
                    rate = flood["drain"] / 2
                    paced = load(side, args.runs, args, rate)
                    print(row(backend, side.name, f"{rate:.0f}/s", paced), flush=True)
                finally:
                    side.stop_workers()
                got[side.name] = flood, paced
            results.append(got)
    finally:
        for side in sides:
            side.stop_workers()
            side.stop()
    return results


def summary(backend: str, rounds: list) -> list[str]:
    target = TARGETS["sqlite" if backend.startswith("sqlite") else "postgres"]
    lines = []
    for i, got in enumerate(rounds, 1):
        ours, ref = got["trigger"][0], got["reference"][0]
        ratio = ours["drain"] / ref["drain"]
        lines.append(
            f"{backend:<15} round {i}: drain {ours['drain']:.0f} vs {ref['drain']:.0f} runs/s "
            f"= {ratio:.2f}x (target >= {target}: {'met' if ratio >= target else 'MISSED'}); "
            f"trigger→result median at half the flood rate {got['trigger'][1]['median']:.1f} "
            f"vs {got['reference'][1]['median']:.1f} ms"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--qworkers", type=int, default=2, help="qcluster processes")
    parser.add_argument("--qworker-threads", type=int, default=1, help="Q_WORKERS of each")
    parser.add_argument(
        "--concurrency", type=int, default=4, help="environment concurrency (the default, 4)"
    )
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--time-limit", type=float, default=900)
    # What bench_sync's servers read for gunicorn.
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--gunicorn-arg", action="append", default=[])
    args = parser.parse_args()
    timer = b.watchdog(args.time_limit)
    lines, failed = [], 0
    try:
        provider_url = b.start_fake_provider()
        print(
            f"{args.runs} async runs per load over {args.connections} connections, "
            f"{args.clients} clients, {args.qworkers} qcluster processes x "
            f"{args.qworker_threads} workers, {args.rounds} rounds"
        )
        for backend in args.backends.split(","):
            name = {"sqlite": "sqlite+orm", "postgres": "postgres+redis"}.get(backend, backend)
            if backend == "sqlite":
                rounds = scenario(name, args, provider_url)
            elif backend == "postgres":
                urls = (b.create_pg_database(args.pg_url), b.create_pg_database(args.pg_url))
                if None in urls:
                    continue
                try:
                    import redis

                    redis.Redis.from_url(args.redis_url).ping()
                except Exception as exc:  # any failure to reach Redis: skip, say why
                    print(f"note: Redis at {args.redis_url} unreachable ({exc}): skipped")
                    continue
                rounds = scenario(name, args, provider_url, urls, args.redis_url)
            else:
                print(f"note: unknown backend {backend!r} skipped")
                continue
            failed += sum(r[0]["failed"] + r[1]["failed"] for g in rounds for r in g.values())
            lines += summary(name, rounds)
    finally:
        timer.cancel()
        b.cleanup_all()
    print("\nratios to raw django-q2 (same round):")
    for line in lines:
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

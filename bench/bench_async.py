"""Benchmark: async triggers from 202 to result, and how fast the queue drains.

Per backend, two loads of 2,000 `X-Async: true` triggers each, of an action that does one
`nango.get` to the fake provider, spread round-robin over 50 connections and sent by 16
client threads, with 2 worker processes draining the queue (two `manage.py qcluster`
processes with Q_WORKERS=1 each: on this 2-core machine, more worker processes only add
context switches):

  flood   the clients send as fast as the server answers. Measures the drain rate (runs/s
          from the first trigger to the last result). Its trigger-to-result times are
          mostly queueing: the queue grows while the triggers come faster than it drains.
  paced   the same triggers at a steady --rate (default 400/s, the PostgreSQL throughput
          target), open loop. Measures trigger-to-result at that load, the figure the
          median target is about.

Backends: the embedded default (SQLite + django-q2's ORM broker), then PostgreSQL + the
Redis broker (skipped with a note when either is unreachable).

It prints, per load, from the executions' own timestamps (created → finished):
  trigger-to-result median and p99 (ms), the 202's own latency (median, p99),
  drain throughput, and the per-run ratio to a direct call of the provider (median
  trigger-to-result / median direct call).

Usage:
    .venv/bin/python bench/bench_async.py [--runs 2000] [--rate 400] [--connections 50]
        [--clients 16]
        [--qworkers 2] [--qworker-threads 1] [--backends sqlite,postgres] [--concurrency 4]
        [--time-limit 600]
"""

import argparse
import http.client
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_sync as b  # noqa: E402  (shared process, database and platform helpers)

TARGETS = {"sqlite": {"runs_per_s": 250}, "postgres": {"runs_per_s": 400, "median_ms": 25}}


class AsyncPlatform(b.Platform):
    """The sync benchmark's platform plus worker processes and many connections."""

    def __init__(self, backend, workdir, provider_url, args, database_url="", redis_url=""):
        super().__init__(backend, workdir, provider_url, args, database_url)
        self.env.update(
            Q_WORKERS=str(args.qworker_threads),
            Q_POLL="0.01",
            Q_NAME=f"bench-{backend}-{secrets.token_hex(3)}",
            HEARTBEAT_SECONDS="5",
        )
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.workers = []

    def setup(self) -> None:
        super().setup()
        api = self.client()
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
        for i in range(self.args.qworkers):
            log = open(self.workdir / f"qcluster-{self.backend}-{i}.log", "ab")  # noqa: SIM115
            cmd = [sys.executable, str(b.ROOT / "manage.py"), "qcluster"]
            proc = b.spawn(cmd, env=self.env, stdout=log, stderr=b.subprocess.STDOUT)
            self.workers.append(proc)
        # Webhook deliveries have their own cluster (none are sent here: no webhook URLs).
        time.sleep(2)  # let the clusters start their workers

    def client(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False
        s.headers["Authorization"] = f"Bearer {self.secret}"
        return s

    def stop(self) -> None:
        for proc in self.workers:
            b.kill(proc)
        self.workers = []
        super().stop()


def fire(
    platform: AsyncPlatform, runs: int, clients: int, rate: float = 0.0
) -> tuple[list[str], list[float]]:
    """`runs` triggers from `clients` threads: as fast as the server answers, or, with a
    `rate`, trigger number i is sent at i / rate seconds after the start (open loop: a
    client that falls behind sends at once)."""
    ids, accept, lock = [], [], threading.Lock()
    counter = iter(range(runs))
    start = time.perf_counter() + 0.1

    def client():
        # http.client rather than requests: the load generator shares the machine's two
        # cores with the platform, and requests costs it several times the CPU per call.
        parts = urlsplit(platform.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        body = json.dumps({"action_name": "get-user"}).encode()
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                conn.close()
                return
            if rate:
                time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            headers = {
                "Authorization": f"Bearer {platform.secret}",
                "Content-Type": "application/json",
                "Connection-Id": f"c{i % platform.args.connections}",
                "Provider-Config-Key": "github",
                "X-Async": "true",
            }
            started = time.perf_counter()
            conn.request("POST", "/action/trigger", body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            elapsed = time.perf_counter() - started
            if r.status != 202:
                raise RuntimeError(f"trigger {i}: {r.status} {data[:300]!r}")
            with lock:
                ids.append(json.loads(data)["id"])
                accept.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids, accept


def collect(platform: AsyncPlatform, ids: list[str], limit: float) -> list[dict]:
    s = platform.client()
    deadline = time.monotonic() + limit
    details = []
    for id in ids:
        while True:
            r = s.get(f"{platform.url}/executions/{id}", timeout=30)
            body = r.json()
            if body["status"] in ("succeeded", "failed", "cancelled"):
                details.append(body)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"execution {id} still {body['status']} after {limit:.0f}s")
            time.sleep(0.05)
    return details


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def direct_median_ms(provider_url: str, n: int = 500) -> float:
    s = requests.Session()
    s.trust_env = False
    times = []
    for _ in range(n):
        started = time.perf_counter()
        s.get(provider_url + "/user", timeout=10).raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def scenario(backend: str, args, provider_url: str, direct_ms: float, db_url="", redis_url=""):
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-async-{backend}-"))
    platform = AsyncPlatform(backend, workdir, provider_url, args, db_url, redis_url)
    try:
        platform.setup()
        # Warm-up: imports, connections, compiled function in every worker.
        warm_ids, _ = fire(platform, 100, args.clients)
        collect(platform, warm_ids, 120)
        ids, accept = fire(platform, args.runs, args.clients)
        flood = collect(platform, ids, args.time_limit)
        paced_ids, paced_accept = fire(platform, args.runs, args.clients, args.rate)
        paced = collect(platform, paced_ids, args.time_limit)
    finally:
        platform.stop()
    target = TARGETS["sqlite" if backend.startswith("sqlite") else "postgres"]
    drain, _ = report(backend, "flood", flood, accept, direct_ms)
    met = drain >= target["runs_per_s"]
    notes = [f"target ≥{target['runs_per_s']} runs/s: {'met' if met else 'MISSED'}"]
    _, median = report(backend, f"{args.rate:g}/s", paced, paced_accept, direct_ms)
    if "median_ms" in target:
        met = median <= target["median_ms"]
        notes.append(
            f"target median ≤{target['median_ms']} ms at {args.rate:g} triggers/s: "
            f"{'met' if met else 'MISSED'}"
        )
    print(" " * 17 + "; ".join(notes))


def report(backend: str, load: str, details: list[dict], accept: list[float], direct_ms: float):
    """Print one load's figures; its drain rate (runs/s) and median trigger→result (ms)."""
    failed = [d for d in details if d["status"] != "succeeded"]
    if failed:
        print(f"!! {len(failed)} runs did not succeed, e.g. {failed[0]['error']}")
    created = [datetime.fromisoformat(d["created_at"]) for d in details]
    finished = [datetime.fromisoformat(d["finished_at"]) for d in details]
    latency = [(f - c).total_seconds() * 1000 for c, f in zip(created, finished, strict=True)]
    drain = len(details) / (max(finished) - min(created)).total_seconds()
    median = statistics.median(latency)
    print(
        f"{backend:<16} {load:<7} runs={len(details)}  trigger→result median={median:.1f} ms "
        f"p99={percentile(latency, 0.99):.1f} ms  202 median="
        f"{statistics.median(accept) * 1000:.2f} ms p99={percentile(accept, 0.99) * 1000:.2f} ms  "
        f"drain={drain:.0f} runs/s  ratio to direct={median / direct_ms:.1f}x"
    )
    return drain, median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument(
        "--rate", type=float, default=400, help="triggers/s of the paced load [400]"
    )
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
    parser.add_argument("--time-limit", type=float, default=600)
    # What bench_sync.Platform reads for gunicorn.
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--gunicorn-arg", action="append", default=[])
    args = parser.parse_args()
    timer = b.watchdog(args.time_limit)
    try:
        provider_url = b.start_fake_provider()
        direct_ms = direct_median_ms(provider_url)
        print(
            f"{args.runs} async runs over {args.connections} connections, {args.clients} "
            f"clients, {args.qworkers} qcluster processes x {args.qworker_threads} workers; "
            f"direct call median {direct_ms:.2f} ms"
        )
        for backend in args.backends.split(","):
            if backend == "sqlite":
                scenario("sqlite+orm", args, provider_url, direct_ms)
            elif backend == "postgres":
                db_url = b.create_pg_database(args.pg_url)
                if db_url is None:
                    continue
                try:
                    import redis

                    redis.Redis.from_url(args.redis_url).ping()
                except Exception as exc:  # any failure to reach Redis: skip, say why
                    print(f"note: Redis at {args.redis_url} unreachable ({exc}): skipped")
                    continue
                scenario("postgres+redis", args, provider_url, direct_ms, db_url, args.redis_url)
    finally:
        timer.cancel()
        b.cleanup_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: what a synchronous POST /action/trigger adds to the provider call it makes.

One run measures, each with a fixed number of requests after a warm-up:

  direct    a `requests` GET to the fake provider on loopback (a requests.Session per
            client thread, keep-alive)
  trigger   POST /action/trigger of an action that does one `nango.get` to the same fake
            provider and returns a small JSON object (gunicorn, keep-alive Session per thread)

at concurrency 1 and 16 (client threads), first on SQLite, then on PostgreSQL
(postgres://postgres@127.0.0.1:5432/<fresh database, created and dropped here>; skipped
with a note when the server cannot be reached). It prints requests, median and p99 latency,
throughput, and the overhead (trigger median minus direct median at the same concurrency)
next to the targets.

The fake provider (tests/fakeprovider.py) runs as its own process so it does not share a
GIL with the load generator; gunicorn runs the platform with DEBUG off, no access log.

Usage:
    .venv/bin/python bench/bench_sync.py                  # everything, defaults below
    .venv/bin/python bench/bench_sync.py --backends sqlite --workers 3 --threads 4

Flags (defaults in brackets):
    --workers N          gunicorn worker processes [4]
    --threads N          threads per gunicorn worker [2]
    --worker-class K     gunicorn worker class [gthread]
    --gunicorn-arg ARG   extra gunicorn argument, repeatable (e.g. --gunicorn-arg=--keep-alive=5)
    --backends LIST      sqlite,postgres [both]
    --pg-url URL         PostgreSQL server to create the scratch database on
                         [postgres://postgres@127.0.0.1:5432]
    --concurrency LIST   client threads per scenario [1,16]
    --requests-c1 N      requests per scenario at concurrency 1 [2000]
    --requests-cN N      requests per scenario at higher concurrency [5000]
    --warmup N           warm-up requests before each concurrency level [300]
    --time-limit S       hard limit for the whole run, in seconds [600]; past it every
                         process is killed and the script exits 3

Defaults chosen on the 2-core benchmark machine (SQLite, c=16, two runs each, req/s):
gthread 4 workers x 2 threads 390-430 (best, also the lowest p99); 3x3 330-440; 2x4
295-410; 8x2 370-385; 6x2 330-365; 5x3 330-355; 3x6 325-385; 2x8 250-330; 4x4 310-320;
1x16 140 (16 threads of one process queue on SQLite's write lock); `-k sync` with 16
workers 290 (no keep-alive). Concurrency 1 does not depend on the setting (3.6-4.2 ms).
The whole machine is CPU-bound at c=16: the load generator and the fake provider share
its 2 cores with gunicorn, so run it on an otherwise idle machine. Two threads per worker
suit this benchmark, not necessarily production, where each sync trigger holds a thread
for as long as its action runs (`--workers 2 --threads 8` was the original default).

Exit status: 0; 1 if any request failed; 3 if the time limit stopped the run. Missed
targets are printed, not failed on.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.processes import (  # noqa: E402
    free_port,
    gunicorn_command,
    manage,
    platform_env,
    scratch_postgres,
    stop_group,
)

TARGET_OVERHEAD_MS = {"sqlite": 2.0, "postgres": 3.0}  # median, at concurrency 1
TARGET_THROUGHPUT = {"sqlite": 600.0}  # triggers/s at concurrency 16

ACTION = """\
from nango import create_action


def run(nango, input):
    user = nango.get("/user").data
    return {"login": user["login"], "id": user["id"]}


action = create_action(
    description="Fetch the user (benchmark)",
    input={"type": "null"},
    output={
        "type": "object",
        "properties": {"login": {"type": "string"}, "id": {"type": "integer"}},
        "required": ["login", "id"],
    },
    exec=run,
)
"""


# --- processes ------------------------------------------------------------------------

_processes: list[subprocess.Popen] = []
_cleanups: list = []
_cleanup_lock = threading.Lock()


def spawn(args: list[str], env: dict | None = None, **kw) -> subprocess.Popen:
    """A child in its own process group, so that kill() reaches its children too."""
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, start_new_session=True, **kw
    )
    _processes.append(proc)
    return proc


def kill(proc: subprocess.Popen, grace: float = 5.0) -> None:
    stop_group(proc, grace)
    if proc in _processes:
        _processes.remove(proc)


def cleanup_all() -> None:
    with _cleanup_lock:
        for proc in list(_processes):
            kill(proc, grace=2.0)
        while _cleanups:
            try:
                _cleanups.pop()()
            except Exception as exc:  # cleanup goes on whatever fails
                print(f"cleanup: {type(exc).__name__}: {exc}", file=sys.stderr)


def watchdog(limit: float) -> threading.Timer:
    def fire():
        print(f"\n!! time limit of {limit:.0f}s reached: stopping everything", flush=True)
        cleanup_all()
        os._exit(3)

    timer = threading.Timer(limit, fire)
    timer.daemon = True
    timer.start()
    return timer


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url}: no answer after {timeout:.0f}s")


def start_fake_provider() -> str:
    proc = spawn(
        [sys.executable, str(ROOT / "tests" / "fakeprovider.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        raise RuntimeError(f"fake provider did not start: {line!r}")
    url = line.removeprefix("listening on ")
    wait_http(url, proc)
    return url


# --- PostgreSQL scratch database ------------------------------------------------------


def create_pg_database(server_url: str) -> str | None:
    """A fresh database on the server; its URL, or None (with a note) if unreachable."""
    try:
        import psycopg
    except ImportError:
        print("note: psycopg is not installed: PostgreSQL skipped")
        return None
    try:
        url, drop = scratch_postgres(server_url, "bench")
    except psycopg.Error as exc:
        print(f"note: PostgreSQL at {server_url} is not reachable ({exc}): skipped")
        return None
    _cleanups.append(drop)
    return url


# --- load -----------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    mode: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: int = 0
    first_error: str = ""
    wall: float = 0.0
    truncated: bool = False

    @property
    def count(self) -> int:
        return len(self.latencies) + self.errors

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def p99_ms(self) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000

    @property
    def throughput(self) -> float:
        return self.count / self.wall if self.wall else 0.0


def run_load(
    send, concurrency: int, total: int, stop_at: float, result: Result | None = None
) -> Result:
    """`total` calls of send(session) -> error text or "", spread over `concurrency`
    threads, each with its own keep-alive Session; stops early at `stop_at`."""
    result = result or Result("", "", concurrency)
    counter = iter(range(total))
    lock = threading.Lock()
    per_thread: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[str] = []
    go = threading.Event()

    def worker(latencies: list[float]) -> None:
        session = requests.Session()
        session.trust_env = False
        go.wait()
        try:
            while True:
                with lock:
                    if next(counter, None) is None:
                        return
                if time.monotonic() > stop_at:
                    result.truncated = True
                    return
                started = time.perf_counter()
                try:
                    error = send(session)
                except requests.RequestException as exc:
                    error = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - started
                if error:
                    with lock:
                        errors.append(error)
                else:
                    latencies.append(elapsed)
        finally:
            session.close()

    threads = [threading.Thread(target=worker, args=(per_thread[i],)) for i in range(concurrency)]
    for t in threads:
        t.start()
    started = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    result.wall = time.perf_counter() - started
    result.latencies = [x for lat in per_thread for x in lat]
    result.errors = len(errors)
    result.first_error = errors[0] if errors else ""
    return result


def direct_sender(provider_url: str):
    url = provider_url + "/user"

    def send(session: requests.Session) -> str:
        r = session.get(url, timeout=10)
        return "" if r.status_code == 200 and r.content else f"{r.status_code} {r.text[:200]}"

    return send


def trigger_sender(server_url: str, secret: str):
    url = server_url + "/action/trigger"
    headers = {
        "Authorization": f"Bearer {secret}",
        "Connection-Id": "bench-conn",
        "Provider-Config-Key": "github",
    }
    body = json.dumps({"action_name": "get-user"})
    expected = {"login": "octocat", "id": 1}

    def send(session: requests.Session) -> str:
        r = session.post(url, data=body, headers=headers, timeout=30)
        if r.status_code != 200 or r.json() != expected:
            return f"{r.status_code} {r.text[:300]}"
        return ""

    return send


# --- the platform ---------------------------------------------------------------------


class Platform:
    def __init__(self, backend: str, workdir: Path, provider_url: str, args, database_url=""):
        self.backend = backend
        self.secret = str(uuid.uuid4())
        self.args = args
        self.workdir = workdir
        env = platform_env(
            workdir,
            {"github": provider_url},
            SQLITE_PATH=str(workdir / f"{backend}.sqlite3"),
        )
        if database_url:
            env["DATABASE_URL"] = database_url
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def setup(self) -> None:
        manage(self.env, "migrate", "--noinput")
        manage(self.env, "create_environment", "bench", "--secret-key", self.secret)
        self.start()
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {self.secret}"
        r = api.post(
            self.url + "/integrations", json={"unique_key": "github", "provider": "github"}
        )
        r.raise_for_status()
        r = api.post(
            self.url + "/connections",
            json={
                "provider_config_key": "github",
                "connection_id": "bench-conn",
                "credentials": {"type": "OAUTH2", "access_token": "gho_bench_token"},
            },
        )
        r.raise_for_status()
        functions = self.workdir / f"functions-{self.backend}"
        path = functions / "github" / "actions" / "get_user.py"
        path.parent.mkdir(parents=True)
        path.write_text(ACTION)
        manage(self.env, "deploy", "bench", "--dir", str(functions))

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        a = self.args
        self.log = open(self.workdir / f"gunicorn-{self.backend}.log", "ab")  # noqa: SIM115
        self.proc = spawn(
            gunicorn_command(port, a.workers, a.threads, a.worker_class, a.gunicorn_arg),
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(self.url + "/integrations", self.proc)
        except RuntimeError:
            self.log.flush()
            print((self.workdir / f"gunicorn-{self.backend}.log").read_text()[-3000:])
            raise

    def stop(self) -> None:
        if self.proc is not None:
            kill(self.proc)
            self.proc = None
            self.log.close()


# --- report ---------------------------------------------------------------------------


def fmt_row(r: Result, direct: dict[int, Result]) -> str:
    overhead = ""
    if r.mode == "trigger" and r.concurrency in direct:
        overhead = f"{r.median_ms - direct[r.concurrency].median_ms:8.2f}"
    flags = []
    if r.errors:
        flags.append(f"{r.errors} errors")
    if r.truncated:
        flags.append("stopped by time limit")
    return (
        f"{r.backend:<9} {r.mode:<8} {r.concurrency:>3} {r.count:>6} {r.median_ms:>9.2f} "
        f"{r.p99_ms:>9.2f} {r.throughput:>9.0f} {overhead:>9}  {', '.join(flags)}"
    )


def targets(r: Result, direct: dict[int, Result]) -> list[str]:
    lines = []
    if r.mode != "trigger" or not r.latencies:
        return lines
    if r.concurrency == 1 and r.backend in TARGET_OVERHEAD_MS and 1 in direct:
        goal = TARGET_OVERHEAD_MS[r.backend]
        got = r.median_ms - direct[1].median_ms
        verdict = "met" if got <= goal else "MISSED"
        lines.append(
            f"  target {r.backend} c=1 median overhead <= {goal:g} ms: {got:.2f} ms -> {verdict}"
        )
    if r.concurrency == 16 and r.backend in TARGET_THROUGHPUT:
        goal = TARGET_THROUGHPUT[r.backend]
        verdict = "met" if r.throughput >= goal else "MISSED"
        lines.append(
            f"  target {r.backend} c=16 throughput >= {goal:g} req/s: "
            f"{r.throughput:.0f} req/s -> {verdict}"
        )
    return lines


HEADER = (
    f"{'backend':<9} {'mode':<8} {'c':>3} {'reqs':>6} {'median ms':>9} {'p99 ms':>9} "
    f"{'req/s':>9} {'overhead':>9}"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--gunicorn-arg", action="append", default=[])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--requests-c1", type=int, default=2000)
    parser.add_argument("--requests-cN", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--time-limit", type=float, default=600)
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    started = time.monotonic()
    # Scenarios stop issuing requests a little before the hard limit, to leave time to
    # report and clean up; the watchdog kills everything at the limit itself.
    stop_at = started + max(10.0, args.time_limit - 20)
    timer = watchdog(args.time_limit)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def count(c: int) -> int:
        return args.requests_c1 if c == 1 else args.requests_cN

    print(
        f"gunicorn: --workers {args.workers} --threads {args.threads} -k {args.worker_class} "
        f"{' '.join(args.gunicorn_arg)}; {os.cpu_count()} CPUs; python {sys.version.split()[0]}"
    )
    results: list[Result] = []
    direct: dict[int, Result] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
            workdir = Path(tmp)
            provider_url = start_fake_provider()
            send = direct_sender(provider_url)
            print(f"\n{HEADER}")
            for c in levels:
                run_load(send, c, args.warmup, stop_at)
                r = run_load(send, c, count(c), stop_at, Result("loopback", "direct", c))
                direct[c] = r
                results.append(r)
                print(fmt_row(r, direct), flush=True)

            for backend in backends:
                database_url = ""
                if backend == "postgres":
                    database_url = create_pg_database(args.pg_url)
                    if not database_url:
                        continue
                elif backend != "sqlite":
                    print(f"note: unknown backend {backend!r} skipped")
                    continue
                platform = Platform(backend, workdir, provider_url, args, database_url)
                try:
                    platform.setup()
                    send = trigger_sender(platform.url, platform.secret)
                    for c in levels:
                        warm = run_load(send, c, args.warmup, stop_at)
                        if warm.errors:
                            print(f"warm-up errors ({warm.errors}): {warm.first_error}")
                        r = run_load(send, c, count(c), stop_at, Result(backend, "trigger", c))
                        results.append(r)
                        print(fmt_row(r, direct), flush=True)
                        for line in targets(r, direct):
                            print(line, flush=True)
                        if r.errors:
                            print(f"  first error: {r.first_error}")
                finally:
                    platform.stop()
                if time.monotonic() > stop_at:
                    print("time limit: the remaining scenarios were skipped")
                    break
    finally:
        cleanup_all()
        timer.cancel()

    print(
        f"\ntargets: median overhead at c=1 <= 2 ms (SQLite), <= 3 ms (PostgreSQL); "
        f">= 600 triggers/s at c=16 (SQLite). Total time {time.monotonic() - started:.0f}s."
    )
    # Missed targets are reported, not failed on; requests that failed make the run fail.
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

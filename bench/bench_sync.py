"""Benchmark: a synchronous POST /action/trigger against a minimal Django view doing the
same essential work, side by side in one run.

One run measures, each with a fixed number of requests after a warm-up:

  direct     a `requests` GET to the fake provider on loopback (a requests.Session per
             client thread, keep-alive)
  trigger    POST /action/trigger of an action that does one `nango.get` to the same fake
             provider and returns a small JSON object
  reference  bench/reference/: a minimal, honest Django + DRF view doing the same essential
             work (headers, one ORM lookup, JSON Schema validation of input and output, one
             provider GET through a requests.Session with the bearer token, one INSERT of a
             run record, a JSON answer)

at concurrency 1 and 16 (client threads), the platform and the reference behind the same
server command (gunicorn gthread 4 x 2 by default, DEBUG off, no access log), interleaved
(direct, trigger, reference), twice; on SQLite, then on PostgreSQL
(postgres://postgres@127.0.0.1:5432/<fresh databases, created and dropped here>; skipped
with a note when the server cannot be reached). It prints requests, median and p99 latency,
throughput and overhead (median minus the direct median of the same round) per row, then
per backend the ratios the targets are about:

  c=1   trigger overhead / reference overhead     target <= 0.9 (faster while doing more)
  c=16  trigger req/s / reference req/s           target >= 1.1

The fake provider (tests/fakeprovider.py) runs as its own process so it does not share a
GIL with the load generator.

Usage:
    .venv/bin/python bench/bench_sync.py                  # everything, defaults below
    .venv/bin/python bench/bench_sync.py --backends sqlite --workers 3 --threads 4

Flags (defaults in brackets):
    --workers N          gunicorn worker processes [4]
    --threads N          threads per gunicorn worker [2]
    --worker-class K     gunicorn worker class [gthread]
    --gunicorn-arg ARG   extra gunicorn argument, repeatable (e.g. --gunicorn-arg=--keep-alive=5)
    --client NAME        the load generator's client for triggers and the reference: requests,
                         or http (http.client: less of the cores left to the server) [requests]
    --server NAME        gunicorn, or granian (an alternative measured: `pip install granian`;
                         --workers and --threads as its workers and blocking threads) [gunicorn]
    --backends LIST      sqlite,postgres [both]
    --pg-url URL         PostgreSQL server to create the scratch databases on
                         [postgres://postgres@127.0.0.1:5432]
    --concurrency LIST   client threads per scenario [1,16]
    --requests-c1 N      requests per scenario at concurrency 1 [2000]
    --requests-cN N      requests per scenario at higher concurrency [5000]
    --warmup N           warm-up requests before each scenario [300]
    --rounds N           interleaved rounds [2]
    --time-limit S       hard limit for the whole run, in seconds [900]; past it every
                         process is killed and the script exits 3

The whole machine is CPU-bound at c=16: the load generator and the fake provider share
its 2 cores with the server, so run it on an otherwise idle machine; the ratios, taken in
the same round, are what to compare across runs.

Exit status: 0; 1 if any request failed; 3 if the time limit stopped the run. Missed
targets are printed, not failed on.
"""

import argparse
import http.client
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
from urllib.parse import urlsplit

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

REFERENCE = ROOT / "bench" / "reference"
TARGET_C1_OVERHEAD_RATIO = 0.9  # trigger overhead / reference overhead, at most
TARGET_CN_THROUGHPUT_RATIO = 1.1  # trigger req/s / reference req/s, at least

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
        session = getattr(send, "open", plain_session)()
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
                except (requests.RequestException, OSError, http.client.HTTPException) as exc:
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


def plain_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def direct_sender(provider_url: str):
    url = provider_url + "/user"

    def send(session: requests.Session) -> str:
        r = session.get(url, timeout=10)
        return "" if r.status_code == 200 and r.content else f"{r.status_code} {r.text[:200]}"

    return send


def trigger_sender(server_url: str, secret: str, path: str = "/action/trigger", lean=False):
    url = server_url + path
    headers = {
        "Authorization": f"Bearer {secret}",
        "Connection-Id": "bench-conn",
        "Provider-Config-Key": "github",
        "Content-Type": "application/json",
    }
    body = json.dumps({"action_name": "get-user"})
    expected = {"login": "octocat", "id": 1}

    def send(session: requests.Session) -> str:
        r = session.post(url, data=body, headers=headers, timeout=30)
        if r.status_code != 200 or r.json() != expected:
            return f"{r.status_code} {r.text[:300]}"
        return ""

    if not lean:
        return send
    # `--client http`: http.client, a fraction of requests' CPU per call, so that less of
    # the two cores goes to the load generator and more of the figure is the server's.
    parts = urlsplit(url)

    def lean_send(conn: http.client.HTTPConnection) -> str:
        conn.request("POST", parts.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        if r.status != 200 or json.loads(data) != expected:
            return f"{r.status} {data[:300]!r}"
        return ""

    lean_send.open = lambda: http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    return lean_send


# --- the platform and the reference ---------------------------------------------------


class Server:
    """A WSGI app behind the benchmark's gunicorn command."""

    app = "nangosite.wsgi"
    name = "trigger"
    path = "/action/trigger"

    def __init__(self, backend: str, workdir: Path, provider_url: str, args, database_url=""):
        self.backend = backend
        self.secret = str(uuid.uuid4())
        self.args = args
        self.workdir = workdir
        self.env = self.environment(provider_url, database_url)
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def environment(self, provider_url: str, database_url: str) -> dict:
        env = platform_env(
            self.workdir,
            {"github": provider_url},
            SQLITE_PATH=str(self.workdir / f"{self.name}-{self.backend}.sqlite3"),
        )
        if database_url:
            env["DATABASE_URL"] = database_url
        return env

    def sender(self):
        lean = getattr(self.args, "client", "requests") == "http"
        return trigger_sender(self.url, self.secret, self.path, lean)

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        a = self.args
        logfile = self.workdir / f"gunicorn-{self.name}-{self.backend}.log"
        self.log = open(logfile, "ab")  # noqa: SIM115
        if getattr(a, "server", "gunicorn") == "granian":
            # The alternative measured: granian (Rust HTTP, WSGI on its blocking threads).
            if not (Path(sys.executable).parent / "granian").exists():
                raise SystemExit("--server granian: pip install granian into this venv first")
            command = [
                str(Path(sys.executable).parent / "granian"), "--interface", "wsgi",
                "--workers", str(a.workers), "--blocking-threads", str(a.threads),
                "--host", "127.0.0.1", "--port", str(port), "--no-ws", "--log-level", "warning",
                f"{self.app}:application",
            ]  # fmt: skip
        else:
            command = gunicorn_command(
                port, a.workers, a.threads, a.worker_class, a.gunicorn_arg, app=self.app
            )
        self.proc = spawn(command, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_http(self.url + self.path, self.proc)
        except RuntimeError:
            self.log.flush()
            print(logfile.read_text()[-3000:])
            raise

    def stop(self) -> None:
        if self.proc is not None:
            kill(self.proc)
            self.proc = None
            self.log.close()


class Platform(Server):
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
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ACTION)
        manage(self.env, "deploy", "bench", "--dir", str(functions))


class Reference(Server):
    """bench/reference/: the minimal Django + DRF view (and raw django-q2 task)."""

    app = "refsite.wsgi"
    name = "reference"
    path = "/trigger"

    def environment(self, provider_url: str, database_url: str) -> dict:
        env = super().environment(provider_url, database_url)
        env.update(
            DJANGO_SETTINGS_MODULE="refsite.settings",
            PYTHONPATH=str(REFERENCE),
            PROVIDER_URL=provider_url,
        )
        return env

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(REFERENCE / "manage.py"), *args],
            cwd=REFERENCE,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"reference {args}: {done.stderr[-2000:]}")
        return done.stdout

    def setup(self, connections: int = 1) -> None:
        self.manage("migrate", "--noinput")
        self.manage(
            "shell",
            "-c",
            "from refsite.models import Connection;"
            "Connection.objects.bulk_create([Connection(provider_config_key='github',"
            " connection_id='bench-conn', access_token='gho_bench_token')] + ["
            "Connection(provider_config_key='github', connection_id=f'c{i}',"
            f" access_token=f'gho_bench_{{i}}') for i in range({connections})])",
        )
        self.start()


# --- report ---------------------------------------------------------------------------


def fmt_row(r: Result, direct: Result | None) -> str:
    overhead = ""
    if r.mode != "direct" and direct is not None:
        overhead = f"{r.median_ms - direct.median_ms:8.2f}"
    flags = []
    if r.errors:
        flags.append(f"{r.errors} errors")
    if r.truncated:
        flags.append("stopped by time limit")
    return (
        f"{r.backend:<9} {r.mode:<10} {r.concurrency:>3} {r.count:>6} {r.median_ms:>9.2f} "
        f"{r.p99_ms:>9.2f} {r.throughput:>9.0f} {overhead:>9}  {', '.join(flags)}"
    )


HEADER = (
    f"{'backend':<9} {'mode':<10} {'c':>3} {'reqs':>6} {'median ms':>9} {'p99 ms':>9} "
    f"{'req/s':>9} {'overhead':>9}"
)


def ratios(backend: str, rounds: list[dict[tuple[str, int], Result]]) -> list[str]:
    """Per round, the ratios the targets are about."""
    lines = []
    for i, got in enumerate(rounds, 1):
        parts = []
        if all(k in got for k in (("direct", 1), ("trigger", 1), ("reference", 1))):
            direct = got["direct", 1].median_ms
            ours = got["trigger", 1].median_ms - direct
            ref = got["reference", 1].median_ms - direct
            ratio = ours / ref if ref > 0 else float("inf")
            verdict = "met" if ratio <= TARGET_C1_OVERHEAD_RATIO else "MISSED"
            parts.append(
                f"c=1 overhead {ours:.2f} / {ref:.2f} ms = {ratio:.2f}x "
                f"(<= {TARGET_C1_OVERHEAD_RATIO}: {verdict})"
            )
        cn = [c for (mode, c) in got if mode == "trigger" and c > 1]
        for c in cn:
            if ("reference", c) in got:
                ours, ref = got["trigger", c].throughput, got["reference", c].throughput
                ratio = ours / ref if ref else float("inf")
                verdict = "met" if ratio >= TARGET_CN_THROUGHPUT_RATIO else "MISSED"
                parts.append(
                    f"c={c} {ours:.0f} / {ref:.0f} req/s = {ratio:.2f}x "
                    f"(>= {TARGET_CN_THROUGHPUT_RATIO}: {verdict})"
                )
        lines.append(f"  {backend} round {i}: " + "; ".join(parts))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--gunicorn-arg", action="append", default=[])
    parser.add_argument("--server", choices=["gunicorn", "granian"], default="gunicorn")
    parser.add_argument("--client", choices=["requests", "http"], default="requests")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--requests-c1", type=int, default=2000)
    parser.add_argument("--requests-cN", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=900)
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
        f"{args.server}: --workers {args.workers} --threads {args.threads} -k {args.worker_class} "
        f"{' '.join(args.gunicorn_arg)}; {os.cpu_count()} CPUs; python {sys.version.split()[0]}"
    )
    results: list[Result] = []
    summary: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
            workdir = Path(tmp)
            provider_url = start_fake_provider()
            direct_send = direct_sender(provider_url)
            for backend in backends:
                servers: list[Server] = []
                for cls in (Platform, Reference):
                    database_url = ""
                    if backend == "postgres":
                        database_url = create_pg_database(args.pg_url)
                        if not database_url:
                            break
                    elif backend != "sqlite":
                        print(f"note: unknown backend {backend!r} skipped")
                        break
                    servers.append(cls(backend, workdir, provider_url, args, database_url))
                if len(servers) < 2:
                    continue
                rounds = []
                try:
                    for server in servers:
                        server.setup()
                    print(f"\n{HEADER}")
                    for _ in range(args.rounds):
                        got: dict[tuple[str, int], Result] = {}
                        for c in levels:
                            run_load(direct_send, c, args.warmup, stop_at)
                            r = run_load(
                                direct_send, c, count(c), stop_at, Result(backend, "direct", c)
                            )
                            got["direct", c] = r
                            print(fmt_row(r, None), flush=True)
                            for server in servers:
                                send = server.sender()
                                warm = run_load(send, c, args.warmup, stop_at)
                                if warm.errors:
                                    print(f"warm-up errors ({warm.errors}): {warm.first_error}")
                                r = run_load(
                                    send, c, count(c), stop_at, Result(backend, server.name, c)
                                )
                                got[server.name, c] = r
                                results.append(r)
                                print(fmt_row(r, got["direct", c]), flush=True)
                                if r.errors:
                                    print(f"  first error: {r.first_error}")
                        rounds.append(got)
                        if time.monotonic() > stop_at:
                            break
                finally:
                    for server in servers:
                        server.stop()
                summary += ratios(backend, rounds)
                if time.monotonic() > stop_at:
                    print("time limit: the remaining scenarios were skipped")
                    break
    finally:
        cleanup_all()
        timer.cancel()

    print("\nratios to the reference (same round):")
    for line in summary:
        print(line)
    print(f"Total time {time.monotonic() - started:.0f}s.")
    # Missed targets are reported, not failed on; requests that failed make the run fail.
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the async engine's recovery from faults, at load (tests/faults.py).

Each scenario: 2 qclusters for runs (2 workers each) and one for webhook deliveries, 20
connections, a steady 50 async triggers/s for 30 s of an action that calls the provider once
and sleeps 50-300 ms, action_concurrency 4 (so the queue is full: the runs arrive faster
than four at a time can end them), X-Max-Retries 2, a webhook per run end. Then:

  none        no fault: webhook lag with the queue full
  sigkill     one runs cluster SIGKILLed whole at 8 s and started again at once
  redis       the Redis broker SIGKILLed at 8 s, back 3 s later (SQLite database)
  postgres    PostgreSQL stopped (immediate) at 8 s, back 5 s later (Redis broker)
  backlog     no fault, but django-q2's Q_TIMEOUT (40 s) shorter than the drain: each drain
              task must hand over in time, or it is killed mid-run (a spurious worker_died)

Per scenario it prints: triggers and their answers, runs lost (acknowledged and gone) and
stuck (never ended), provider calls beyond one per run that had no crashed attempt (a run
whose result was written and was run again), crashed attempts, seconds from the fault's end
until four runs ran at once again (the target: 10 s; for a SIGKILL, the dead-worker
detection time, EXECUTION_STALE_SECONDS + HEARTBEAT_SECONDS = 12 s, plus 5 s), webhook lag
p50/p99 (receipt minus the run's end; target p99 < 2 s with no fault), and the drain time.

Usage:
    .venv/bin/python bench/faults.py                       # every scenario
    .venv/bin/python bench/faults.py --scenarios none,sigkill --seconds 20

Private PostgreSQL and Redis servers are started for the scenarios that need them (never
the shared ones). Exit status: 0; 1 if a target was missed; 3 if the time limit stopped it.
"""

import argparse
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nangosite.settings")

from tests.faults import Harness, Scenario  # noqa: E402

DETECTION_SECONDS = 10 + 2  # EXECUTION_STALE_SECONDS + HEARTBEAT_SECONDS (defaults)


def scenarios(seconds: float, rate: float) -> dict[str, Scenario]:
    load = dict(
        rate=rate, seconds=seconds, sleep=(0.05, 0.3), fault_at=8.0, connections=20,
        concurrency=4, clusters=2, workers=2, settle_seconds=300,
    )  # fmt: skip
    return {
        "none": Scenario("none", **load),
        "sigkill": Scenario("sigkill", fault="sigkill", **load),
        "redis": Scenario("redis down 3 s", fault="redis", broker="redis", **load),
        "postgres": Scenario(
            "postgres down 5 s",
            fault="postgres",
            database="postgres",
            broker="redis",
            fault_seconds=5,
            **load,
        ),
        "backlog": Scenario(
            "backlog past Q_TIMEOUT",
            env={"Q_TIMEOUT": "40", "Q_RETRY": "50", "ACTION_TIMEOUT_SECONDS": "25"},
            **load,
        ),
    }


def missed(name: str, report) -> list[str]:
    problems = []
    if report.lost or report.stuck:
        problems.append(f"{report.lost} lost, {report.stuck} stuck")
    if report.extra_provider_calls:
        problems.append(f"{report.extra_provider_calls} provider calls of written results")
    if report.answers.get(500) or report.answers.get(0):
        problems.append("triggers answered 500 or not at all")
    if name in ("redis", "postgres", "backlog", "none") and report.crashed_attempts:
        problems.append(f"{report.crashed_attempts} runs presumed dead")
    if report.recovery_seconds is not None:
        limit = DETECTION_SECONDS + 5 if name == "sigkill" else 10
        if report.recovery_seconds > limit:
            problems.append(f"full concurrency {report.recovery_seconds:.1f} s after (> {limit})")
    elif name in ("sigkill", "redis", "postgres"):
        problems.append("never back at full concurrency")
    if name == "none" and (report.webhook_lag_p99 or 0) >= 2:
        problems.append(f"webhook lag p99 {report.webhook_lag_p99:.2f} s (>= 2 s)")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="none,sigkill,redis,postgres,backlog")
    parser.add_argument("--seconds", type=float, default=30, help="of load per scenario")
    parser.add_argument("--rate", type=float, default=50, help="triggers per second")
    parser.add_argument("--time-limit", type=float, default=1800)
    args = parser.parse_args()

    def out_of_time() -> None:
        print(f"time limit of {args.time_limit:.0f} s reached: stopping", flush=True)
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(args.time_limit, out_of_time)
    timer.daemon = True
    timer.start()
    known = scenarios(args.seconds, args.rate)
    failures = 0
    try:
        for name in args.scenarios.split(","):
            workdir = Path(tempfile.mkdtemp(prefix=f"faults-{name}-"))
            harness = Harness(workdir, known[name])
            try:
                harness.start()
                report = harness.run()
            finally:
                harness.stop()
            print(report.line(), flush=True)
            for problem in missed(name, report):
                failures += 1
                print(f"  MISSED: {problem}", flush=True)
    except KeyboardInterrupt:
        return 3
    print("targets: 0 lost, 0 stuck, 0 reruns of written results, full concurrency within 10 s")
    print(f"of the fault's end ({DETECTION_SECONDS + 5} s for a SIGKILL), webhook lag p99 < 2 s.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Stopping the platform processes that tests and benchmarks start in their own groups."""

import os
import signal
import subprocess
import sys


def gunicorn_command(
    port: int, workers: int, threads: int, worker_class: str = "gthread", extra=()
) -> list[str]:
    """The platform's web server on 127.0.0.1:`port`, as tests and benchmarks run it."""
    return [
        sys.executable, "-m", "gunicorn", "nangosite.wsgi",
        "-b", f"127.0.0.1:{port}",
        "--workers", str(workers), "--threads", str(threads), "-k", worker_class,
        "--graceful-timeout", "3",
        *extra,
    ]  # fmt: skip


def stop_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group, wait up to `grace` seconds, then SIGKILL what is left.

    `grace=0` kills at once (a simulated crash). The child must have been started with
    `start_new_session=True`, so that its workers are in its group.
    """
    if grace > 0 and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass

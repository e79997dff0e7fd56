"""Running the platform as separate processes, for end-to-end tests and benchmarks."""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def platform_env(workdir: Path, overrides: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment of every platform process: a fresh SQLite DB, DEBUG off, real keys.

    DATABASE_URL and REDIS_URL are not inherited: a caller that wants them passes them.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="nangosite.settings",
        SQLITE_PATH=str(workdir / "db.sqlite3"),
        STATIC_ROOT=str(workdir / "static"),
        FUNCTIONS_DIR=str(workdir / "functions"),
        PROVIDER_BASE_URL_OVERRIDES=json.dumps(overrides),
        DEBUG="False",
        SECRET_KEY=f"test-{uuid.uuid4()}",
        ENCRYPTION_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run `manage.py <args>` as a subprocess; its stdout, or an error with its output."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result.stdout


def scratch_postgres(server_url: str, prefix: str) -> tuple[str, Callable[[], None]]:
    """A new, empty database on the server, and a function that drops it.

    Raises psycopg.Error when the server cannot be reached.
    """
    import psycopg

    parts = urlsplit(server_url)
    admin = parts._replace(path="/postgres").geturl()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return parts._replace(path=f"/{name}").geturl(), drop


def gunicorn_command(
    port: int,
    workers: int,
    threads: int,
    worker_class: str = "gthread",
    extra=(),
    app: str = "nangosite.wsgi",
) -> list[str]:
    """The platform's web server on 127.0.0.1:`port`, as tests and benchmarks run it (its
    configuration is `nangosite/webserver.py`, as in production), or another WSGI `app`:
    the benchmarks' reference, behind the same server."""
    return [
        sys.executable, "-m", "gunicorn", "-c", "python:nangosite.webserver", app,
        "-b", f"127.0.0.1:{port}",
        "--workers", str(workers), "--threads", str(threads), "-k", worker_class,
        "--graceful-timeout", "3",
        *extra,
    ]  # fmt: skip


def webhook_queue(env: dict[str, str]) -> str:
    """The django-q2 queue of webhook deliveries for processes started with `env`, as
    settings.py names it."""
    return env.get("WEBHOOK_QUEUE") or f"{env.get('Q_NAME', 'nangosite')}-webhooks"


def qcluster(env: dict[str, str], logfile: Path, webhooks: bool = False) -> subprocess.Popen:
    """A `manage.py qcluster` for action runs, or (`webhooks`) for webhook deliveries."""
    if webhooks:
        env = {**env, "Q_CLUSTER_NAME": webhook_queue(env)}
    return spawn([sys.executable, str(ROOT / "manage.py"), "qcluster"], env, logfile)


def spawn(args: list[str], env: dict[str, str], logfile: Path) -> subprocess.Popen:
    """A platform process in its own process group (so `stop_group` reaches its children),
    its output appended to `logfile`."""
    with open(logfile, "ab") as log:
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_serving(proc: subprocess.Popen, url: str, timeout: float = 30) -> bool:
    """Wait until `url` answers anything (a worker is serving); False if the process exited
    or `timeout` passed first."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            requests.get(url, timeout=1)
            return True
        except requests.RequestException:
            time.sleep(0.1)
    return False


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

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from integrations.models import Environment


class Command(BaseCommand):
    help = (
        "Start the web server (gunicorn), a django-q2 cluster for action runs and one for "
        "webhook deliveries together; Ctrl-C stops them all."
    )

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.getenv("BIND", "127.0.0.1:8000"))
        parser.add_argument("--workers", type=int, default=int(os.getenv("WEB_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.getenv("WEB_THREADS", "8")))
        parser.add_argument("--no-worker", action="store_true", help="Web server only")

    def handle(self, bind, workers, threads, no_worker, **options):
        self.first_environment()
        # The admin's CSS, JS and icons, compressed and named by their content's hash, for
        # WhiteNoise to serve (files already collected and unchanged are skipped).
        call_command("collectstatic", interactive=False, verbosity=0)
        web = [
            # The server's settings and limits live in nangosite/webserver.py.
            sys.executable, "-m", "gunicorn", "-c", "python:nangosite.webserver",
            "nangosite.wsgi", "--bind", bind, "--workers", str(workers), "--threads", str(threads),
            # One line per request through our logging (text or JSON), with its execution id.
            "--access-logfile", "-", "--logger-class", "nangosite.access_log.RequestLogger",
        ]  # fmt: skip
        # Each child leads its own process group: a Ctrl-C reaches this command only, which
        # stops each child once (django-q2's cluster hangs when its processes get the
        # terminal's SIGINT and a SIGTERM too), and whatever a child leaves behind can be
        # stopped with its group.
        env = self.metrics_environment()
        children = [subprocess.Popen(web, start_new_session=True, env=env)]
        if not no_worker:
            qcluster = [sys.executable, "manage.py", "qcluster"]
            children.append(subprocess.Popen(qcluster, start_new_session=True, env=env))
            webhooks = {**env, "Q_CLUSTER_NAME": settings.WEBHOOK_QUEUE}
            children.append(subprocess.Popen(qcluster, env=webhooks, start_new_session=True))
        self.wait_listening(bind, children[0])
        self.stdout.write(
            f"serving on http://{bind} (web) with {len(children) - 1} worker cluster(s)"
        )
        # Now, not when the command exits: its output may be a pipe or a file (a service's
        # log, `make run | tee`), which Python buffers, and the keys are shown only once.
        self.stdout.flush()

        def stop(signum, frame):
            for child in children:
                if child.poll() is None:
                    child.terminate()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        # If either process dies, stop the other: a half-running platform hides failures.
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        stop(None, None)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(child.pid, signal.SIGKILL)  # anything of it still running
            except ProcessLookupError:
                pass

    def wait_listening(self, bind: str, web: subprocess.Popen, seconds: float = 60) -> None:
        """Wait until gunicorn accepts connections, so that "serving on" is true when it is
        printed (a script's next command may be a request)."""
        host, _, port = bind.rpartition(":")
        if not port.isdigit():
            return  # a unix socket, or something else gunicorn understands
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "::1"}.get(host, host)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and web.poll() is None:
            try:
                socket.create_connection((host.strip("[]"), int(port)), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)

    def metrics_environment(self) -> dict[str, str]:
        """The children's environment. With metrics on, the web server and the worker
        share their counts through PROMETHEUS_MULTIPROC_DIR (default ./var/metrics),
        emptied first: prometheus_client must not add up the files of earlier processes."""
        env = dict(os.environ)
        if settings.METRICS_TOKEN:
            folder = Path(env.get("PROMETHEUS_MULTIPROC_DIR") or settings.BASE_DIR / "var/metrics")
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
        return env

    def first_environment(self) -> None:
        """On a fresh install, make a `dev` environment and show its keys once."""
        if Environment.objects.exists():
            return
        env, secret, signing = Environment.create_with_keys("dev")
        self.stdout.write(
            self.style.SUCCESS(
                f"Created environment 'dev'.\n  secret key:          {secret}\n"
                f"  webhook signing key: {signing}\nStore them now: they are not shown again."
            )
        )

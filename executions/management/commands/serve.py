import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand

from integrations.models import Environment


class Command(BaseCommand):
    help = "Start the web server (gunicorn) and a django-q2 worker together; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.getenv("BIND", "127.0.0.1:8000"))
        parser.add_argument("--workers", type=int, default=int(os.getenv("WEB_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.getenv("WEB_THREADS", "8")))
        parser.add_argument("--no-worker", action="store_true", help="Web server only")

    def handle(self, bind, workers, threads, no_worker, **options):
        self.first_environment()
        web = [
            # The server's settings and limits live in nangosite/webserver.py.
            sys.executable, "-m", "gunicorn", "-c", "python:nangosite.webserver",
            "nangosite.wsgi", "--bind", bind, "--workers", str(workers), "--threads", str(threads),
            "--access-logfile", "-",
        ]  # fmt: skip
        # Each child leads its own process group: a Ctrl-C reaches this command only, which
        # stops each child once (django-q2's cluster hangs when its processes get the
        # terminal's SIGINT and a SIGTERM too), and whatever a child leaves behind can be
        # stopped with its group.
        children = [subprocess.Popen(web, start_new_session=True)]
        if not no_worker:
            qcluster = [sys.executable, "manage.py", "qcluster"]
            children.append(subprocess.Popen(qcluster, start_new_session=True))
        self.stdout.write(f"serving on http://{bind} (web) with {len(children) - 1} worker(s)")

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

"""Keeps this process's running executions alive, delivers their cancels, and reaps the
runs of processes that died.

One daemon thread per process. Twice a second it looks for cancels of the runs this
process holds; every HEARTBEAT_SECONDS it refreshes their heartbeat (one UPDATE for all of
them) and calls `executions.tasks.reap`, which ends the runs whose heartbeat went stale
(their process died) and wakes queues that have runnable work but no drain loop.

In a django-q2 worker process the thread runs for the life of the process (started by
django-q2's post_spawn signal, see apps.py), so a dead worker is noticed within
EXECUTION_STALE_SECONDS plus one beat even while the queue is idle. Elsewhere (a web
process running sync actions) it runs while the process holds runs.

A run is held from its claim until its end is written (`tasks.run_attempt` holds it across
the final write's retries), so a process that waits for the database to come back keeps
its runs alive. A database outage stops every process's beats at once: a process reaps
only after it has itself reached the database for a whole stale period, by which time
every live process has beaten again.
"""

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.utils.timezone import now

log = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 0.5


class Watch:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        # Runs this process holds → what stops them when they are cancelled (runs whose
        # function has ended and whose end is being written hold a no-op).
        self.running: dict[int, Callable[[], None]] = {}
        self.holds: dict[int, int] = {}
        self.thread: threading.Thread | None = None
        self.always_on = False
        # Since when this process's beats have reached the database without a failure.
        self.reachable_since: float | None = None

    def add(self, pk: int, on_cancel: Callable[[], None] = lambda: None) -> None:
        with self.lock:
            self.holds[pk] = self.holds.get(pk, 0) + 1
            self.running[pk] = on_cancel
            self._start()

    def remove(self, pk: int) -> None:
        with self.lock:
            left = self.holds.get(pk, 0) - 1
            if left > 0:
                self.holds[pk] = left
                self.running[pk] = lambda: None  # its function ended; its end is being written
            else:
                self.holds.pop(pk, None)
                self.running.pop(pk, None)

    def keep_running(self) -> None:
        """Run for the life of the process (a django-q2 worker), holding runs or not."""
        with self.lock:
            self.always_on = True
            self._start()

    def _start(self) -> None:
        if self.thread is None or not self.thread.is_alive():
            self.reachable_since = None
            self.thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
            self.thread.start()

    def beat(self, heartbeat: bool = True) -> None:
        from executions.models import Execution, Status

        with self.lock:
            watched = dict(self.running)
        if not watched:
            return
        rows = Execution.objects.filter(pk__in=list(watched), status=Status.RUNNING)
        if heartbeat:
            rows.update(heartbeat=now())
        for pk in rows.filter(cancel_requested=True).values_list("pk", flat=True):
            watched[pk]()

    def may_reap(self) -> bool:
        """Whether this process has reached the database for a whole stale period."""
        since = self.reachable_since
        return since is not None and time.monotonic() - since >= settings.EXECUTION_STALE_SECONDS

    def _loop(self) -> None:
        from executions import tasks

        last_beat = 0.0
        while True:
            time.sleep(CANCEL_POLL_SECONDS)
            with self.lock:
                if not self.running and not self.always_on:
                    # Idle: stop, closing this thread's connection; the next add() starts
                    # a new thread.
                    self.thread = None
                    connections.close_all()
                    return
            due = time.monotonic() - last_beat >= settings.HEARTBEAT_SECONDS
            try:
                self.beat(heartbeat=due)
                if due:
                    last_beat = time.monotonic()
                    if self.reachable_since is None:
                        self.reachable_since = last_beat
                    if self.may_reap():
                        tasks.reap()
            except DatabaseError:
                # A database blip: the next beat tries again; the stale threshold is
                # several beats long, and nobody reaps until it has been reachable again
                # for that long.
                self.reachable_since = None
                log.warning("heartbeat failed", exc_info=True)
            except Exception:
                # The thread must outlive whatever one round meets (a broker down).
                log.exception("heartbeat round failed")
            try:
                close_old_connections()
            except Exception:
                log.exception("closing the heartbeat's database connection failed")


watch = Watch()

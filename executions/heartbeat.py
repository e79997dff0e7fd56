"""Keeps the heartbeat of this process's running executions fresh and delivers cancels.

One daemon thread per process, started with the first run. A row whose heartbeat goes
stale belongs to a process that died; the sweep ends or re-queues it.
"""

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.utils.timezone import now

log = logging.getLogger(__name__)


class Watch:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[int, Callable[[], None]] = {}
        self.thread: threading.Thread | None = None

    def add(self, pk: int, on_cancel: Callable[[], None]) -> None:
        with self.lock:
            self.running[pk] = on_cancel
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
                self.thread.start()

    def remove(self, pk: int) -> None:
        with self.lock:
            self.running.pop(pk, None)

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

    def _loop(self) -> None:
        last_beat = 0.0
        while True:
            # Cancels are looked for twice a second; heartbeats are written less often.
            time.sleep(0.5)
            with self.lock:
                if not self.running:
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
            except DatabaseError:
                # A database blip: the next beat tries again; the stale threshold is
                # many beats long.
                log.warning("heartbeat failed", exc_info=True)
            finally:
                close_old_connections()


watch = Watch()

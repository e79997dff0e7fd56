"""The threads that run functions, and the hand-off of one run to one of them.

A sync trigger waits on its request thread while its function runs on one of these (so it
is answered at its timeout even while the function sits in a C call). The hand-off was a
tenth of a trigger with concurrent.futures (a Future with its condition variable, a work
item, a queue, a semaphore): here it is two locks, one the thread waits on for its next
run, one the trigger waits on for the end.

At most RUNNER_THREADS threads; past that, runs wait in a queue for the first free one (and
a run still waiting when its trigger gives up is never started).
"""

import threading
from collections import deque
from collections.abc import Callable

from django.conf import settings


class Job:
    """One run handed to a thread. `wait()` returns once it ended or `wake()` was called
    (a cancel); `done()`, `result()`, `cancel()` as concurrent.futures' Future."""

    __slots__ = ("fn", "args", "_wake", "_woken", "_guard", "_state", "_value", "_error")

    def __init__(self, fn: Callable, args: tuple) -> None:
        self.fn, self.args = fn, args
        self._wake = threading.Lock()
        self._wake.acquire()
        self._woken = False
        self._guard = threading.Lock()
        self._state = "queued"  # queued | running | done | cancelled
        self._value = self._error = None

    def wake(self) -> None:
        with self._guard:
            if not self._woken:
                self._woken = True
                self._wake.release()

    def wait(self, timeout: float | None) -> bool:
        """True once woken (the run ended, or a cancel); False when `timeout` passed."""
        if timeout is None:
            got = self._wake.acquire()
        else:
            got = self._wake.acquire(timeout=max(0.0, timeout))
        if got:
            self._wake.release()  # woken for good: a later wait returns at once
        return got

    def done(self) -> bool:
        return self._state == "done"

    def cancel(self) -> bool:
        """Never start it, unless it started already (False)."""
        with self._guard:
            if self._state != "queued":
                return self._state == "cancelled"
            self._state = "cancelled"
            return True

    def result(self) -> object:
        if self._error is not None:
            raise self._error
        return self._value

    def _start(self) -> bool:
        with self._guard:
            if self._state != "queued":
                return False
            self._state = "running"
            return True

    def _run(self) -> None:
        try:
            self._value = self.fn(*self.args)
        except BaseException as exc:  # kept for result(), as a Future keeps it
            self._error = exc
        self._state = "done"
        self.wake()


class Runners:
    def __init__(self, prefix: str = "action") -> None:
        self.prefix = prefix
        self.lock = threading.Lock()
        self.idle: list[_Runner] = []
        self.waiting: deque[Job] = deque()
        self.count = 0

    def submit(self, fn: Callable, *args) -> Job:
        job = Job(fn, args)
        with self.lock:
            if self.idle:
                self.idle.pop().hand(job)
            elif self.count < settings.RUNNER_THREADS:
                self.count += 1
                _Runner(self, f"{self.prefix}_{self.count}").hand(job)
            else:
                self.waiting.append(job)
        return job

    def _next(self, runner: "_Runner") -> "Job | None":
        with self.lock:
            while self.waiting:
                job = self.waiting.popleft()
                if job._start():
                    return job
            self.idle.append(runner)
            return None


class _Runner:
    def __init__(self, runners: Runners, name: str) -> None:
        self.runners = runners
        self.job: Job | None = None
        self.go = threading.Lock()
        self.go.acquire()
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    def hand(self, job: Job) -> None:
        self.job = job
        self.go.release()

    def _loop(self) -> None:
        while True:
            self.go.acquire()
            job, self.job = self.job, None
            while job is not None:
                if job._start():
                    job._run()
                job = self.runners._next(self)


_runners: Runners | None = None
_runners_lock = threading.Lock()


def runners() -> Runners:
    global _runners
    with _runners_lock:
        if _runners is None:
            _runners = Runners()
        return _runners

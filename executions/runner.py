"""Run one action against one connection, with a hard timeout.

The function runs on a pool thread while the caller waits for it with the run's timeout.
At the deadline the caller answers `action_script_failure` / timeout and raises
`ActionTimeout` inside the run's thread, which stops the function at its next Python
instruction; its provider calls are also capped by the deadline. (Python cannot preempt a
thread blocked inside C code, such as a long `time.sleep`: that thread ends when the call
returns, but the caller's answer never waits for it.)
"""

import asyncio
import ctypes
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connections

from executions import errors
from executions.context import ActionCancelled, ActionContext, ActionTimeout, RefreshFailed
from executions.errors import Failure
from executions.heartbeat import watch
from executions.models import Caller, Outcome
from executions.threads import Job, runners
from integrations.functions import Compiled, FunctionFileError, schema_errors
from integrations.models import Connection, FunctionVersion
from integrations.recorder import Recorder
from nango.errors import ActionError, HttpError, NetworkError
from nangosite.lib import storable

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    output: object = None
    failure: Failure | None = None
    recorder: Recorder = field(default_factory=Recorder)
    duration_ms: float = 0.0
    # succeeded | failed | timeout | cancelled
    outcome: Outcome = Outcome.SUCCEEDED

    @property
    def ok(self) -> bool:
        return self.failure is None


class _Interrupt:
    """Delivers an exception into the run's thread, never after the run ended."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.thread_id = 0
        self.finished = False
        self.fired = False

    def fire(self, exc: type[BaseException] = ActionTimeout) -> bool:
        """Send `exc`; False if the run had already ended (or never started)."""
        with self.lock:
            if self.thread_id and not self.finished:
                self.fired = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self.thread_id), ctypes.py_object(exc)
                )
                return True
            return False

    def finish(self) -> None:
        # After this, fire() sends nothing more. An exception already sent but not yet
        # raised arrives within the next few instructions: let it land here, not in the
        # next run on this pool thread. (Clearing it with SetAsyncExc(NULL) instead
        # leaves CPython 3.11 with a stuck flag that hangs pdb, coverage and cProfile.)
        while True:
            try:
                with self.lock:
                    self.finished = True
                if self.fired:
                    for _ in range(100):
                        pass
                return
            except (ActionTimeout, ActionCancelled):
                continue


def _trimmed_stack(exc: BaseException, files: frozenset[str]) -> list[str]:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in files]
    lines = [f'File "{f.filename}", line {f.lineno}, in {f.name}: {f.line}' for f in frames]
    return lines[-10:]


def _call(compiled_fn: Compiled, nango: ActionContext, input, deadline: float, interrupt):
    """Runs on a pool thread. Returns ("ok", output) or ("failed", Failure)."""
    action = compiled_fn.action
    interrupt.thread_id = threading.get_ident()
    try:
        if action.is_async:
            coro = action.exec(nango, input)
            remaining = max(0.0, deadline - time.monotonic())
            try:
                return "ok", asyncio.run(asyncio.wait_for(coro, remaining))
            except TimeoutError:
                raise ActionTimeout() from None
        return "ok", action.exec(nango, input)
    except ActionTimeout:
        return "timeout", None
    except ActionCancelled:
        return "cancelled", None
    except RefreshFailed as exc:
        return "failed", errors.refresh_failed(exc.payload["message"])
    except ActionError as exc:
        return "failed", action_error(nango._recorder, exc.payload)
    except HttpError as exc:
        # The provider's body is recorded, not chosen by the function: made storable.
        exc.response.data = nango._recorder.redact_json(storable.cleaned(exc.response.data))
        return "failed", errors.http_error(exc.response)
    except NetworkError as exc:
        return "failed", errors.network_error(type(exc).__name__, str(exc))
    except Exception as exc:  # any bug in the function is the function's error, reported
        stack = _trimmed_stack(exc, compiled_fn.files or frozenset({action.filename}))
        message = nango._recorder.redact(str(exc))[:2000]
        return "failed", errors.internal_error(type(exc).__name__, message, stack)
    finally:
        interrupt.finish()
        # Pool threads outlive runs: a connection a function opened (metadata, token
        # refresh) must not sit idle on a thread that may not run again for hours.
        connections.close_all()


def action_error(recorder: Recorder, payload: object) -> Failure:
    """The failure of an `ActionError`: its payload is the function's output on the error
    path, so what cannot be stored fails the run as output does."""
    try:
        storable.dumps(payload)
    except storable.Unstorable as exc:
        found = [{**e, "path": ["payload", *e["path"]]} for e in exc.errors]
        return errors.invalid_output("The ActionError payload cannot be stored", found)
    return errors.runtime_error(recorder.redact_json(payload))


def check_output(
    compiled_fn: Compiled, output: object, validate: bool = True
) -> tuple[Failure | None, str]:
    """What is wrong with a run's output, if anything, and its JSON text."""
    try:
        text = storable.dumps(output)
    except storable.Unstorable as exc:
        return errors.invalid_output(
            "The action returned output that cannot be stored", exc.errors
        ), ""
    size = len(text) if text.isascii() else len(text.encode())
    limit = settings.ACTION_MAX_OUTPUT_BYTES
    if size > limit:
        return errors.output_too_large(size, limit), text
    problems = schema_errors(compiled_fn.output_validator, output) if validate else []
    if problems:
        failure = errors.invalid_output(
            "The action output does not match the action's output schema", problems
        )
        return failure, text
    return None, text


def execute(
    compiled_fn: Compiled,
    connection: Connection,
    input: object,
    timeout: float,
    recorder: Recorder | None = None,
    validate: bool = True,
    execution_pk: int | None = None,
    on_long_run: Callable[[], int] | None = None,
    depth: int = 0,
) -> RunResult:
    """Run a loaded action; never raises for anything the function does.

    `execution_pk`: the run's row, watched for cancels while it runs. `on_long_run`: for a
    run whose row is not written yet, writes it (returning its pk) once the run has gone
    on for SYNC_RECORD_AFTER_SECONDS. `depth` counts the `nango.trigger_action` calls that
    led to this run.
    """
    recorder = recorder or Recorder()
    if validate:
        problems = schema_errors(compiled_fn.input_validator, input)
        if problems:
            return RunResult(
                failure=errors.invalid_input(problems), recorder=recorder, outcome=Outcome.FAILED
            )
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    interrupt = _Interrupt()
    cancelled = False
    job: Job | None = None

    def on_cancel() -> None:
        nonlocal cancelled
        cancelled = True
        if job is not None:
            job.wake()

    row = _Row(execution_pk, on_long_run, on_cancel)
    nango = ActionContext(connection, recorder, deadline, row, depth)
    if execution_pk is not None:
        watch.add(execution_pk, on_cancel)
    try:
        job = runners().submit(_call, compiled_fn, nango, input, deadline, interrupt)
        if cancelled:  # asked before the job existed to be woken
            job.wake()
        if on_long_run is not None:
            # A run without a row yet gets it once it runs long, so that it shows (and can
            # be cancelled) while it runs.
            if not job.wait(min(settings.SYNC_RECORD_AFTER_SECONDS, timeout)):
                row()
        job.wait(deadline - time.monotonic())
    finally:
        if row.pk is not None:
            watch.remove(row.pk)
    kind, value = "cancelled" if cancelled else "timeout", None
    if job.done():
        kind, value = job.result()
    elif job.cancel():
        pass  # still waiting for a runner thread: now it never starts
    elif not interrupt.fire(ActionCancelled if kind == "cancelled" else ActionTimeout):
        # It ended just now, on its own: its own outcome stands.
        job.wait(None)
        kind, value = job.result()
    # The run is over, even if a thread stuck in C code has not noticed yet.
    nango.release_locks()
    duration_ms = (time.perf_counter() - started) * 1000
    result = RunResult(
        recorder=recorder,
        duration_ms=duration_ms,
        outcome=Outcome.SUCCEEDED if kind == "ok" else Outcome(kind),
    )
    if kind == "timeout":
        result.failure = errors.timeout(timeout)
    elif kind == "cancelled":
        result.failure = errors.cancelled()
    elif kind == "failed":
        result.failure = value
    else:
        result.failure, text = check_output(compiled_fn, value, validate)
        if result.failure is None:
            # Recorded like the logs: the connection's credentials never in clear.
            result.output = recorder.redact_json(value, text)
        else:
            result.outcome = Outcome.FAILED
    return result


class _Row:
    """The run's execution row, as its pk: the one it has, or, for a sync run whose row is
    written when it ends, the one it gets when written earlier: when the run goes on long,
    or when its function needs it (the parent of a `trigger_action`, a lock's holder).
    Called from the waiting thread and the function's thread alike: written once."""

    def __init__(self, pk: int | None, write: Callable[[], int] | None, on_cancel) -> None:
        self.pk, self._write, self._on_cancel = pk, write, on_cancel
        self._lock = threading.Lock()

    def __call__(self) -> int | None:
        with self._lock:
            if self.pk is None and self._write is not None:
                write, self._write = self._write, None
                try:
                    self.pk = write()
                except DatabaseError:
                    # The run goes on; its end is written (and retried) when it ends.
                    log.warning("could not write the row of a running sync run", exc_info=True)
                if self.pk is not None:
                    watch.add(self.pk, self._on_cancel)
            return self.pk


def run_version(
    version: FunctionVersion,
    connection: Connection,
    input: object,
    recorder: Recorder | None = None,
    execution_pk: int | None = None,
    on_long_run: Callable[[], int] | None = None,
    caller: Caller | None = None,
) -> RunResult:
    """Run a deployed version. A child run (`caller`) must end before its caller's
    deadline, with time left for the caller to take its answer: it gets what the caller
    has left less a tenth of that (at most a second)."""
    try:
        compiled_fn = version.compiled()
    except FunctionFileError as exc:
        return RunResult(
            failure=errors.broken_function(str(exc)),
            recorder=recorder or Recorder(),
            outcome=Outcome.FAILED,
        )
    timeout = version.effective_timeout()
    if caller is not None and caller.deadline is not None:
        left = caller.deadline - time.monotonic()
        timeout = max(0.0, min(timeout, left - min(left * 0.1, 1.0)))
    return execute(
        compiled_fn,
        connection,
        input,
        timeout,
        recorder,
        execution_pk=execution_pk,
        on_long_run=on_long_run,
        depth=caller.depth if caller else 0,
    )

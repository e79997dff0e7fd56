"""How a run goes: claimed (queue.py) → run (runner.py) → recorded → announced, all owned
here. Sync triggers call `run_attempt` directly; django-q2 runs `run_next` and `sweep`.

Each function here owns the state change of the executions it touches and records its
own errors on them: nothing is left to django-q2's hooks. A run's end and the webhook
deliveries that announce it are written in one transaction (`record`), on the normal
path and on the sweep's crash path alike.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db import connection as db_connection
from django.utils.timezone import now

from executions import errors, report
from executions.heartbeat import watch
from executions.models import TERMINAL, Caller, Execution, Outcome
from executions.queue import claim_next, missing_loops, needs_wake
from executions.runner import run_version
from integrations.recorder import Recorder
from nangosite.lib import tracing
from nangosite.lib.retrying import TRANSIENT, retrying
from nangosite.lib.tasks import enqueue, pending
from webhooks import tasks as webhook_tasks
from webhooks.models import Delivery, webhook_urls

log = logging.getLogger(__name__)

# What `end_attempt` may set on the instance: put back if its transaction rolls back.
_ENDING_FIELDS = (
    "attempt_log",
    "logs",
    "provider_calls",
    "heartbeat",
    "status",
    "next_attempt_at",
    "output",
    "error",
    "http_status",
    "finished",
    "duration_ms",
)


def run_attempt(execution: Execution, caller: Caller | None = None) -> None:
    """Run the claimed (running) attempt of an execution and record how it ended; a child
    run (`nango.trigger_action`) within its `caller`'s deadline.

    The run is held by this process's heartbeat from here until its end is written, also
    while that write waits for the database to come back: it is never presumed dead, and
    so never run again, while its process lives.
    """
    if tracing.active():
        with tracing.attempt(execution) as trace:
            return _run_attempt(execution, caller, Recorder(trace=trace))
    return _run_attempt(execution, caller)


def _run_attempt(
    execution: Execution, caller: Caller | None = None, recorder: Recorder | None = None
) -> None:
    if execution.pk is not None:
        watch.add(execution.pk)

    def write_long_run() -> int:  # a deferred sync run that runs long gets its row now
        execution.write_row()
        watch.add(execution.pk)
        return execution.pk

    try:
        version, connection = execution.function_version, execution.connection_record
        if version is None or connection is None:
            # Deleted since the trigger: nothing to run, say so.
            record(execution, failure=errors.gone(), outcome=Outcome.FAILED)
            return
        try:
            result = run_version(
                version,
                connection,
                execution.input,
                recorder,
                execution_pk=execution.pk,
                on_long_run=write_long_run if execution.pk is None else None,
                caller=caller,
            )
        except Exception:
            log.exception("execution %s: the runner failed", execution.code)
            record(execution, failure=errors.platform_error(), outcome=Outcome.FAILED)
            return
        record(
            execution,
            result.output,
            result.failure,
            result.recorder.logs,
            result.recorder.calls,
            result.duration_ms,
            outcome=result.outcome,
        )
    finally:
        if execution.pk is not None:
            watch.remove(execution.pk)


def record(
    execution: Execution,
    output: object = None,
    failure: errors.Failure | None = None,
    logs: list | None = None,
    calls: list | None = None,
    duration_ms: float | None = None,
    outcome: str = "",
) -> bool:
    """Write how the running attempt ended (see `Execution.end_attempt`) and, when that
    end is announced, its webhook deliveries in the same transaction: a run never ends
    without the deliveries that tell of it (the webhook sweep sends any whose task was
    lost). Retried while the database is unreachable (FINAL_WRITE_RETRY_SECONDS); an end
    the database refuses to store is recorded as that error instead. False if the row
    had moved on. What was written is then logged and counted (`executions/report.py`)."""
    ended = _write_end(execution, output, failure, logs, calls, duration_ms, outcome)
    if ended:
        report.ended(execution)
    return ended


def _write_end(execution, output, failure, logs, calls, duration_ms, outcome) -> bool:
    ending = dict(
        output=output,
        failure=failure,
        logs=logs,
        calls=calls,
        duration_ms=duration_ms,
        outcome=outcome,
    )
    try:
        return _record(execution, ending)
    except TRANSIENT:
        raise
    except (DatabaseError, ValueError) as exc:
        # Made storable before it gets here (nangosite/lib/storable.py); whatever a
        # database still refuses (PostgreSQL's DataError, SQLite's JSON_VALID
        # IntegrityError, a string its driver cannot encode) must not leave the run
        # `running`.
        log.exception("execution %s: its end could not be stored", execution.code)
        failure = errors.unstorable(f"{type(exc).__name__}: {exc}")
        ending = dict(failure=failure, duration_ms=duration_ms, outcome=Outcome.FAILED)
        return _record(execution, ending)


def _record(execution: Execution, ending: dict) -> bool:
    def write() -> bool:
        # Inside the retried write: the webhook settings may need the database too.
        if not (execution.is_async and webhook_urls(execution)):
            return execution.end_attempt(**ending)
        before = {name: getattr(execution, name) for name in _ENDING_FIELDS}
        try:
            with transaction.atomic():
                ended = execution.end_attempt(**ending)
                if ended and execution.is_announced:
                    Delivery.objects.announce(execution)
            return ended
        except DatabaseError:
            for name, value in before.items():  # rolled back: as it was, for the retry
                setattr(execution, name, value)
            raise

    return retrying(write)


def crash(execution: Execution) -> bool:
    """End an attempt whose process died (stale heartbeat); retried if retries remain."""
    return record(execution, failure=errors.crashed(), outcome=Outcome.CRASHED)


def expire(execution: Execution) -> bool:
    """End a run that waited in the queue past QUEUED_RUN_TTL_HOURS, and announce it."""
    failure = errors.expired(settings.QUEUED_RUN_TTL_HOURS)

    def write() -> bool:
        with transaction.atomic():
            ended = execution.end_queued(failure)
            if ended and execution.is_announced:
                Delivery.objects.announce(execution)
            return ended

    ended = retrying(write)
    if ended:
        report.ended(execution, Outcome.FAILED)
    return ended


def wake(env_id: int) -> bool:
    """Ask a worker to drain an environment's queue. False if the broker could not be
    reached: the run stays queued, and the reaper wakes its queue once the broker is back
    (`missing_loops`), so a broker outage never fails a trigger or a drain loop."""
    try:
        enqueue("executions.tasks.run_next", env_id)
    except Exception:  # each broker client raises its own errors; all mean "not sent"
        log.warning("could not wake the queue of environment %s", env_id, exc_info=True)
        return False
    return True


def wake_for(execution: Execution, concurrency: int) -> None:
    """Wake a worker for a newly queued run, unless enough drain loops will reach it."""
    if needs_wake(execution, concurrency):
        wake(execution.environment_id)


def slice_seconds() -> float:
    """How long one drain task runs before it hands the queue to a fresh task: at most
    DRAIN_SLICE_SECONDS (so environments take turns on the workers), and early enough
    that a run it starts then still ends before django-q2's Q_TIMEOUT kills the task."""
    budget = settings.Q_CLUSTER["timeout"] - settings.ACTION_TIMEOUT_SECONDS - 5
    return max(0.0, min(settings.DRAIN_SLICE_SECONDS, budget))


def run_next(env_id: int) -> int:
    """django-q2 task: run the environment's runnable executions until none is left, for
    one slice of time; then hand over to a fresh task at the back of the broker's queue.

    A database outage does not end the loop: it waits for the database (with backoff, up
    to FINAL_WRITE_RETRY_SECONDS) and goes on. Past its slice, a loop that cannot hand
    over (the broker is down) keeps going while Q_TIMEOUT allows; then it stops, and the
    reaper wakes the queue once the broker is back.
    """
    ran = 0
    started = time.monotonic()
    handover = started + slice_seconds()
    hard_stop = started + settings.Q_CLUSTER["timeout"] - settings.ACTION_TIMEOUT_SECONDS - 5
    unreachable_since = None
    while True:
        clock = time.monotonic()
        # Each task runs at least one run: a slice always makes progress.
        if ran and clock >= handover and (wake(env_id) or clock >= hard_stop):
            return ran
        try:
            execution, next_due = claim_next(env_id, look_first=ran == 0)
        except TRANSIENT:
            unreachable_since = unreachable_since or clock
            if clock - unreachable_since > settings.FINAL_WRITE_RETRY_SECONDS:
                raise
            log.warning("claiming from environment %s failed; retrying", env_id)
            time.sleep(1.0)
            db_connection.close_if_unusable_or_obsolete()
            continue
        unreachable_since = None
        if execution is not None:
            run_attempt(execution)
            ran += 1
            continue
        if next_due is None:
            return ran
        wait = (next_due - now()).total_seconds()
        if wait > settings.QUEUE_WAIT_SECONDS:
            # The reaper wakes the queue when that backoff ends.
            return ran
        time.sleep(max(wait, 0.01))


def wake_missing_loops(due_before) -> int:
    """Wake a loop for each free slot of the queues whose runnable runs have waited since
    before `due_before` with nobody coming for them."""
    woken = 0
    for env_id, loops in missing_loops(due_before).items():
        woken += sum(wake(env_id) for _ in range(loops))
    return woken


def reap() -> dict:
    """The heartbeat thread's round (every HEARTBEAT_SECONDS in each worker process): end
    the runs of processes that died, give queues whose drain loops died or whose wake-ups
    were lost their loops back, and send again webhooks whose message was lost.

    A loop or a webhook counts as lost only while its broker queue holds no message: work
    that waits behind a backlog is not lost, and every worker process reaps, so sending
    more then would only grow the backlog.
    """
    crashed = sum(crash(execution) for execution in Execution.objects.stale())
    stalled = now() - timedelta(seconds=settings.QUEUE_STALL_SECONDS)
    woken = wake_missing_loops(stalled) if not pending() else 0
    webhooks = 0
    if not pending(settings.WEBHOOK_QUEUE):
        webhooks = webhook_tasks.sweep(due_before=stalled)["queued"]
    summary = {"crashed": crashed, "woken": woken, "webhooks": webhooks}
    if any(summary.values()):
        log.info("reap: %s", summary)
    return summary


def sweep() -> dict:
    """django-q2 schedule: what the reaper does (in case no heartbeat thread runs), plus
    expiring runs that never started and pruning old results."""
    crashed = sum(crash(execution) for execution in Execution.objects.stale())
    expired = sum(expire(execution) for execution in Execution.objects.expired())
    woken = wake_missing_loops(now())
    cutoff = now() - timedelta(days=settings.RESULT_RETENTION_DAYS)
    old = Execution.objects.filter(status__in=TERMINAL, finished__lt=cutoff)
    pruned = 0
    while ids := list(old.values_list("pk", flat=True)[:1000]):
        pruned += Execution.objects.filter(pk__in=ids).delete()[0]
    summary = {"crashed": crashed, "expired": expired, "woken": woken, "pruned": pruned}
    if any(summary.values()):
        log.info("sweep: %s", summary)
    return summary

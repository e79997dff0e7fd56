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

from executions import errors
from executions.models import TERMINAL, Caller, Execution, Outcome
from executions.queue import claim_next, due_environments, needs_wake
from executions.runner import run_version
from nangosite.lib.tasks import enqueue
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
    run (`nango.trigger_action`) within its `caller`'s deadline."""
    version, connection = execution.function_version, execution.connection_record
    if version is None or connection is None:
        # Deleted since the trigger: nothing to run, say so.
        record(execution, failure=errors.gone(), outcome=Outcome.FAILED)
        return
    try:
        result = run_version(
            version, connection, execution.input, execution_pk=execution.pk, caller=caller
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


def record(execution: Execution, *args, **kwargs) -> bool:
    """Write how the running attempt ended (`Execution.end_attempt`'s arguments) and, when
    that end is announced, its webhook deliveries in the same transaction: a run never
    ends without the deliveries that tell of it (the webhook sweep sends any whose task
    was lost). Retried while the database blips. False if the row had moved on."""
    if not (execution.is_async and webhook_urls(execution)):
        return _retrying(lambda: execution.end_attempt(*args, **kwargs))

    def write() -> bool:
        before = {name: getattr(execution, name) for name in _ENDING_FIELDS}
        try:
            with transaction.atomic():
                ended = execution.end_attempt(*args, **kwargs)
                if ended and execution.is_announced:
                    Delivery.objects.announce(execution)
            return ended
        except DatabaseError:
            for name, value in before.items():  # rolled back: as it was, for the retry
                setattr(execution, name, value)
            raise

    return _retrying(write)


def crash(execution: Execution) -> bool:
    """End an attempt whose process died (stale heartbeat); retried if retries remain."""
    return record(execution, failure=errors.crashed(), outcome=Outcome.CRASHED)


def _retrying(write, attempts: int = 5):
    # A briefly unreachable or locked database must not leave a run without its outcome.
    for attempt in range(attempts):
        try:
            return write()
        except DatabaseError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * 2**attempt)
            if not db_connection.in_atomic_block:
                # A connection the database dropped (restart) stays broken: reconnect.
                db_connection.close_if_unusable_or_obsolete()


def wake(env_id: int) -> None:
    """Ask a worker to drain an environment's queue."""
    enqueue("executions.tasks.run_next", env_id)


def wake_for(execution: Execution, concurrency: int) -> None:
    """Wake a worker for a newly queued run, unless enough drain loops will reach it."""
    if needs_wake(execution, concurrency):
        wake(execution.environment_id)


def run_next(env_id: int) -> int:
    """django-q2 task: run the environment's runnable executions until none is left."""
    ran = 0
    while True:
        execution, next_due = claim_next(env_id, look_first=ran == 0)
        if execution is not None:
            run_attempt(execution)
            ran += 1
            continue
        if next_due is None:
            return ran
        wait = (next_due - now()).total_seconds()
        if wait > settings.QUEUE_WAIT_SECONDS:
            # The sweep wakes the queue when that backoff ends.
            return ran
        time.sleep(max(wait, 0.01))


def sweep() -> dict:
    """django-q2 schedule: end runs whose process died, wake due queues, prune old results."""
    crashed = sum(crash(execution) for execution in Execution.objects.stale())
    woken = due_environments()
    for env_id in woken:
        wake(env_id)
    cutoff = now() - timedelta(days=settings.RESULT_RETENTION_DAYS)
    old = Execution.objects.filter(status__in=TERMINAL, finished__lt=cutoff)
    pruned = 0
    while ids := list(old.values_list("pk", flat=True)[:1000]):
        pruned += Execution.objects.filter(pk__in=ids).delete()[0]
    summary = {"crashed": crashed, "woken": len(woken), "pruned": pruned}
    if any(summary.values()):
        log.info("sweep: %s", summary)
    return summary

"""Running executions. Sync triggers call `run_attempt` directly; django-q2 runs the rest.

Each function here owns the state change of the executions it touches and records its
own errors on them: nothing is left to django-q2's hooks.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.utils.timezone import now

from executions import errors
from executions.models import TERMINAL, Execution
from executions.queue import claim_next, due_environments
from executions.runner import run_version
from nangosite.lib.tasks import enqueue

log = logging.getLogger(__name__)


def run_attempt(execution: Execution) -> None:
    """Run the claimed (running) attempt of an execution and record how it ended."""
    version, connection = execution.function_version, execution.connection
    if version is None or connection is None:
        # Deleted since the trigger: nothing to run, say so.
        execution.end_attempt(failure=errors.gone(), outcome="failed")
        return
    try:
        outcome = run_version(version, connection, execution.input, execution_pk=execution.pk)
    except Exception:
        log.exception("execution %s: the runner failed", execution.code)
        execution.end_attempt(failure=errors.platform_error(), outcome="failed")
        return
    execution.end_attempt(
        outcome.output,
        outcome.failure,
        outcome.recorder.logs,
        outcome.recorder.calls,
        outcome.duration_ms,
        outcome=outcome.kind,
    )


def wake(env_id: int) -> None:
    """Ask a worker to drain an environment's queue."""
    enqueue("executions.tasks.run_next", env_id)


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
    crashed = sum(execution.crash() for execution in Execution.objects.stale())
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

"""The async queue: executions rows are the queue; django-q2 tasks are the hands.

A trigger stores a queued row and sends `run_next(environment)` to django-q2. Whichever
worker gets it claims the oldest runnable row of that environment (FIFO), within the
environment's concurrency and never two runs of one connection at once, runs it, and
claims the next until nothing is runnable. Claims of one environment are serialized by
locking its row (PostgreSQL) or by SQLite's write lock, then made with a guarded update.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Min
from django.utils.timezone import now

from executions.models import Execution, Status
from integrations.models import Environment


def claim_next(env_id: int) -> tuple[Execution | None, datetime | None]:
    """Claim the next runnable execution; else None and when the next backoff ends."""
    moment = now()
    queued = Execution.objects.filter(environment_id=env_id, status=Status.QUEUED)
    # A plain read first: an empty queue must not take the write lock (SQLite) or the
    # environment's row lock (PostgreSQL) just to find nothing.
    if not queued.filter(next_attempt_at__lte=moment).exists():
        later = queued.aggregate(t=Min("next_attempt_at"))["t"]
        return None, later
    with transaction.atomic():
        env = Environment.objects.select_for_update().only("action_concurrency").get(pk=env_id)
        busy = list(
            Execution.objects.filter(
                environment_id=env_id, status=Status.RUNNING, is_async=True
            ).values_list("connection_id", flat=True)
        )
        if len(busy) >= env.action_concurrency:
            return None, None
        # Only the id while the lock is held: sorting whole rows (input, logs…) of a long
        # queue is what made claims slow; the index gives (created, id) order for free.
        candidate_id = (
            queued.filter(next_attempt_at__lte=moment)
            .exclude(connection_id__in=[c for c in busy if c is not None])
            .order_by("created", "pk")
            .values_list("pk", flat=True)
            .first()
        )
        if candidate_id is None:
            later = queued.filter(next_attempt_at__gt=moment).aggregate(t=Min("next_attempt_at"))
            return None, later["t"]
        won = Execution(pk=candidate_id).claim()
    if not won:
        # Cancelled between the read and the update: look again, outside the lock.
        return claim_next(env_id)
    candidate = Execution.objects.select_related(
        "function_version__function", "connection__integration__environment"
    ).get(pk=candidate_id)
    return candidate, None


def due_environments() -> list[int]:
    """Environments with queued runs whose time has come (for the sweep's wake-up)."""
    rows = Execution.objects.filter(status=Status.QUEUED, next_attempt_at__lte=now())
    return list(rows.values_list("environment_id", flat=True).distinct())


def needs_wake(execution: Execution, concurrency: int) -> bool:
    """Whether a new queued run needs its own wake-up message.

    Every drain loop runs until nothing is runnable, so while `concurrency` runs are
    already queued ahead of this one, loops for them exist (or their messages are on the
    way) and will reach it: another message would only make a worker look at an empty
    queue. The sweep remains the safety net.
    """
    ahead = Execution.objects.filter(
        environment_id=execution.environment_id,
        status=Status.QUEUED,
        created__lt=execution.created,
        # Runs waiting out a retry backoff have no loop waiting for them.
        next_attempt_at__lte=now(),
    )[:concurrency]
    return ahead.count() < concurrency

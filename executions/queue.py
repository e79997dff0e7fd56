"""The async queue: executions rows are the queue; django-q2 tasks are the hands.

A trigger stores a queued row and sends `run_next(environment)` to django-q2. Whichever
worker gets it claims the oldest runnable row of that environment (FIFO), within the
environment's concurrency and never two runs of one connection at once, runs it, and
claims the next until nothing is runnable. Claims of one environment are serialized by a
transaction-scoped advisory lock (PostgreSQL) or by SQLite's write lock, and each is one
guarded UPDATE: the lock is held for two short statements, never across Python work.
"""

import functools
from datetime import datetime

from django.db import connections, transaction
from django.db.models import Count, Min
from django.utils.timezone import now

from executions.models import Execution, Status
from integrations.models import Connection, Environment, FunctionVersion
from nangosite.lib import sql

# First key of the advisory locks that serialize claims (the second is the environment).
CLAIM_LOCK = 0x5155  # "QU"


# One statement picks and claims the oldest runnable row: queued, due, its connection not
# already running, while the environment has a free slot. The caller holds the
# environment's lock, so the statement sees every earlier claim (READ COMMITTED takes a new
# snapshot per statement) and none can slip in beside it. The statuses are literals, not
# parameters: a prepared statement's generic plan can use the partial indexes on
# status = 'queued' / 'running' only if the query says so itself.
CLAIM_SQL = """
UPDATE {execution}
SET status = 'running', started = %s, heartbeat = %s, attempts = attempts + 1
WHERE id = (
    SELECT q.id FROM {execution} q
    WHERE q.environment_id = %s AND q.status = 'queued' AND q.next_attempt_at <= %s
      AND NOT EXISTS (
          SELECT 1 FROM {execution} r
          WHERE r.environment_id = q.environment_id AND r.status = 'running' AND r.is_async
            AND r.{connection} = q.{connection}
      )
    ORDER BY q.created, q.id
    LIMIT 1
)
AND (
    SELECT count(*) FROM {execution} r
    WHERE r.environment_id = %s AND r.status = 'running' AND r.is_async
) < (SELECT action_concurrency FROM {environment} WHERE id = %s)
RETURNING {columns}
"""


@functools.cache
def _statement(template: str) -> str:
    """A statement of this module with its table and column names, as `sql.py` names
    them: from the models' `_meta`, never spelled out."""
    field = Execution._meta.get_field
    return template.format(
        execution=Execution._meta.db_table,
        environment=Environment._meta.db_table,
        connection=field("connection_record").column,
        columns=sql.loader(Execution).columns,
    )


def _claim(env_id: int) -> Execution | None:
    """Claim one runnable row of the environment; the claimed execution, or None."""
    connection = connections["default"]
    load = sql.loader(Execution)
    # SQLite: BEGIN IMMEDIATE (settings) takes the write lock first. PostgreSQL: a
    # transaction-scoped advisory lock per environment, which, unlike locking the
    # environment's row, writes nothing.
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CLAIM_LOCK, env_id % 2**31])
        # Read the clock under the lock, so that start times follow the claims' order.
        stamp = Execution._meta.get_field("started").get_db_prep_value(now(), connection)
        params = [stamp, stamp, env_id, stamp, env_id, env_id]
        cursor.execute(_statement(CLAIM_SQL), params)
        row = cursor.fetchone()
    if row is None:
        return None
    execution = load(row)
    # What the run needs, without a five-table join: the version (cached, its code never
    # changes) and the connection (fresh: its credentials may have been refreshed).
    version = FunctionVersion.objects.for_run(execution.function_version_id)
    connection_row = sql.select_one(Connection, id=execution.connection_record_id)
    if version is not None and connection_row is not None:
        connection_row.integration = version.function.integration
    execution.function_version, execution.connection_record = version, connection_row
    return execution


DUE_SQL = """
SELECT 1 FROM {execution}
WHERE environment_id = %s AND status = 'queued' AND next_attempt_at <= %s
LIMIT 1
"""


def _anything_due(env_id: int, moment: datetime) -> bool:
    # Every wake-up asks this first: prepared, not the ORM.
    connection = connections["default"]
    stamp = Execution._meta.get_field("next_attempt_at").get_db_prep_value(moment, connection)
    with connection.cursor() as cursor:
        cursor.execute(_statement(DUE_SQL), [env_id, stamp])
        return cursor.fetchone() is not None


def claim_next(env_id: int, look_first: bool = True) -> tuple[Execution | None, datetime | None]:
    """Claim the next runnable execution; else None and when the next backoff ends.

    `look_first` reads before claiming, so that a wake-up that finds an empty queue does
    not take the write lock (SQLite) or the environment's lock (PostgreSQL) for nothing;
    a drain loop that has just run something skips it.
    """
    moment = now()
    # Built only when needed: even an unevaluated filter() costs a drain loop 0.2 ms a run.
    queued = lambda: Execution.objects.filter(environment_id=env_id, status=Status.QUEUED)  # noqa: E731
    if look_first and not _anything_due(env_id, moment):
        return None, queued().aggregate(t=Min("next_attempt_at"))["t"]
    claimed = _claim(env_id)
    if claimed is None:
        # Nothing runnable now (slots full, or only busy connections' runs are due): a
        # running loop picks the rest up when its run ends. Say when a backoff ends.
        later = queued().filter(next_attempt_at__gt=moment).aggregate(t=Min("next_attempt_at"))
        return None, later["t"]
    return claimed, None


STALLED_SQL = """
SELECT 1 FROM {execution} q
WHERE q.environment_id = %s AND q.status = 'queued' AND q.next_attempt_at <= %s
  AND NOT EXISTS (
      SELECT 1 FROM {execution} r
      WHERE r.environment_id = q.environment_id AND r.status = 'running' AND r.is_async
        AND r.{connection} = q.{connection}
  )
LIMIT 1
"""


def missing_loops(due_before: datetime) -> dict[int, int]:
    """Per environment, the drain loops its queue lacks: where a run due since before
    `due_before` could start now (a free slot, its connection not busy), every free slot.

    A loop claims again whenever its run ends, so a runnable run left waiting means its
    loops are gone (their process died, or a wake-up was lost while the broker was down).
    Extra loops cost little: one that finds nothing to claim stops at once.
    """
    running = dict(
        Execution.objects.filter(status=Status.RUNNING, is_async=True)
        .values("environment_id")
        .annotate(n=Count("pk"))
        .values_list("environment_id", "n")
    )
    connection = connections["default"]
    stamp = Execution._meta.get_field("next_attempt_at").get_db_prep_value(due_before, connection)
    wanted = {}
    for env_id, concurrency in Environment.objects.values_list("pk", "action_concurrency"):
        free = concurrency - running.get(env_id, 0)
        if free <= 0:
            continue
        with connection.cursor() as cursor:
            cursor.execute(_statement(STALLED_SQL), [env_id, stamp])
            if cursor.fetchone() is not None:
                wanted[env_id] = free
    return wanted


LOOPS_SQL = """
SELECT
    (SELECT count(*) FROM (
        SELECT 1 FROM {execution}
        WHERE environment_id = %s AND status = 'queued' AND created < %s
          AND next_attempt_at <= %s
        LIMIT %s
    ) ahead)
  + (SELECT count(*) FROM (
        SELECT 1 FROM {execution}
        WHERE environment_id = %s AND status = 'running' AND is_async
        LIMIT %s
    ) busy)
"""


# Asked only when LOOPS_SQL finds loops enough: are some of them stuck behind busy
# connections while this run could start now? Over the oldest runs ahead (bounded: a long
# backlog of other connections means the loops are busy anyway).
BLOCKED_SQL = """
WITH ahead AS (
    SELECT q.{connection} AS conn,
        EXISTS (
            SELECT 1 FROM {execution} r
            WHERE r.environment_id = q.environment_id AND r.status = 'running'
              AND r.is_async AND r.{connection} = q.{connection}
        ) AS busy
    FROM {execution} q
    WHERE q.environment_id = %s AND q.status = 'queued' AND q.created < %s
      AND q.next_attempt_at <= %s
    ORDER BY q.created, q.id
    LIMIT %s
)
SELECT
    (SELECT count(DISTINCT conn) FROM ahead WHERE NOT busy),
    (SELECT count(*) FROM ahead WHERE conn = %s)
      + (SELECT count(*) FROM {execution}
         WHERE environment_id = %s AND status = 'running' AND is_async AND {connection} = %s),
    (SELECT count(*) FROM (
        SELECT 1 FROM {execution}
        WHERE environment_id = %s AND status = 'running' AND is_async
        LIMIT %s
    ) busy)
"""


def needs_wake(execution: Execution, concurrency: int) -> bool:
    """Whether a new queued run needs its own wake-up message.

    Every drain loop claims again when its run ends and runs until nothing is runnable.
    So each async run in progress has a loop that will come back to the queue, and each
    due run queued ahead of this one has a loop or a message on the way. While those add
    up to `concurrency`, as many loops as may run at once will reach this run: another
    message would only make a worker look at an empty queue. (A loop whose process died
    leaves a stale row; the reaper ends it and wakes the queue: `missing_loops`.)

    Except that runs ahead of one busy connection keep no loop busy: the loops woken for
    them found nothing to claim and left. So when this run's connection has nothing
    running or queued ahead, it is woken unless the loops free to take it (the ones in
    progress, and one per idle connection ahead) already number `concurrency`.
    """
    connection = connections["default"]
    prep = Execution._meta.get_field("created").get_db_prep_value
    env = execution.environment_id
    created = prep(execution.created, connection)
    moment = prep(now(), connection)  # runs waiting out a backoff have no loop for them
    with connection.cursor() as cursor:  # every async trigger asks: prepared, not the ORM
        cursor.execute(_statement(LOOPS_SQL), [env, created, moment, concurrency, env, concurrency])
        if cursor.fetchone()[0] < concurrency:
            return True
        own = execution.connection_record_id
        params = [env, created, moment, max(16, 4 * concurrency), own, env, own, env, concurrency]
        cursor.execute(_statement(BLOCKED_SQL), params)
        free_ahead, own_ahead, running = cursor.fetchone()
    return own_ahead == 0 and running + free_ahead < concurrency


def depth_by_environment() -> dict[int, dict]:
    """Per environment with queued or running runs: how many of each, and when the oldest
    queued one was queued (for /metrics; the partial indexes serve both statuses)."""
    rows = (
        Execution.objects.filter(status__in=[Status.QUEUED, Status.RUNNING])
        .values("environment_id", "status")
        .annotate(n=Count("pk"), oldest=Min("created"))
        .order_by()
    )
    found: dict[int, dict] = {}
    for row in rows:
        state = found.setdefault(row["environment_id"], {"queued": 0, "running": 0, "oldest": None})
        state[row["status"]] = row["n"]
        if row["status"] == Status.QUEUED:
            state["oldest"] = row["oldest"]
    return found

"""The execution state machine and the queue's claim rules, step by step."""

from datetime import timedelta

import pytest
from django.utils.timezone import now

from conftest import deploy_source, make_connection
from executions import errors
from executions.heartbeat import Watch
from executions.models import Execution
from executions.queue import claim_next
from executions.tasks import sweep
from integrations.models import FunctionVersion

pytestmark = pytest.mark.django_db

SOURCE = """
from nango import create_action
action = create_action(description="d", input={}, output={}, exec=lambda nango, input: input)
"""


@pytest.fixture
def version(world):
    deploy_source(world.github, "act", SOURCE)
    return FunctionVersion.objects.get()


def queued(world, version, connection=None, **kw) -> Execution:
    return Execution.create_for(connection or world.connection, version, {}, is_async=True, **kw)


def claim(execution: Execution) -> bool:
    """Claim `execution` as a worker does (the queue's own claim_next); True if this row
    was the one claimed. The instance is then as the worker holds it: running."""
    claimed, _ = claim_next(execution.environment_id)
    if claimed is None or claimed.pk != execution.pk:
        return False
    execution.refresh_from_db()
    return True


def test_it_is_born_queued_for_async_and_running_for_sync(world, version):
    a = queued(world, version)
    assert (a.status, a.attempts, a.started) == ("queued", 0, None)
    s = Execution.create_for(world.connection, version, {})
    assert (s.status, s.attempts) == ("running", 1) and s.started and s.heartbeat


def test_a_new_row_is_what_the_database_would_store(world, version):
    # `create_for` builds rows positionally, as the ORM loads them: a field it does not
    # set must be one the database stores as NULL, not one with a default it would skip.
    for deferred in (False, True):
        built = Execution.create_for(world.connection, version, {"a": 1}, deferred=deferred)
        if deferred:
            built.write_row()
        stored = Execution.objects.get(pk=built.pk)
        for field in Execution._meta.concrete_fields:
            name = field.attname
            assert getattr(built, name) == getattr(stored, name), name
            if getattr(built, name) is None:
                assert field.null and not field.has_default(), name


def test_it_lets_exactly_one_claim_win(world, version):
    execution = queued(world, version)
    twin = Execution.objects.get(pk=execution.pk)
    assert claim(execution) is True
    assert claim(twin) is False
    execution.refresh_from_db()
    assert execution.status == "running" and execution.attempts == 1


def test_it_requeues_a_failed_attempt_while_retries_remain(world, version):
    execution = queued(world, version, max_retries=1)
    claim(execution)
    before = now()
    assert execution.end_attempt(failure=errors.runtime_error({}))
    execution.refresh_from_db()
    assert execution.status == "queued" and execution.finished is None
    assert execution.next_attempt_at > before
    execution.next_attempt_at = now()
    execution.save()
    claim(execution)
    execution.end_attempt(failure=errors.runtime_error({"x": 1}))
    execution.refresh_from_db()
    assert execution.status == "failed" and execution.attempts == 2
    assert execution.error["error"]["payload"] == {"x": 1}
    assert [a["number"] for a in execution.attempt_log] == [1, 2]


@pytest.mark.parametrize(
    "failure",
    [errors.invalid_input([]), errors.invalid_output("x"), errors.output_too_large(3, 2)],
)
def test_it_never_retries_what_retrying_cannot_fix(world, version, failure):
    execution = queued(world, version, max_retries=5)
    claim(execution)
    execution.end_attempt(failure=failure)
    assert Execution.objects.get().status == "failed"


def test_it_never_retries_a_cancelled_attempt(world, version):
    execution = queued(world, version, max_retries=5)
    claim(execution)
    execution.end_attempt(failure=errors.cancelled(), outcome="cancelled")
    assert Execution.objects.get().status == "cancelled"


def test_it_does_not_let_a_presumed_dead_attempt_overwrite_the_next_one(world, version):
    execution = queued(world, version, max_retries=1)
    claim(execution)
    zombie = Execution.objects.get(pk=execution.pk)  # the worker that went silent
    Execution.objects.filter(pk=execution.pk).update(heartbeat=now() - timedelta(hours=1))
    assert sweep()["crashed"] == 1
    execution.refresh_from_db()
    assert execution.status == "queued"
    Execution.objects.filter(pk=execution.pk).update(next_attempt_at=now())
    execution.refresh_from_db()
    assert claim(execution)  # attempt 2, on another worker
    assert zombie.end_attempt(output={"late": True}) is False
    execution.refresh_from_db()
    assert execution.status == "running" and execution.output is None


def test_it_fails_a_dead_sync_run_for_good(world, version):
    execution = Execution.create_for(world.connection, version, {})
    Execution.objects.filter(pk=execution.pk).update(heartbeat=now() - timedelta(hours=1))
    sweep()
    execution.refresh_from_db()
    assert execution.status == "failed"
    assert execution.error["error"]["payload"] == {"reason": "worker_died"}
    assert execution.attempt_log[0]["outcome"] == "crashed"


def test_it_prunes_results_past_the_retention(world, version, settings):
    old = Execution.create_for(world.connection, version, {})
    old.end_attempt(output=1)
    Execution.objects.filter(pk=old.pk).update(finished=now() - timedelta(days=6))
    fresh = Execution.create_for(world.connection, version, {})
    fresh.end_attempt(output=2)
    waiting = queued(world, version)
    Execution.objects.filter(pk=waiting.pk).update(created=now() - timedelta(days=9))
    assert sweep()["pruned"] == 1
    assert set(Execution.objects.values_list("pk", flat=True)) == {fresh.pk, waiting.pk}


def test_it_claims_in_fifo_order(world, version):
    other = make_connection(world.github, "conn-2")
    first = queued(world, version)
    second = queued(world, version, connection=other)
    claimed, _ = claim_next(world.env.pk)
    assert claimed.pk == first.pk
    claimed, _ = claim_next(world.env.pk)
    assert claimed.pk == second.pk


def test_it_never_runs_two_runs_of_one_connection_at_once(world, version):
    other = make_connection(world.github, "conn-2")
    first = queued(world, version)
    queued(world, version)  # same connection as `first`
    third = queued(world, version, connection=other)
    assert claim_next(world.env.pk)[0].pk == first.pk
    # The second run of conn-1 waits; conn-2's run is not blocked behind it.
    assert claim_next(world.env.pk)[0].pk == third.pk
    assert claim_next(world.env.pk) == (None, None)


def test_it_respects_the_environment_concurrency(world, version):
    world.env.action_concurrency = 2
    world.env.save()
    for i in range(3):
        queued(world, version, connection=make_connection(world.github, f"c{i}"))
    assert claim_next(world.env.pk)[0] is not None
    assert claim_next(world.env.pk)[0] is not None
    assert claim_next(world.env.pk) == (None, None)
    Execution.objects.filter(status="running").first().end_attempt(output=1)
    assert claim_next(world.env.pk)[0] is not None


def test_it_waits_for_backoff_and_says_until_when(world, version):
    execution = queued(world, version)
    later = now() + timedelta(seconds=30)
    Execution.objects.filter(pk=execution.pk).update(next_attempt_at=later)
    assert claim_next(world.env.pk) == (None, later)


def test_it_keeps_running_rows_alive_and_delivers_cancels(world, version):
    execution = Execution.create_for(world.connection, version, {})
    Execution.objects.filter(pk=execution.pk).update(heartbeat=now() - timedelta(minutes=5))
    cancelled = []
    watch = Watch()
    watch.running[execution.pk] = lambda: cancelled.append(execution.pk)
    watch.beat()
    execution.refresh_from_db()
    assert execution.heartbeat > now() - timedelta(seconds=5)
    assert cancelled == []
    assert execution.cancel() is True and execution.status == "running"
    watch.beat()
    assert cancelled == [execution.pk]


def test_it_wakes_a_worker_only_while_fewer_loops_than_the_concurrency_exist(world, version):
    from executions.queue import needs_wake

    world.env.action_concurrency = 2
    runs = [queued(world, version) for _ in range(3)]
    assert [needs_wake(r, 2) for r in runs] == [True, True, False]
    claim(runs[0])  # its loop comes back for more when the run ends: still two loops
    assert needs_wake(runs[2], 2) is False
    runs[0].end_attempt({"ok": True})  # that loop may now find the queue empty and stop
    claim(runs[1])
    runs[1].end_attempt({"ok": True})
    assert needs_wake(runs[2], 2) is True
    # Runs waiting out a retry backoff have no loop waiting for them.
    later = queued(world, version)
    Execution.objects.filter(pk=runs[2].pk).update(next_attempt_at=now() + timedelta(hours=1))
    assert needs_wake(later, 1) is True  # runs[2] ahead of it counts not


def test_it_lets_a_cancel_win_over_the_retry_of_a_failing_attempt(world, version):
    execution = queued(world, version, max_retries=3)
    claim(execution)
    assert execution.cancel() is True  # running: only asks
    execution.end_attempt(failure=errors.runtime_error({}))
    execution.refresh_from_db()
    assert execution.status == "cancelled" and execution.attempts == 1
    assert execution.error["error"]["code"] == "script_aborted"


def test_it_wakes_a_worker_when_the_runs_ahead_wait_out_a_backoff(world, version):
    from executions.queue import needs_wake

    ahead = queued(world, version)
    Execution.objects.filter(pk=ahead.pk).update(next_attempt_at=now() + timedelta(minutes=1))
    assert needs_wake(queued(world, version), 1) is True


def test_it_wakes_a_worker_for_a_free_connection_behind_a_busy_connections_runs(world, version):
    from executions.queue import needs_wake

    world.env.action_concurrency = 2
    world.env.save()
    busy = [queued(world, version) for _ in range(3)]  # one connection: one at a time
    claim(busy[0])
    # One loop runs busy[0]; the loops woken for busy[1] and busy[2] found nothing to claim.
    free = queued(world, version, connection=make_connection(world.github, "free"))
    assert needs_wake(free, 2) is True
    # A run whose own connection has a run in progress waits for that run's loop.
    assert needs_wake(queued(world, version), 2) is False

"""The async engine's recovery, step by step: a run's end waits for the database, the
reaper replaces dead drain loops, a broker outage kills nothing, drain tasks hand over, runs
that never start expire. (tests/e2e/test_e2e_faults.py does it with real outages.)

Database faults are injected at the database seam (`connection.execute_wrapper`); tasks go
to the real broker (not run inline) wherever a test looks at what was sent.
"""

from contextlib import contextmanager
from datetime import timedelta

import pytest
import responses
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, OperationalError, connection, transaction
from django.utils.timezone import now
from django_q.conf import Conf
from django_q.signing import SignedPackage

from conftest import deploy_source, make_connection, trigger
from executions import tasks
from executions.heartbeat import Watch, watch
from executions.models import Execution
from integrations.models import Environment, FunctionVersion
from nangosite.lib import retrying
from nangosite.lib import tasks as broker_tasks
from webhooks import tasks as webhook_tasks
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db(transaction=True)

SOURCE = """
from nango import create_action
action = create_action(description="d", input={}, output={}, exec=lambda nango, input: input)
"""


@pytest.fixture
def version(tworld):
    deploy_source(tworld.github, "act", SOURCE)
    return FunctionVersion.objects.get()


@pytest.fixture
def sent(monkeypatch, settings):
    """Tasks go to the real broker instead of running inline; `sent(queue)` takes what was
    sent there, as (function, args) pairs."""
    monkeypatch.setattr(Conf, "SYNC", False)
    for queue in (None, settings.WEBHOOK_QUEUE):
        broker_tasks.broker(queue).purge_queue()

    def take(queue: str | None = None) -> list[tuple[str, tuple]]:
        broker, found = broker_tasks.broker(queue), []
        while got := broker.dequeue():
            for ack, payload in got:
                task = SignedPackage.loads(payload)
                found.append((task["func"], task["args"]))
                if ack is not None:
                    broker.acknowledge(ack)
        return found

    return take


DOWN = OperationalError("the database system is starting up")


@contextmanager
def failing(matches, error: Exception = DOWN, times: int = 1):
    """Statements for which `matches(sql)` is true fail `times` times, as a database that
    is down or refuses a value would make them."""
    failed = []

    def wrapper(execute, sql, params, many, context):
        if len(failed) < times and matches(sql):
            failed.append(sql)
            raise error
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield failed


def run_end(sql: str) -> bool:
    return sql.startswith("UPDATE") and "attempt_log" in sql


def queued(world, version, connection=None, **kw) -> Execution:
    return Execution.create_for(connection or world.connection, version, {}, is_async=True, **kw)


def test_a_runs_end_waits_for_the_database_and_is_held_meanwhile(tworld, version, sent, clock):
    waits = clock("nangosite.lib.retrying")
    execution = queued(tworld, version)
    held = []

    def sleep(seconds):  # while the end waits for the database, is the run still held?
        held.append(execution.pk in watch.running)
        waits.sleep(seconds)

    retrying.time.sleep = sleep
    with failing(run_end, times=4) as failed:
        assert tasks.run_next(tworld.env.pk) == 1
    assert len(failed) == 4 and held == [True] * 4
    execution.refresh_from_db()
    assert execution.status == "succeeded" and execution.attempts == 1
    assert execution.pk not in watch.running  # released once written


def test_a_runs_end_the_database_cannot_store_is_recorded_as_its_error(tworld, version, sent):
    execution = queued(tworld, version)
    refused = DataError("unsupported Unicode escape sequence")
    with failing(run_end, error=refused) as failed:
        tasks.run_next(tworld.env.pk)
    assert len(failed) == 1
    execution.refresh_from_db()
    assert execution.status == "failed" and execution.http_status == 500
    assert execution.error["error"]["code"] == "invalid_action_output"
    assert execution.error["error"]["payload"]["reason"] == "unstorable"


def test_the_reaper_ends_dead_runs_and_starts_a_loop_per_free_slot(tworld, version, sent):
    dead = [queued(tworld, version, make_connection(tworld.github, f"d{i}")) for i in range(2)]
    waiting = [queued(tworld, version, make_connection(tworld.github, f"w{i}")) for i in range(5)]
    Execution.objects.filter(pk__in=[e.pk for e in dead]).update(
        status="running", attempts=1, started=now(), heartbeat=now() - timedelta(minutes=5)
    )
    Execution.objects.filter(pk__in=[e.pk for e in waiting]).update(
        next_attempt_at=now() - timedelta(minutes=1)
    )
    summary = tasks.reap()
    assert summary["crashed"] == 2
    assert Execution.objects.filter(status="failed").count() == 2  # no retries left
    # Four slots free, five runnable runs waiting: four loops, not one.
    loops = [args for func, args in sent() if func == "executions.tasks.run_next"]
    assert loops == [(tworld.env.pk,)] * 4
    assert tasks.reap()["crashed"] == 0


def test_the_reaper_leaves_a_queue_alone_whose_loops_are_busy(tworld, version, sent):
    tworld.env.action_concurrency = 1
    tworld.env.save()
    running = queued(tworld, version)
    Execution.objects.filter(pk=running.pk).update(status="running", attempts=1, heartbeat=now())
    waiting = queued(tworld, version, make_connection(tworld.github, "w"))
    Execution.objects.filter(pk=waiting.pk).update(next_attempt_at=now() - timedelta(minutes=1))
    assert tasks.reap() == {"crashed": 0, "woken": 0, "webhooks": 0}
    assert sent() == []


def test_nobody_reaps_until_it_has_reached_the_database_for_a_stale_period(settings, clock):
    settings.EXECUTION_STALE_SECONDS = 10
    time = clock("executions.heartbeat")
    fresh = Watch()
    assert not fresh.may_reap()  # never reached it yet
    fresh.reachable_since = time.now
    time.advance(9)
    assert not fresh.may_reap()  # every live process may not have beaten again yet
    time.advance(2)
    assert fresh.may_reap()


def test_a_drain_task_hands_over_after_its_slice_behind_other_environments(
    tworld, version, sent, settings
):
    settings.DRAIN_SLICE_SECONDS = 0
    for i in range(3):
        queued(tworld, version, make_connection(tworld.github, f"c{i}"))
    tasks.wake(tworld.other_env.pk)  # another environment's wake-up, sent first
    assert tasks.run_next(tworld.env.pk) == 1
    # Its continuation queues behind the other environment's wake-up: they take turns.
    assert sent() == [
        ("executions.tasks.run_next", (tworld.other_env.pk,)),
        ("executions.tasks.run_next", (tworld.env.pk,)),
    ]


def test_a_drain_task_that_cannot_hand_over_goes_on_draining(tworld, version, sent, settings):
    settings.DRAIN_SLICE_SECONDS = 0
    for i in range(3):
        queued(tworld, version, make_connection(tworld.github, f"c{i}"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tasks, "enqueue", _broker_down)
        assert tasks.run_next(tworld.env.pk) == 3
    assert Execution.objects.filter(status="succeeded").count() == 3


def _broker_down(*args, **kwargs):
    raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_an_async_trigger_is_queued_while_the_broker_is_down_and_woken_after(
    tworld, version, api, sent, monkeypatch
):
    with monkeypatch.context() as down:
        down.setattr(tasks, "enqueue", _broker_down)
        r = trigger(api, "act", {}, HTTP_X_ASYNC="true")
    assert r.status_code == 202
    execution = Execution.objects.get()
    assert execution.status == "queued"
    Execution.objects.update(next_attempt_at=now() - timedelta(minutes=1))
    assert tasks.reap()["woken"] == 4  # the broker is back: its queue gets its loops
    assert ("executions.tasks.run_next", (tworld.env.pk,)) in sent()


def test_a_trigger_answers_503_while_the_database_is_unreachable(tworld, version, api):
    before = Execution.objects.count()
    with failing(lambda sql: True, times=10_000):
        r = trigger(api, "act", {})
    assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable"
    assert int(r["Retry-After"]) > 0
    assert Execution.objects.count() == before  # nothing half-written


def test_a_run_that_never_starts_expires_and_is_announced(tworld, version, settings, sent):
    Environment.objects.filter(pk=tworld.env.pk).update(webhook_primary_url="http://a.test/h")
    settings.QUEUED_RUN_TTL_HOURS = 24
    old = queued(tworld, version)
    young = queued(tworld, version, make_connection(tworld.github, "young"))
    Execution.objects.filter(pk=old.pk).update(created=now() - timedelta(hours=25))
    assert tasks.sweep()["expired"] == 1
    old.refresh_from_db()
    assert old.status == "failed" and old.finished is not None
    assert old.error["error"]["code"] == "action_script_failure"
    assert old.error["error"]["payload"]["reason"] == "expired"
    assert Execution.objects.get(pk=young.pk).status == "queued"
    delivery = Delivery.objects.get(execution=old)
    assert '"success":false' in delivery.body
    assert ("webhooks.tasks.deliver", (delivery.pk,)) in sent(settings.WEBHOOK_QUEUE)


def test_webhook_deliveries_go_to_their_own_queue(tworld, version, settings, sent):
    Environment.objects.filter(pk=tworld.env.pk).update(webhook_primary_url="http://a.test/h")
    queued(tworld, version)
    tasks.run_next(tworld.env.pk)
    delivery = Delivery.objects.get()
    assert sent(settings.WEBHOOK_QUEUE) == [("webhooks.tasks.deliver", (delivery.pk,))]
    assert sent() == []  # nothing for the runs' workers


def test_an_environment_runs_at_least_one_run_at_a_time(tworld):
    tworld.env.action_concurrency = 0
    with pytest.raises(ValidationError):
        tworld.env.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Environment.objects.filter(pk=tworld.env.pk).update(action_concurrency=0)


@responses.activate
def test_a_webhook_attempt_waits_out_the_database_and_is_not_left_held(
    tworld, version, settings, sent, clock
):
    Environment.objects.filter(pk=tworld.env.pk).update(webhook_primary_url="http://a.test/h")
    responses.post("http://a.test/h", status=200)
    queued(tworld, version)
    tasks.run_next(tworld.env.pk)
    delivery = Delivery.objects.get()
    clock("nangosite.lib.retrying")
    # The database goes away after the POST: the attempt's record waits for it...
    with failing(lambda sql: "webhooks_deliveryattempt" in sql and "INSERT" in sql, times=3):
        assert webhook_tasks.deliver(delivery.pk) == "delivered"
    assert len(responses.calls) == 1  # sent once
    delivery.refresh_from_db()
    # ...and is written then: delivered, not held pending for its whole lease.
    assert delivery.status == "delivered" and delivery.attempts == 1
    assert delivery.attempt_rows.count() == 1
    assert tasks.reap()["webhooks"] == 0

"""Completion webhooks with django-q2 inline (Conf.SYNC) and a real receiver on 127.0.0.1."""

import json
import logging
from datetime import timedelta

import pytest
import responses
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils.timezone import now
from django_q.models import Schedule

from conftest import SECRET, deploy_source, make_connection, trigger
from executions.models import Execution
from integrations.models import Connection, Environment, FunctionVersion
from nangosite.lib.logs import JsonFormatter
from tests.processes import free_port
from tests.scrape import Scrape
from webhooks import models, signing, tasks
from webhooks.models import Delivery, webhook_urls
from webhooks.tests.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "whsec-dev"  # the signing key conftest's make_env gives environment "dev"

SOURCE = """
from nango import create_action, ActionError

def run(nango, input):
    if input.get("fail"):
        raise ActionError({"message": "no"})
    return {"ok": True}

action = create_action(description="t", input={"type": "object"}, output={}, exec=run)
"""


@pytest.fixture
def receiver():
    r = Receiver(KEY).start()
    yield r
    r.stop()


@pytest.fixture
def hooked(tworld, receiver, settings):
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 0.01
    deploy_source(tworld.github, "act", SOURCE)
    Environment.objects.filter(pk=tworld.env.pk).update(webhook_primary_url=receiver.url)
    return tworld


def start(api, input=None, **headers) -> dict:
    r = trigger(api, "act", input or {}, HTTP_X_ASYNC="true", **headers)
    assert r.status_code == 202, r.content
    return r.json()


def test_it_announces_a_success_signed_as_the_node_client_verifies(hooked, receiver, api):
    run = start(api)
    (got,) = receiver.wait_for(1)
    assert got.verified and got.path == "/hooks/nango"
    message = got.json
    assert message == {
        "type": "async_action",
        "from": "nango",
        "connectionId": "conn-1",
        "providerConfigKey": "github",
        "payload": {"id": run["id"], "statusUrl": run["statusUrl"]},
        "success": True,
        "sentAt": message["sentAt"],
    }
    assert message["sentAt"].endswith("Z")
    # Serialized once, sorted, and sent byte for byte as stored.
    delivery = Delivery.objects.get()
    assert got.body == delivery.body.encode() == signing.serialize(message).encode()
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-nango-signature"] == signing.legacy_signature(KEY, got.body)
    # Only the signatures derive from a key; no other secret travels.
    for secret in (KEY, SECRET, "gho_secret_token"):
        assert all(secret not in value for value in got.headers.values())
        assert secret.encode() not in got.body
    assert delivery.status == "delivered" and delivery.attempts == 1
    assert delivery.execution.code.hex == run["id"].replace("-", "")
    (attempt,) = delivery.attempt_rows.all()
    assert attempt.status_code == 200 and attempt.latency_ms > 0 and attempt.error == ""
    assert json.loads(attempt.response_excerpt) == {"status": 200}


def test_it_announces_only_the_final_failed_attempt(hooked, receiver, api):
    run = start(api, {"fail": True}, HTTP_X_MAX_RETRIES="2")
    (got,) = receiver.wait_for(1)
    assert got.verified and got.json["success"] is False
    assert got.json["payload"]["id"] == run["id"]
    assert Execution.objects.get().attempts == 3
    assert Delivery.objects.count() == 1


def test_it_sends_to_both_urls_and_a_connection_override_replaces_them(hooked, receiver, api):
    second = Receiver(KEY).start()
    try:
        Environment.objects.filter(pk=hooked.env.pk).update(webhook_secondary_url=second.url)
        start(api)
        assert len(receiver.wait_for(1)) == 1 and len(second.wait_for(1)) == 1
        override = Receiver(KEY).start()
        try:
            hooked.connection.webhook_url_override = override.url
            hooked.connection.save()
            start(api)
            assert len(override.wait_for(1)) == 1
            assert len(receiver.received) == len(second.received) == 1
        finally:
            override.stop()
    finally:
        second.stop()


def test_it_sends_nothing_for_sync_runs_cancelled_runs_or_with_the_toggle_off(
    hooked, receiver, api
):
    assert trigger(api, "act", {}).status_code == 200  # sync
    Environment.objects.filter(pk=hooked.env.pk).update(send_async_action_webhooks=False)
    start(api)
    assert Execution.objects.filter(status="succeeded").count() == 2
    assert not Delivery.objects.exists() and receiver.received == []


def test_it_costs_no_query_when_the_environment_has_no_webhook(tworld, django_assert_num_queries):
    execution = _ended(tworld)
    with django_assert_num_queries(0):
        assert webhook_urls(execution) == []
        assert Delivery.objects.announce(execution) == []
    Environment.objects.filter(pk=tworld.env.pk).update(send_async_action_webhooks=False)
    execution = _ended(tworld)
    execution.connection_record.integration.environment.webhook_primary_url = "http://127.0.0.1:1/x"
    with django_assert_num_queries(0):
        assert Delivery.objects.announce(execution) == []


def test_it_reads_an_environment_not_loaded_with_the_run_once_per_cache_period(
    tworld, django_assert_num_queries, settings
):
    settings.WEBHOOK_SETTINGS_CACHE_SECONDS = 60
    models._hooks.clear()
    execution = Execution.objects.get(pk=_ended(tworld).pk)
    # As a worker loads it now: the connection and its integration, not the environment.
    execution.connection_record = Connection.objects.select_related("integration").get(
        pk=tworld.connection.pk
    )
    with django_assert_num_queries(1):
        assert Delivery.objects.announce(execution) == []
    with django_assert_num_queries(0):
        assert Delivery.objects.announce(execution) == []
    Environment.objects.filter(pk=tworld.env.pk).update(webhook_primary_url="http://a.test/h")
    assert webhook_urls(execution) == []  # cached until the period ends
    settings.WEBHOOK_SETTINGS_CACHE_SECONDS = 0
    assert webhook_urls(execution) == ["http://a.test/h"]
    models._hooks.clear()


def _ended(world) -> Execution:
    """An ended async run loaded as the worker loads it (connection → environment)."""
    connection = world.connection
    connection.integration.environment = Environment.objects.get(pk=world.env.pk)
    execution = Execution(
        environment_id=world.env.pk,
        connection_record=connection,
        provider_config_key="github",
        connection_id="conn-1",
        action_name="act",
        is_async=True,
        status="succeeded",
        finished=now(),
    )
    execution.save()
    return execution


def test_it_retries_5xx_with_backoff_until_delivered(hooked, receiver, api):
    receiver.script = [503, 503]
    start(api)
    delivery = Delivery.objects.get()
    # The first attempt ran inline; the next waits for its schedule.
    assert delivery.status == "pending" and delivery.attempts == 1
    assert Schedule.objects.filter(func="webhooks.tasks.deliver").count() == 1
    for _ in range(2):
        Delivery.objects.update(next_attempt_at=now())  # as if the backoff had passed
        assert tasks.deliver(delivery.pk) in ("pending", "delivered")
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 3
    rows = list(delivery.attempt_rows.values_list("number", "status_code"))
    assert rows == [(1, 503), (2, 503), (3, 200)]
    assert [r.answered for r in receiver.received] == [503, 503, 200]
    assert all(r.verified for r in receiver.received)
    assert len({r.body for r in receiver.received}) == 1  # the same bytes each time


def test_it_retries_a_receiver_that_asks_to_slow_down(hooked, receiver, api):
    receiver.script = [429, 408]
    start(api)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", 429)
    for _ in range(2):
        Delivery.objects.update(next_attempt_at=now())  # as if the backoff had passed
        tasks.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 3
    assert [r.answered for r in receiver.received] == [429, 408, 200]


def test_it_does_not_retry_4xx_and_never_follows_redirects(hooked, receiver, api):
    target = Receiver(KEY).start()
    try:
        receiver.script, receiver.redirect_to = [404, 302], target.url
        start(api)
        start(api)
        first, second = Delivery.objects.order_by("pk")
        assert (first.status, first.attempts, first.last_status_code) == ("failed", 1, 404)
        assert (second.status, second.attempts, second.last_status_code) == ("failed", 1, 302)
        assert "not followed" in second.attempt_rows.get().error
        assert target.received == []
        assert not Schedule.objects.filter(func="webhooks.tasks.deliver").exists()
    finally:
        target.stop()


def test_it_retries_network_errors_and_gives_up_after_max_attempts(tworld, settings, api):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    deploy_source(tworld.github, "act", SOURCE)
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    Environment.objects.filter(pk=tworld.env.pk).update(webhook_primary_url=down)
    start(api)
    delivery = Delivery.objects.get()
    for _ in range(3):
        Delivery.objects.update(next_attempt_at=now())
        tasks.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 3
    errors = list(delivery.attempt_rows.values_list("error", "status_code"))
    assert errors == [("could not connect", None)] * 3


def test_it_times_out_an_attempt_and_retries_it(hooked, receiver, api, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.2
    receiver.delay = 1
    start(api)
    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    assert delivery.attempt_rows.get().error == "no answer within 0.2 s"


def test_a_delivery_is_sent_by_one_worker_at_a_time_and_survives_one_that_died(hooked, receiver):
    execution = _ended(hooked)
    delivery = Delivery.objects.create(
        execution=execution, environment=hooked.env, url=receiver.url, body="{}",
        next_attempt_at=now(),
    )  # fmt: skip
    assert delivery.claim()
    assert not Delivery.objects.get(pk=delivery.pk).claim()  # held by the first worker
    assert tasks.deliver(delivery.pk) == "not due"
    assert tasks.sweep() == {"queued": 0}
    # The first worker died mid-attempt: once its lease ends the sweep sends it again.
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=now() - timedelta(seconds=1))
    assert tasks.sweep() == {"queued": 1}
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 1
    assert len(receiver.received) == 1


def test_it_resends_as_a_new_delivery_signed_with_the_current_key(hooked, receiver, api):
    start(api)
    original = Delivery.objects.get()
    new_key = Environment.objects.get(pk=hooked.env.pk).rotate_webhook_signing_key()
    receiver.key = new_key
    copy = original.resend()
    assert copy.pk != original.pk and copy.resent_from == original
    first, again = receiver.wait_for(2)
    assert again.verified and not signing.verify(KEY, again.body, "x")
    assert again.json["payload"] == first.json["payload"]
    copy.refresh_from_db()
    assert copy.status == "delivered" and original.attempt_rows.count() == 1


def test_the_resend_command_takes_a_pk_or_a_code(hooked, receiver, api, capsys):
    start(api)
    original = Delivery.objects.get()
    call_command("resend_webhook", str(original.pk))
    call_command("resend_webhook", str(original.code))
    assert len(receiver.wait_for(3)) == 3
    out = capsys.readouterr().out
    assert out.count("resent") == 2
    with pytest.raises(CommandError, match="no delivery"):
        call_command("resend_webhook", "999999")


def test_the_rotate_command_prints_the_new_key_once(hooked, receiver, api, capsys):
    call_command("rotate_webhook_key", "dev")
    new_key = capsys.readouterr().out.split("webhook signing key: ")[1].split()[0]
    assert new_key != KEY and Environment.objects.get(name="dev").webhook_signing_key == new_key
    receiver.key = new_key
    start(api)
    (got,) = receiver.wait_for(1)
    assert got.verified


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/hook", "javascript:alert(1)", "http://user:pass@example.com/h", "nope"],
)
def test_it_refuses_webhook_urls_that_are_not_plain_http(world, url):
    world.env.webhook_primary_url = url
    with pytest.raises(ValidationError):
        world.env.full_clean()
    connection = make_connection(world.github, "conn-2", webhook_url_override=url)
    with pytest.raises(ValidationError):
        connection.full_clean()


def test_the_connection_api_refuses_a_non_http_override(world, api):
    url = "/connections/conn-1?provider_config_key=github"
    r = api.patch(url, {"webhook_url_override": "ftp://example.com/x"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"]
    ok = api.patch(url, {"webhook_url_override": "https://example.com/x"}, format="json")
    assert ok.status_code == 200


def test_a_run_whose_worker_died_is_announced_when_the_sweep_ends_it(hooked, receiver, settings):
    from executions.tasks import sweep

    execution = _ended(hooked)
    stale = now() - timedelta(seconds=settings.EXECUTION_STALE_SECONDS + 5)
    Execution.objects.filter(pk=execution.pk).update(
        status="running", finished=None, attempts=1, heartbeat=stale, started=stale
    )
    assert sweep()["crashed"] == 1
    (got,) = receiver.wait_for(1)
    assert got.verified and got.json["success"] is False
    assert got.json["payload"]["id"] == str(execution.code)


def test_it_checks_the_webhook_settings(settings):
    from webhooks.apps import check_webhook_settings

    assert check_webhook_settings(None) == []
    settings.WEBHOOK_MAX_ATTEMPTS = 0
    settings.WEBHOOK_TIMEOUT_SECONDS = 0
    assert [e.id for e in check_webhook_settings(None)] == ["webhooks.E001", "webhooks.E002"]


def test_a_run_never_ends_without_its_deliveries(hooked, receiver, monkeypatch):
    # The delivery rows are written in the run's final transaction: when writing them
    # fails, the run's end is rolled back too and written again with them.
    from django.db import OperationalError

    from executions.queue import claim_next
    from executions.tasks import run_attempt

    real_create, failures = models.DeliveryQuerySet.create, []

    def flaky_create(queryset, **kw):
        if not failures:
            failures.append(kw["url"])
            raise OperationalError("database is locked")  # what SQLite raises
        return real_create(queryset, **kw)

    monkeypatch.setattr(models.DeliveryQuerySet, "create", flaky_create)
    monkeypatch.setattr("executions.tasks.enqueue", lambda *a: None)  # no inline drain loop
    monkeypatch.setattr("executions.models.time.sleep", lambda s: None)
    version = FunctionVersion.objects.get(function__name="act", active=True)
    connection = hooked.connection
    connection.integration = hooked.github
    Execution.create_for(connection, version, {}, is_async=True)
    execution, _ = claim_next(hooked.env.pk)
    run_attempt(execution)
    execution.refresh_from_db()
    assert failures == [receiver.url]
    assert execution.status == "succeeded"
    assert list(execution.webhook_deliveries.values_list("url", flat=True)) == [receiver.url]


def test_each_attempt_is_one_log_line_and_deliveries_are_counted(
    hooked, receiver, api, client, settings, caplog
):
    settings.METRICS_TOKEN = "tok"
    read = lambda: Scrape(  # noqa: E731
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer tok").content.decode()
    )
    before = read()
    receiver.script = [503]
    with caplog.at_level(logging.INFO, logger="webhooks.deliveries"):
        run = start(api)
        delivery = Delivery.objects.get()
        Delivery.objects.update(next_attempt_at=now())  # as if the backoff had passed
        assert tasks.deliver(delivery.pk) == "delivered"
    lines = [r for r in caplog.records if r.name == "webhooks.deliveries"]
    assert [(r.getMessage(), r.levelno) for r in lines] == [
        ("webhook retrying", logging.WARNING),
        ("webhook delivered", logging.INFO),
    ]
    first = json.loads(JsonFormatter().format(lines[0]))
    assert {k: v for k, v in first.items() if k not in ("time", "duration_ms")} == {
        "level": "warning",
        "logger": "webhooks.deliveries",
        "message": "webhook retrying",
        "delivery_id": str(delivery.code),
        "execution_id": run["id"],
        "environment": "dev",
        "integration": "github",
        "action": "act",
        "connection": "conn-1",
        "url_host": f"127.0.0.1:{receiver.port}",
        "attempt": 1,
        "outcome": "retrying",
        "status_code": 503,
        "error_code": "http_503",
    }
    assert lines[1].fields["error_code"] == "" and lines[1].fields["attempt"] == 2
    after = read()

    def delta(name: str, **labels) -> float:
        return after.value(name, environment="dev", **labels) - before.value(
            name, environment="dev", **labels
        )

    assert delta("nangosite_webhook_attempts_total", outcome="retrying") == 1
    assert delta("nangosite_webhook_attempts_total", outcome="delivered") == 1
    assert delta("nangosite_webhook_deliveries_total", outcome="delivered") == 1
    assert delta("nangosite_webhook_deliveries_total", outcome="failed") == 0
    assert delta("nangosite_webhook_delivery_lag_seconds_count") == 1


@responses.activate
def test_a_receivers_answer_is_kept_storable(hooked, receiver, api):
    # A receiver that answers with a NUL byte: its attempt row is still written (PostgreSQL
    # refuses NUL in text), the NUL replaced.
    responses.post(receiver.url, body=b"ok\x00", status=200)
    start(api)
    (attempt,) = Delivery.objects.get().attempt_rows.all()
    assert attempt.status_code == 200 and attempt.response_excerpt == "ok\ufffd"

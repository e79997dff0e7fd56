"""What a run's end tells the outside: one structured log line (JSON with LOG_FORMAT=json)
and the run metrics that /metrics answers, with values checked after known runs."""

import json
import logging
from datetime import timedelta

import pytest
import responses
from django.utils.timezone import now

from conftest import SECRET, deploy_source, trigger
from executions import tasks
from executions.models import Execution, Status
from nangosite.lib.logs import JsonFormatter, TextFormatter
from tests.scrape import Scrape

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "metrics-token-for-tests"
SOURCES = {
    "echo": """
        from nango import create_action
        def run(nango, input):
            return {"login": nango.get("/user").data["login"]}
        action = create_action(description="echo", input={}, output={}, exec=run)
    """,
    "fails": """
        from nango import ActionError, create_action
        def run(nango, input):
            raise ActionError({"why": "because"})
        action = create_action(description="fails", input={}, output={}, exec=run)
    """,
    "slow": """
        import time
        from nango import create_action
        def run(nango, input):
            while True:
                time.sleep(0.01)
        action = create_action(description="slow", input={}, output={}, exec=run, timeout=0.2)
    """,
}


@pytest.fixture
def runs(tworld, settings):
    settings.METRICS_TOKEN = TOKEN
    for name, source in SOURCES.items():
        deploy_source(tworld.github, name, source)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get("https://api.github.com/user", json={"login": "octocat"})
        yield tworld


def scrape(client) -> Scrape:
    r = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert r.status_code == 200, r.content
    assert r["Content-Type"].startswith("text/plain; version=")
    return Scrape(r.content.decode())


RUN = {"environment": "dev", "integration": "github"}


def test_metrics_count_runs_retries_timeouts_and_provider_calls(runs, api, client):
    before = scrape(client)
    for _ in range(3):
        assert trigger(api, "echo", {}).status_code == 200
    assert trigger(api, "fails", {}).status_code == 500
    # Async (django-q2 runs it inline here): one failed attempt retried, then the final one.
    assert trigger(api, "fails", {}, HTTP_X_ASYNC="true", HTTP_X_MAX_RETRIES="1").status_code == 202
    assert trigger(api, "slow", {}).json()["error"]["payload"]["reason"] == "timeout"
    after = scrape(client)

    def delta(name: str, **labels) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    runs_total = "nangosite_runs_total"
    assert delta(runs_total, **RUN, action="echo", outcome="succeeded") == 3
    assert delta(runs_total, **RUN, action="fails", outcome="failed") == 2
    assert delta(runs_total, **RUN, action="slow", outcome="failed") == 1
    assert delta("nangosite_run_retries_total", **RUN, action="fails") == 1
    assert delta("nangosite_run_timeouts_total", **RUN, action="slow") == 1
    assert delta("nangosite_run_duration_seconds_count", **RUN, action="echo") == 3
    assert delta("nangosite_run_duration_seconds_bucket", **RUN, action="slow", le="0.1") == 0
    assert delta("nangosite_run_duration_seconds_bucket", **RUN, action="slow", le="+Inf") == 1
    calls = "nangosite_provider_call_duration_seconds_count"
    assert delta(calls, provider="github", status="2xx") == 3


def test_the_duration_histogram_puts_a_run_in_its_bucket(runs, client):
    before = scrape(client)
    execution = _running(runs)
    assert tasks.record(execution, {"ok": True}, duration_ms=300.0)
    after = scrape(client)
    labels = {**RUN, "action": "echo"}
    for le, expected in (("0.25", 0), ("0.5", 1), ("900.0", 1), ("+Inf", 1)):
        bucket = "nangosite_run_duration_seconds_bucket"
        assert after.value(bucket, **labels, le=le) - before.value(bucket, **labels, le=le) == (
            expected
        ), le
    total = "nangosite_run_duration_seconds_sum"
    assert after.value(total, **labels) - before.value(total, **labels) == pytest.approx(0.3)


def test_metrics_show_the_queue_of_each_environment(runs, client):
    queued = _execution(runs, is_async=True, created=now() - timedelta(seconds=95))
    found = scrape(client)
    assert found.value("nangosite_queue_depth", environment="dev") == 1
    assert found.value("nangosite_queue_depth", environment="other") == 0
    assert 95 <= found.value("nangosite_queue_oldest_age_seconds", environment="dev") < 200
    queued.cancel()
    assert scrape(client).value("nangosite_queue_depth", environment="dev") == 0


def test_metrics_are_off_without_a_token_and_refuse_a_wrong_one(runs, api, client, settings):
    assert client.get("/metrics").status_code == 401
    r = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {SECRET}")
    assert r.status_code == 401 and r["WWW-Authenticate"] == 'Bearer realm="metrics"'
    before = scrape(client)
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404
    assert trigger(api, "echo", {}).status_code == 200
    settings.METRICS_TOKEN = TOKEN
    after = scrape(client)  # nothing was counted while off
    name = "nangosite_runs_total"
    assert after.value(name, action="echo") == before.value(name, action="echo")


def _execution(world, **fields) -> Execution:
    return Execution.objects.create(
        environment=world.env,
        connection_record=world.connection,
        provider_config_key="github",
        connection_id="conn-1",
        action_name="echo",
        **fields,
    )


def _running(world) -> Execution:
    moment = now()
    return _execution(
        world, status=Status.RUNNING, attempts=1, created=moment, started=moment, heartbeat=moment
    )


def test_a_run_end_is_one_json_log_line_with_its_fields_and_no_secret(runs, api, caplog):
    with caplog.at_level(logging.INFO, logger="executions.runs"):
        r = trigger(api, "fails", {"password": "hunter2"})
    (record,) = [r for r in caplog.records if r.name == "executions.runs"]
    assert record.levelno == logging.WARNING
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    execution = Execution.objects.get(code=r["X-Execution-Id"])
    assert entry == {
        "time": entry["time"],
        "level": "warning",
        "logger": "executions.runs",
        "message": "run ended",
        "execution_id": str(execution.code),
        "environment": "dev",
        "integration": "github",
        "action": "fails",
        "connection": "conn-1",
        "mode": "sync",
        "attempt": 1,
        "outcome": "failed",
        "status": "failed",
        "duration_ms": entry["duration_ms"],
        "error_code": "action_script_runtime_error",
        "http_status": 500,
    }
    assert entry["time"].endswith("Z") and entry["duration_ms"] > 0
    for secret in ("gho_secret_token", SECRET, "hunter2", "because"):
        assert secret not in line
    text = TextFormatter().format(record)
    assert f"run ended execution_id={execution.code} environment=dev integration=github" in text
    assert "error_code=action_script_runtime_error" in text


def test_a_retried_attempt_and_a_cancel_while_queued_are_logged_too(runs, api, caplog):
    with caplog.at_level(logging.INFO, logger="executions.runs"):
        trigger(api, "fails", {}, HTTP_X_ASYNC="true", HTTP_X_MAX_RETRIES="1")
        queued = _execution(runs, is_async=True)
        assert queued.cancel()
    lines = [(r.getMessage(), r.fields) for r in caplog.records if r.name == "executions.runs"]
    assert [(m, f["attempt"], f["status"]) for m, f in lines] == [
        ("attempt failed, retrying", 1, "queued"),
        ("run ended", 2, "failed"),
        ("run ended", 0, "cancelled"),
    ]
    assert lines[2][1]["outcome"] == "cancelled" and lines[2][1]["error_code"] == "script_aborted"

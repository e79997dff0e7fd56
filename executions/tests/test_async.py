"""Async triggers with django-q2 running tasks inline (tests/e2e runs real workers)."""

import threading
import time

import pytest
import responses

from conftest import OTHER_SECRET, deploy_source, trigger
from executions.models import Execution
from executions.tasks import run_next

pytestmark = pytest.mark.django_db(transaction=True)

SOURCE = """
import time
from nango import create_action, ActionError

def run(nango, input):
    mode = input.get("mode")
    if mode == "fail":
        raise ActionError({"message": "always"})
    if mode == "null":
        return None
    if mode == "hang":
        while True:
            time.sleep(0.01)
    return {"echo": input.get("value")}

action = create_action(description="test", input={"type": "object",
    "properties": {"mode": {"type": "string"}, "value": {}}, "additionalProperties": False},
    output={}, exec=run)
"""


@pytest.fixture
def act(tworld):
    deploy_source(tworld.github, "act", SOURCE)
    return tworld


def async_trigger(api, input, **headers):
    return trigger(api, "act", input, HTTP_X_ASYNC="true", **headers)


def test_it_queues_answers_202_and_serves_the_result(act, api):
    r = async_trigger(api, {"value": 42})
    assert r.status_code == 202
    body = r.json()
    assert r["Location"] == body["statusUrl"] == f"/action/{body['id']}"
    assert r["X-Execution-Id"] == body["id"]  # as every answer of a trigger
    result = api.get(body["statusUrl"])
    assert result.status_code == 200 and result.json() == {"echo": 42}
    detail = api.get(f"/executions/{body['id']}").json()
    assert detail["status"] == "succeeded" and detail["async"] is True
    (attempt,) = detail["attempts"]
    assert attempt["number"] == 1 and attempt["outcome"] == "succeeded"


def test_it_serves_a_null_output_as_200_null(act, api):
    r = async_trigger(api, {"mode": "null"})
    result = api.get(r.json()["statusUrl"])
    assert result.status_code == 200 and result.content == b"null"


def test_it_retries_a_failure_with_backoff_then_serves_the_last_error(act, api, settings):
    settings.RETRY_BACKOFF_BASE_SECONDS = 0.2
    settings.RETRY_BACKOFF_MAX_SECONDS = 10
    r = async_trigger(api, {"mode": "fail"}, HTTP_X_MAX_RETRIES="2")
    result = api.get(r.json()["statusUrl"])
    assert result.status_code == 500
    assert result.json()["error"]["code"] == "action_script_runtime_error"
    execution = Execution.objects.get()
    assert execution.status == "failed" and execution.attempts == 3
    attempts = execution.attempt_log
    assert [a["outcome"] for a in attempts] == ["failed"] * 3
    gaps = [_seconds(attempts[i]["finished"], attempts[i + 1]["started"]) for i in range(2)]
    # Base 0.2 s doubling, with jitter in [half, full]: ≥0.1 s then ≥0.2 s.
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2
    assert gaps[1] <= 0.4 + 0.3


def _seconds(a: str, b: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def test_it_refuses_invalid_input_at_once_without_queuing(act, api):
    r = async_trigger(api, {"nope": 1})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_action_input"
    assert Execution.objects.count() == 0


def test_it_never_retries_a_run_without_retries_left(act, api):
    async_trigger(api, {"mode": "fail"})
    assert Execution.objects.get().attempts == 1


def test_it_says_pending_while_queued_and_not_found_for_unknown_ids(act, api, monkeypatch, clock):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)  # queued, no worker
    r = async_trigger(api, {"value": 1})
    url = r.json()["statusUrl"]
    pending = api.get(url)
    assert pending.status_code == 404 and pending.json()["error"]["code"] == "pending"
    waited = clock("executions.models")
    assert api.get(url + "?wait=0.3").status_code == 404
    assert waited.elapsed >= 0.3
    missing = api.get("/action/6f1c5f0e-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert api.get("/action/not-a-uuid").status_code == 400
    assert api.get(url + "?wait=31").status_code == 400
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {OTHER_SECRET}")
    assert api.get(url).json()["error"]["code"] == "not_found"


def test_it_long_polls_until_the_result_is_ready(act, api, monkeypatch, clock):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    r = async_trigger(api, {"value": "later"})
    execution = Execution.objects.get()
    waited = clock("executions.models")
    waited.at(0.3, lambda: run_next(execution.environment_id))  # a worker, 0.3 s later
    result = api.get(r.json()["statusUrl"] + "?wait=5")
    assert result.status_code == 200 and result.json() == {"echo": "later"}
    assert 0.25 <= waited.elapsed < 3


def test_it_cancels_a_queued_run_at_once(act, api, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    r = async_trigger(api, {"value": 1})
    cancel = api.post(f"/executions/{r.json()['id']}/cancel")
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
    result = api.get(r.json()["statusUrl"])
    assert result.status_code == 410 and result.json()["error"]["code"] == "script_aborted"
    assert run_next(Execution.objects.get().environment_id) == 0  # nothing left to run
    again = api.post(f"/executions/{r.json()['id']}/cancel")
    assert again.status_code == 409


def test_it_stops_a_running_run_when_cancelled(act, api, monkeypatch, clock):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    # The heartbeat watch, which delivers cancels, sleeps on a clock this test moves.
    watch = clock("executions.heartbeat", blocking=True)
    r = async_trigger(api, {"mode": "hang"}, HTTP_X_MAX_RETRIES="3")
    env_id = Execution.objects.get().environment_id
    worker = threading.Thread(target=run_next, args=[env_id])
    worker.start()
    for _ in range(100):
        if Execution.objects.get().status == "running":
            break
        time.sleep(0.02)
    asked = watch.now
    assert api.post(f"/executions/{r.json()['id']}/cancel").status_code == 202
    for _ in range(3):  # periods of the watch (a round may meet a locked test database)
        watch.tick(0.5)
        worker.join(timeout=2)
        if not worker.is_alive():
            break
    assert not worker.is_alive()
    assert watch.now - asked < 2
    execution = Execution.objects.get()
    assert execution.status == "cancelled" and execution.attempts == 1  # never retried
    assert execution.attempt_log[0]["outcome"] == "cancelled"


@responses.activate
def test_it_replays_an_idempotent_sync_trigger_without_running_again(act, api):
    deploy_source(
        act.github,
        "me",
        """
        from nango import create_action
        action = create_action(description="me", input={}, output={},
                               exec=lambda nango, input: nango.get("/user").data)
        """,
    )
    responses.get("https://api.github.com/user", json={"login": "octo"})
    first = trigger(api, "me", {}, HTTP_IDEMPOTENCY_KEY="k1")
    second = trigger(api, "me", {}, HTTP_IDEMPOTENCY_KEY="k1")
    assert first.json() == second.json() == {"login": "octo"}
    assert first["X-Execution-Id"] == second["X-Execution-Id"]
    assert len(responses.calls) == 1
    assert Execution.objects.count() == 1
    conflict = trigger(api, "me", {"other": True}, HTTP_IDEMPOTENCY_KEY="k1")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_key_conflict"


def test_it_replays_an_idempotent_async_trigger_with_the_same_id(act, api):
    first = async_trigger(api, {"value": 1}, HTTP_IDEMPOTENCY_KEY="k2")
    second = async_trigger(api, {"value": 1}, HTTP_IDEMPOTENCY_KEY="k2")
    assert first.json() == second.json()
    assert Execution.objects.count() == 1
    assert async_trigger(api, {"value": 2}, HTTP_IDEMPOTENCY_KEY="k2").status_code == 409


def test_it_frees_an_idempotency_key_after_its_ttl(act, api, settings):
    first = async_trigger(api, {"value": 1}, HTTP_IDEMPOTENCY_KEY="k3")
    settings.IDEMPOTENCY_TTL_HOURS = 0
    second = async_trigger(api, {"value": 1}, HTTP_IDEMPOTENCY_KEY="k3")
    assert first.json()["id"] != second.json()["id"]
    assert Execution.objects.count() == 2


def test_it_scopes_idempotency_keys_to_the_environment(act, api):
    async_trigger(api, {"value": 1}, HTTP_IDEMPOTENCY_KEY="shared")
    deploy_source(act.other_github, "act", SOURCE)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {OTHER_SECRET}")
    assert async_trigger(api, {"value": 2}, HTTP_IDEMPOTENCY_KEY="shared").status_code == 202
    assert Execution.objects.count() == 2

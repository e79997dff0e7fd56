import json

import pytest
import responses

from conftest import deploy_source, trigger
from executions.models import Execution
from tests.actions import CREATE_ISSUE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def created(tworld):
    deploy_source(tworld.github, "create-issue", CREATE_ISSUE)
    return tworld


@responses.activate
def test_it_runs_an_action_and_returns_its_raw_output(created, api):
    responses.post(
        "https://api.github.com/repos/acme/app/issues",
        json={"id": 7, "html_url": "https://github.com/acme/app/issues/7"},
        status=201,
    )
    r = trigger(api, "create-issue", {"repo": "acme/app", "title": "Bug"})
    assert r.status_code == 200
    assert r.json() == {"id": 7, "url": "https://github.com/acme/app/issues/7"}
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == "Bearer gho_secret_token"
    assert json.loads(sent.body) == {"title": "Bug"}

    execution = Execution.objects.get()
    assert execution.status == "succeeded"
    assert execution.output == r.json()
    assert execution.input == {"repo": "acme/app", "title": "Bug"}
    assert execution.finished and execution.duration_ms > 0
    assert [line["message"] for line in execution.logs] == ["creating issue"]
    (call,) = execution.provider_calls
    assert call["method"] == "POST" and call["status"] == 201
    assert call["url"] == "https://api.github.com/repos/acme/app/issues"
    assert r.headers["X-Execution-Id"] == str(execution.code)


@responses.activate
def test_it_answers_424_with_the_upstream_response_when_the_provider_says_no(created, api):
    responses.post(
        "https://api.github.com/repos/acme/app/issues",
        json={"message": "Not Found"},
        status=404,
        headers={"X-RateLimit-Remaining": "4999", "X-Secret-Header": "nope"},
    )
    r = trigger(api, "create-issue", {"repo": "acme/app", "title": "Bug"})
    assert r.status_code == 424
    error = r.json()["error"]
    assert error["code"] == "script_http_error"
    assert error["upstream"]["status"] == 404
    assert error["upstream"]["body"] == {"message": "Not Found"}
    assert error["upstream"]["headers"] == {
        "content-type": "application/json",
        "x-ratelimit-remaining": "4999",
    }
    execution = Execution.objects.get()
    assert execution.status == "failed" and execution.http_status == 424
    assert execution.error == r.json()


def test_it_refuses_input_that_does_not_match_the_schema_before_running(created, api):
    with responses.RequestsMock() as mock:  # any provider call would fail this test
        r = trigger(api, "create-issue", {"repo": "acme/app", "title": "", "extra": 1})
        assert len(mock.calls) == 0
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_action_input"
    assert {(e["code"], tuple(e["path"])) for e in error["errors"]} == {
        ("additionalProperties", ()),
        ("minLength", ("title",)),
    }
    assert Execution.objects.get().status == "failed"


def test_it_records_secrets_redacted(created, api):
    deploy_source(
        created.github,
        "leak",
        """
        from nango import create_action
        def run(nango, input):
            token = nango.get_token()
            nango.log(f"token is {token}")
            raise ValueError(f"bad token {token}")
        action = create_action(description="d", input={"type": "null"},
                               output={"type": "null"}, exec=run)
        """,
    )
    r = trigger(api, "leak")
    assert r.status_code == 500
    body = r.content.decode()
    assert "gho_secret_token" not in body
    execution = Execution.objects.get()
    stored = json.dumps([execution.logs, execution.error, execution.provider_calls])
    assert "gho_secret_token" not in stored
    assert "[REDACTED]" in stored


def test_it_redacts_percent_encoded_secrets_and_recorded_bodies(tworld):
    from executions.context import Recorder

    recorder = Recorder(secrets={"tok/en+secret="})
    assert recorder.redact("https://x/?t=tok%2Fen%2Bsecret%3D") == "https://x/?t=[REDACTED]"
    assert recorder.redact_json({"echo": ["tok/en+secret="]}) == {"echo": ["[REDACTED]"]}


def test_it_redacts_secrets_from_action_error_payloads_and_logged_objects(created, api):
    deploy_source(
        created.github,
        "leak2",
        """
        from nango import create_action, ActionError
        def run(nango, input):
            token = nango.get_token()
            nango.log({"token": token})
            raise ActionError({"message": "bad", "token": token})
        action = create_action(description="d", input={"type": "null"},
                               output={"type": "null"}, exec=run)
        """,
    )
    r = trigger(api, "leak2")
    assert r.status_code == 500
    assert r.json()["error"]["payload"] == {"message": "bad", "token": "[REDACTED]"}
    execution = Execution.objects.get()
    assert "gho_secret_token" not in json.dumps([execution.logs, execution.error])

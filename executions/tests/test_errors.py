"""Every way a run can fail gets its documented code and status, and a terminal row."""

import pytest
import requests
import responses

from conftest import deploy_source, trigger
from executions.models import Execution

pytestmark = pytest.mark.django_db(transaction=True)

TEMPLATE = """
import time
from nango import create_action, ActionError

def run(nango, input):
{body}

action = create_action(description="test", input={{}}, output={output}, exec=run{extra})
"""


def deploy_body(world, body: str, output: str = "{}", extra: str = "", name: str = "act"):
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    deploy_source(world.github, name, TEMPLATE.format(body=indented, output=output, extra=extra))


def only_execution() -> Execution:
    (execution,) = Execution.objects.all()
    assert execution.is_terminal and execution.finished is not None
    return execution


def test_it_returns_the_action_error_payload(tworld, api):
    deploy_body(tworld, 'raise ActionError({"message": "no such repo", "repo": "x"})')
    r = trigger(api, "act")
    assert r.status_code == 500
    assert r.json() == {
        "error": {
            "code": "action_script_runtime_error",
            "message": "The action script failed with a runtime error",
            "payload": {"message": "no such repo", "repo": "x"},
        }
    }
    assert only_execution().error == r.json()


def test_it_wraps_a_non_object_action_error_payload(tworld, api):
    deploy_body(tworld, 'raise ActionError("plain text")')
    r = trigger(api, "act")
    assert r.json()["error"]["payload"] == {"message": "plain text"}


def test_it_trims_the_stack_of_an_unexpected_error_to_the_function_file(tworld, api):
    deploy_body(tworld, "x = {}\nreturn x['missing']")
    r = trigger(api, "act")
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["code"] == "script_internal_error"
    assert error["payload"]["name"] == "KeyError"
    (frame,) = error["payload"]["stacktrace"]
    assert frame.startswith('File "functions/github/actions/act.py", line 7, in run')
    assert "executions/" not in r.content.decode()  # none of our own frames leak


def test_it_refuses_output_that_is_not_json(tworld, api):
    deploy_body(tworld, "return {'when': time}")
    r = trigger(api, "act")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "invalid_action_output"
    assert only_execution().status == "failed"


def test_it_refuses_output_that_breaks_the_output_schema(tworld, api):
    deploy_body(
        tworld,
        "return {'id': 'seven'}",
        output='{"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}',
    )
    r = trigger(api, "act")
    error = r.json()["error"]
    assert r.status_code == 500 and error["code"] == "invalid_action_output"
    assert error["errors"][0]["path"] == ["id"]


def test_it_refuses_output_over_two_mebibytes(tworld, api, settings):
    # 2,097,152 bytes is the limit: a JSON string of 2,097,150 chars plus quotes fits…
    deploy_body(tworld, "return 'x' * input['n']", output='{"type": "string"}', name="big")
    assert trigger(api, "big", {"n": 2_097_150}).status_code == 200
    # …one more byte does not.
    r = trigger(api, "big", {"n": 2_097_151})
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["code"] == "script_output_too_large"
    assert error["payload"] == {"size": 2_097_153, "limit": 2_097_152}
    assert Execution.objects.filter(status="failed").count() == 1


def test_it_returns_a_null_output_as_json_null(tworld, api):
    deploy_body(tworld, "return None", output='{"type": "null"}')
    r = trigger(api, "act")
    assert r.status_code == 200 and r.content == b"null"


@responses.activate
def test_it_reports_a_network_error(tworld, api):
    responses.get("https://api.github.com/user", body=requests.ConnectionError("refused"))
    deploy_body(tworld, "nango.get('/user')")
    r = trigger(api, "act")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "script_network_error"
    assert only_execution().provider_calls[0]["error"] == "ConnectionError"


@pytest.mark.parametrize(
    "body",
    ["while True:\n    pass", "while True:\n    time.sleep(0.05)", "time.sleep(1.6)"],
    ids=["busy-loop", "sleep-loop", "one-long-sleep"],
)
def test_it_stops_a_run_at_its_timeout_and_answers_in_time(tworld, api, body, tmp_path):
    # The function marks its own end: the answer must come before it, at the timeout.
    ended = tmp_path / "ended"
    deploy_body(tworld, f"{body}\nopen({str(ended)!r}, 'w').close()", extra=", timeout=0.5")
    r = trigger(api, "act")
    assert not ended.exists()
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["code"] == "action_script_failure"
    assert error["payload"]["reason"] == "timeout"
    execution = only_execution()
    assert execution.duration_ms >= 500  # it ran its whole timeout, not less
    assert execution.status == "failed" and execution.http_status == 500


def test_it_caps_an_action_timeout_at_the_global_ceiling(tworld, api, settings):
    settings.ACTION_TIMEOUT_SECONDS = 0.3
    deploy_body(tworld, "while True:\n    pass", extra=", timeout=60")
    r = trigger(api, "act")
    assert r.json()["error"]["payload"] == {"reason": "timeout", "timeout_seconds": 0.3}
    assert 300 <= only_execution().duration_ms < 60_000


def test_it_reuses_a_runner_thread_after_a_timeout_without_leaking_the_interrupt(tworld, api):
    deploy_body(tworld, "while True:\n    pass", extra=", timeout=0.3", name="hang")
    deploy_body(tworld, "s = 0\nfor i in range(200000):\n    s += i\nreturn {'s': s}", name="ok")
    assert trigger(api, "hang").status_code == 500
    for _ in range(20):
        r = trigger(api, "ok")
        assert r.status_code == 200, r.json()
        assert r.json() == {"s": 19999900000}


@responses.activate
def test_it_retries_when_asked_and_honours_retry_after(tworld, api, clock):
    url = "https://api.github.com/user"
    responses.get(url, status=429, headers={"Retry-After": "0.2"}, json={"m": "slow down"})
    responses.get(url, status=503, json={})
    responses.get(url, json={"login": "octo"})
    deploy_body(tworld, "return nango.get('/user', retries=3).data")
    waits = clock("nangosite.lib.http")
    r = trigger(api, "act")
    assert r.status_code == 200 and r.json() == {"login": "octo"}
    assert waits.slept >= 0.2 - 1e-9  # Retry-After, then a backoff for the 503
    calls = only_execution().provider_calls
    assert [c["status"] for c in calls] == [429, 503, 200]
    assert calls[0]["retry_in_s"] == 0.2


@responses.activate
def test_it_does_not_retry_unless_asked(tworld, api):
    responses.get("https://api.github.com/user", status=503, json={})
    deploy_body(tworld, "return nango.get('/user').data")
    assert trigger(api, "act").status_code == 424
    assert len(responses.calls) == 1


@responses.activate
def test_it_retries_extra_statuses_named_in_retry_on(tworld, api):
    url = "https://api.github.com/user"
    responses.get(url, status=409, json={})
    responses.get(url, json={"ok": True})
    deploy_body(tworld, "return nango.get('/user', retries=1, retry_on=[409]).data")
    assert trigger(api, "act").json() == {"ok": True}


def test_it_reports_a_function_that_cannot_load_as_an_internal_error(tworld, api):
    from integrations.models import FunctionVersion

    deploy_body(tworld, "return {}")
    FunctionVersion.objects.update(source="def broken(:\n")
    r = trigger(api, "act")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "script_internal_error"
    assert only_execution().status == "failed"


def test_it_leaves_tracing_usable_after_runs_and_timeouts(tmp_path):
    # pdb, coverage and cProfile rely on sys.settrace; a mishandled async exception used
    # to hang them. Run in a child process so a hang fails this test instead of the suite.
    import subprocess
    import sys

    script = """
import django, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nangosite.settings")
django.setup()
from executions.runner import _Interrupt
from executions.threads import runners
from executions.context import ActionTimeout
import threading, time

def quick():
    i = _Interrupt(); i.thread_id = threading.get_ident(); i.finish()

def fired():
    i = _Interrupt(); i.thread_id = threading.get_ident()
    threading.Timer(0.05, i.fire).start()
    try:
        while True:
            pass
    except ActionTimeout:
        pass
    i.finish()

def run(fn):  # on a runner thread, as a function runs, and waited for
    job = runners().submit(fn)
    job.wait(None)
    return job.result()

run(quick)
run(fired)
sys.settrace(lambda *a: None)
(lambda: 1)()
sys.settrace(None)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "ok", out.stderr

"""Functions that call other actions (`nango.trigger_action`) and take locks."""

import threading
from datetime import timedelta

import pytest
import responses
from django.utils.timezone import now

from conftest import deploy_source, make_connection, trigger
from executions.context import MAX_TRIGGER_DEPTH
from executions.models import Execution, Lock

pytestmark = pytest.mark.django_db(transaction=True)

TEMPLATE = """
import time
from nango import ActionError, ActionTriggerError, create_action

def run(nango, input):
{body}

action = create_action(description="test", input={{}}, output={{}}, exec=run{extra})
"""


def deploy_body(world, name: str, body: str, extra: str = ""):
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    deploy_source(world.github, name, TEMPLATE.format(body=indented, extra=extra))


def execution_of(response) -> Execution:
    return Execution.objects.get(code=response["X-Execution-Id"])


def test_a_child_action_runs_recorded_and_linked_both_ways(tworld, api):
    deploy_body(tworld, "child", 'return {"doubled": input["n"] * 2, "on": nango.connection_id}')
    deploy_body(
        tworld,
        "parent",
        'out = nango.trigger_action("child", {"n": input["n"]})\nreturn {"child": out}',
    )

    r = trigger(api, "parent", {"n": 21})

    assert r.status_code == 200, r.content
    assert r.json() == {"child": {"doubled": 42, "on": "conn-1"}}
    parent = execution_of(r)
    [child] = parent.children.all()
    assert (child.action_name, child.status, child.input) == ("child", "succeeded", {"n": 21})
    assert child.output == {"doubled": 42, "on": "conn-1"}
    assert child.connection_record == parent.connection_record and not child.is_async
    detail = api.get(f"/executions/{parent.code}").json()
    assert (detail["children"], detail["parent_id"]) == ([str(child.code)], None)
    assert api.get(f"/executions/{child.code}").json()["parent_id"] == str(parent.code)
    assert f"trigger_action child: execution {child.code} succeeded" in [
        line["message"] for line in parent.logs
    ]


def test_a_child_on_another_connection_and_integration(tworld, api):
    slack = tworld.github.environment.integrations.create(unique_key="chat", provider="slack")
    make_connection(slack, "team-9", credentials={"type": "OAUTH2", "access_token": "xoxb-t"})
    deploy_source(
        slack,
        "whoami",
        TEMPLATE.format(body="    return {'key': nango.provider_config_key}", extra=""),
    )
    deploy_body(
        tworld,
        "parent",
        'return nango.trigger_action("whoami", None, connection_id="team-9",\n'
        '                            provider_config_key="chat")',
    )
    r = trigger(api, "parent")
    assert r.json() == {"key": "chat"}
    assert execution_of(r).children.get().connection_id == "team-9"


def test_a_failed_child_fails_its_parent_with_the_childs_error(tworld, api):
    deploy_body(tworld, "child", 'raise ActionError({"message": "no such repo"})')
    deploy_body(tworld, "parent", 'return nango.trigger_action("child", {})')

    r = trigger(api, "parent")

    assert r.status_code == 500
    error = r.json()["error"]
    assert error["code"] == "action_script_runtime_error"
    child = execution_of(r).children.get()
    assert error["payload"] == {
        "message": "the action 'child' failed: The action script failed with a runtime error",
        "action": "child",
        "error": child.error["error"],
        "status": 500,
        "execution_id": str(child.code),
    }
    assert child.error["error"]["payload"] == {"message": "no such repo"}


def test_a_parent_may_catch_a_childs_failure(tworld, api):
    deploy_body(
        tworld,
        "parent",
        'try:\n    nango.trigger_action("missing", {})\nexcept ActionTriggerError as exc:\n'
        '    return {"code": exc.error["code"], "status": exc.status}',
    )
    r = trigger(api, "parent")
    assert r.json() == {"code": "not_found", "status": None}
    assert execution_of(r).children.count() == 0


def test_a_childs_timeout_is_nested_within_its_parents_deadline(tworld, api):
    deploy_body(tworld, "child", "while True:\n    time.sleep(0.01)", extra=", timeout=60")
    deploy_body(
        tworld,
        "parent",
        'time.sleep(0.3)\ntry:\n    nango.trigger_action("child", {})\n'
        "except ActionTriggerError as exc:\n    return exc.error",
        extra=", timeout=3",
    )

    r = trigger(api, "parent")

    # The parent took the child's answer before its own deadline.
    assert r.status_code == 200, r.content
    child = execution_of(r).children.get()
    assert r.json() == child.error["error"]
    assert child.error["error"]["payload"]["reason"] == "timeout"
    # What the parent had left (less a margin), not the child's own 60 s.
    assert 2.0 < child.error["error"]["payload"]["timeout_seconds"] < 2.7
    assert child.duration_ms < 2700


def test_actions_triggering_themselves_stop_at_the_depth_limit(tworld, api):
    deploy_body(tworld, "loop", 'return nango.trigger_action("loop", {})')
    r = trigger(api, "loop")
    assert r.status_code == 500
    assert Execution.objects.count() == MAX_TRIGGER_DEPTH + 1
    deepest = Execution.objects.order_by("-created", "-pk").first()
    assert deepest.error["error"]["payload"]["error"]["code"] == "trigger_depth_exceeded"


def test_a_lock_is_exclusive_between_runs_and_released_when_its_run_ends(tworld, api):
    deploy_body(
        tworld,
        "child",
        'return {"child_got": nango.try_acquire_lock("report", 30)}',
    )
    deploy_body(
        tworld,
        "parent",
        'got = nango.try_acquire_lock("report", 30)\nagain = nango.try_acquire_lock("report", 30)\n'
        'child = nango.trigger_action("child", {})\n'
        'return {"got": got, "again": again, **child}',
    )

    r = trigger(api, "parent")

    # The child is another run: the parent's lock keeps it out; the parent may renew its own.
    assert r.json() == {"got": True, "again": True, "child_got": False}
    assert Lock.objects.count() == 0  # released at the end of the run
    parent = execution_of(r)
    assert trigger(api, "child").json() == {"child_got": True}
    assert parent.children.count() == 1


def test_release_lock_and_an_expired_lock(tworld, api):
    Lock.objects.create(
        environment=tworld.env, key="stale", owner="x" * 32, expires=now() - timedelta(seconds=1)
    )
    Lock.objects.create(
        environment=tworld.other_env, key="mine", owner="y" * 32, expires=now() + timedelta(hours=1)
    )
    deploy_body(
        tworld,
        "locks",
        'return {"stale": nango.try_acquire_lock("stale", 5),\n'
        '        "mine": nango.try_acquire_lock("mine", 5),\n'
        '        "released": nango.release_lock("mine"),\n'
        '        "again": nango.release_lock("mine"),\n'
        '        "never": nango.release_lock("never")}',
    )
    r = trigger(api, "locks")
    # Another environment's lock of the same name is another lock.
    assert r.json() == {
        "stale": True,
        "mine": True,
        "released": True,
        "again": False,
        "never": False,
    }
    assert list(Lock.objects.values_list("key", flat=True)) == ["mine"]


@pytest.mark.parametrize(
    "call",
    [
        'nango.try_acquire_lock("k", 0)',
        'nango.try_acquire_lock("", 5)',
        'nango.try_acquire_lock("k", "5")',
        'nango.try_acquire_lock("k", 10**9)',
    ],
)
def test_bad_lock_arguments_are_the_functions_error(tworld, api, call):
    deploy_body(tworld, "locks", f"return {call}")
    r = trigger(api, "locks")
    assert r.json()["error"]["code"] == "action_script_runtime_error"
    assert Lock.objects.count() == 0


def test_two_concurrent_runs_contend_for_one_lock(tworld, api):
    # The first run holds the lock while the provider keeps it waiting; meanwhile a second
    # run of the same action asks for the lock.
    entered, release = threading.Event(), threading.Event()

    def hold(request):
        entered.set()
        release.wait(20)
        return 200, {}, "{}"

    deploy_body(
        tworld,
        "exclusive",
        'if not nango.try_acquire_lock("nightly", 30):\n    return {"acquired": False}\n'
        'nango.get("/hold")\nreturn {"acquired": True}',
    )
    results = {}
    with responses.RequestsMock() as mock:
        mock.add_callback("GET", "https://api.github.com/hold", callback=hold)
        thread = threading.Thread(target=lambda: results.update(first=trigger(api, "exclusive")))
        thread.start()
        try:
            assert entered.wait(20)
            second = trigger(api, "exclusive")
        finally:
            release.set()
            thread.join(20)
    assert second.json() == {"acquired": False}
    assert results["first"].json() == {"acquired": True}
    first = execution_of(results["first"])
    assert first.started < execution_of(second).finished < first.finished  # they overlapped
    assert Lock.objects.count() == 0
    # Released when the first run ended: a third run takes it.
    with responses.RequestsMock() as mock:
        mock.get("https://api.github.com/hold", json={})
        assert trigger(api, "exclusive").json() == {"acquired": True}


def test_an_async_function_awaits_other_actions_and_locks(tworld, api):
    deploy_body(tworld, "child", "return [1, 2]")
    deploy_source(
        tworld.github,
        "parent",
        """
        from nango import create_action

        async def run(nango, input):
            got = await nango.try_acquire_lock("k", 5)
            items = await nango.trigger_action("child")
            released = await nango.release_lock("k")
            return {"got": got, "items": items, "released": released}

        action = create_action(description="p", input={"type": "null"}, output={}, exec=run)
        """,
    )
    r = trigger(api, "parent")
    assert r.json() == {"got": True, "items": [1, 2], "released": True}

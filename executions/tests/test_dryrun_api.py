"""POST /functions/dryrun: a posted function runs on the server against a real connection,
storing nothing; with `save`, the answer carries the fixture that replays without it."""

import json

import pytest
import responses
from rest_framework.test import APIClient

from conftest import deploy_source
from executions.models import Execution, Lock
from integrations.models import Connection, FunctionVersion
from nango.testing import replay
from nango.tree import write_fixture

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "gho_secret_token"  # the world's connection's
ISSUES = """
from nango import create_action

from ..lib.paths import issues_of

def run(nango, input):
    nango.log("listing")
    meta = nango.get_metadata()
    r = nango.get(issues_of(input["repo"]), params={"state": "open", "per_page": 2})
    nango.update_metadata({"seen": len(r.data)})
    got = nango.try_acquire_lock("issues-" + input["repo"], 30)
    token = nango.get_token()
    return {"titles": [i["title"] for i in r.data], "plan": meta.get("plan"), "locked": got,
            "token_length": len(token)}

action = create_action(description="Issues", input={"type": "object"},
                       output={"type": "object", "required": ["titles"]}, exec=run)
"""
PATHS = "def issues_of(repo):\n    return f'/repos/{repo}/issues'\n"
FILES = {"functions/github/actions/issues.py": ISSUES, "functions/github/lib/paths.py": PATHS}


def dryrun(api, **body):
    body = {"files": FILES, "action": "issues", "connection_id": "conn-1", **body}
    return api.post("/functions/dryrun", body, format="json")


@pytest.fixture
def provider():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(
            "https://api.github.com/repos/acme/app/issues",
            json=[{"title": "one"}, {"title": "two"}],
        )
        yield mock


def test_it_runs_the_posted_source_with_the_connections_credentials(tworld, api, provider):
    Connection.objects.filter(pk=tworld.connection.pk).update(metadata={"plan": "pro"})

    r = dryrun(api, input={"repo": "acme/app"})

    assert r.status_code == 200, r.content
    answer = r.json()
    assert answer["ok"] is True and answer["status"] == 200
    assert answer["output"] == {
        "titles": ["one", "two"],
        "plan": "pro",
        "locked": True,
        "token_length": len(TOKEN),
    }
    assert [line["message"] for line in answer["logs"]] == ["listing"]
    assert answer["provider_calls"][0]["url"].startswith("https://api.github.com/repos/acme/app")
    # The credentials went to the provider, and nowhere else.
    assert provider.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in r.content.decode()
    assert answer["fixture"] is None
    # Nothing stored: no execution, no version; the lock was released at the end.
    assert Execution.objects.count() == FunctionVersion.objects.count() == Lock.objects.count() == 0


def test_save_answers_a_fixture_that_replays_without_the_platform(tworld, api, provider, tmp_path):
    r = dryrun(api, input={"repo": "acme/app"}, save=True)

    answer = r.json()
    fixture = answer["fixture"]
    assert answer["fixture_path"] == "functions/github/tests/issues.json"
    assert TOKEN not in json.dumps(fixture)
    [call] = fixture["calls"]
    assert (call["method"], call["endpoint"], call["params"]) == (
        "GET",
        "/repos/acme/app/issues",
        {"state": "open", "per_page": 2},
    )
    assert [(c["method"], c["args"], c.get("result")) for c in fixture["nango"]] == [
        ("get_metadata", [], {}),
        ("update_metadata", [{"seen": 2}], {"seen": 2}),
        ("try_acquire_lock", ["issues-acme/app", 30], True),
        ("get_token", [], "[REDACTED]"),
    ]
    assert fixture["connection"]["provider_config_key"] == "github"
    assert Execution.objects.count() == 0

    root = tmp_path / "functions"
    for path, source in FILES.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(source)
    replayed = replay(write_fixture(root, "github", "issues", fixture))
    assert replayed.unused_calls == []
    # The recorded token is redacted: the replay sees what the fixture holds.
    assert replayed.output == {**fixture["output"], "token_length": len("[REDACTED]")}


def test_a_failing_action_is_answered_with_its_error(tworld, api):
    with responses.RequestsMock() as mock:
        mock.get("https://api.github.com/repos/acme/app/issues", status=404, json={"m": "no"})
        r = dryrun(api, input={"repo": "acme/app"}, save=True)
    answer = r.json()
    assert r.status_code == 200
    assert (answer["ok"], answer["status"], answer["error"]["code"]) == (
        False,
        424,
        "script_http_error",
    )
    assert answer["fixture"] is None  # only a successful run is recorded


def test_validation_is_a_warning_unless_asked_for(tworld, api, provider):
    r = dryrun(api, input=["not", "an", "object"])
    assert r.json()["warnings"] == ["input []: ['not', 'an', 'object'] is not of type 'object'"]
    r = dryrun(api, input=["not", "an", "object"], validation=True)
    assert r.json()["error"]["code"] == "invalid_action_input"


def test_a_dry_runs_trigger_action_runs_the_live_child_without_records(tworld, api):
    deploy_source(
        tworld.github,
        "child",
        """
        from nango import create_action
        action = create_action(description="c", input={"type": "object"},
                               output={"type": "object"},
                               exec=lambda nango, input: {"twice": input["n"] * 2})
        """,
    )
    parent = """
from nango import create_action

action = create_action(description="p", input={"type": "null"}, output={"type": "object"},
                       exec=lambda nango, input: nango.trigger_action("child", {"n": 4}))
"""
    r = api.post(
        "/functions/dryrun",
        {
            "files": {"functions/github/actions/parent.py": parent},
            "action": "parent",
            "connection_id": "conn-1",
            "save": True,
        },
        format="json",
    )
    answer = r.json()
    assert answer["output"] == {"twice": 8}
    assert answer["fixture"]["nango"] == [
        {
            "method": "trigger_action",
            "args": ["child", {"n": 4}, None, None],
            "result": {"twice": 8},
        }
    ]
    logs = [line["message"] for line in answer["logs"]]
    assert "trigger_action child: dry run, not recorded" in logs
    assert Execution.objects.count() == 0


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"connection_id": "nobody"}, 400, "unknown_connection"),
        ({"action": "missing"}, 404, "not_found"),
        ({"files": {"functions/github/actions/issues.py": "def x(:\n"}}, 400, "invalid_functions"),
        ({"files": {"functions/github/actions/issues.py": ISSUES}}, 400, "invalid_functions"),
        ({"input": float("nan")}, 400, "invalid_body"),
        ({"environment": "prod"}, 400, "invalid_body"),
        ({"action": ""}, 400, "invalid_body"),
    ],
)
def test_it_refuses_what_cannot_run(tworld, api, body, status, code):
    if "input" in body:
        raw = '{"files": {}, "action": "issues", "connection_id": "conn-1", "input": NaN}'
        r = api.post("/functions/dryrun", raw, content_type="application/json")
    else:
        r = dryrun(api, **body)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.content
    assert Execution.objects.count() == 0


def test_it_names_the_file_and_line_of_a_broken_posted_file(tworld, api):
    r = dryrun(api, files={"functions/github/actions/issues.py": ISSUES})
    [problem] = r.json()["error"]["errors"]
    assert problem["message"].startswith(
        "functions/github/actions/issues.py:4: import of 'functions.github.lib.paths'"
    )


def test_a_wrong_key_runs_nothing(tworld, provider):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer nope")
    r = dryrun(client, input={"repo": "acme/app"})
    assert r.status_code == 401
    assert len(provider.calls) == 0

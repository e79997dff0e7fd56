"""Sync triggers end to end: gunicorn + SQLite + a fake GitHub, driven over HTTP."""

import threading
import time
import uuid

import pytest

from tests.actions import CREATE_ISSUE

pytestmark = pytest.mark.e2e

TOKEN = "gho_e2e_token_1234"
OTHER_TOKEN = "gho_other_env_token_5678"

WHOAMI = """
from nango import create_action

def run(nango, input):
    return {"login": nango.get("/user").data["login"]}

action = create_action(description="Who am I", input={"type": "null"},
                       output={"type": "object"}, exec=run)
"""

SPIN = """
from nango import create_action

def run(nango, input):
    while True:
        pass

action = create_action(description="Busy loop", input={"type": "null"},
                       output={"type": "null"}, exec=run, timeout=1)
"""

NAP = """
import time
from nango import create_action

def run(nango, input):
    while True:
        time.sleep(0.1)

action = create_action(description="Sleeps forever", input={"type": "null"},
                       output={"type": "null"}, exec=run, timeout=1)
"""

FUNCTIONS = {"create-issue": CREATE_ISSUE, "whoami": WHOAMI, "spin": SPIN, "nap": NAP}


@pytest.fixture(scope="module")
def world(platform):
    """Both environments get a github integration and a connection `conn-1`; only `e2e`
    gets the deployed actions."""
    for secret, token in ((platform.secret, TOKEN), (platform.other_secret, OTHER_TOKEN)):
        api = platform.client(secret)
        r = api.post(
            platform.url + "/integrations",
            json={"unique_key": "github", "provider": "github"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert r.json()["data"]["provider"] == "github"
        r = api.post(
            platform.url + "/connections",
            json={
                "provider_config_key": "github",
                "connection_id": "conn-1",
                "credentials": {"type": "OAUTH2", "access_token": token},
            },
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert r.json()["connection_id"] == "conn-1"

    for name, source in FUNCTIONS.items():
        platform.write_function("github", name, source)
    out = platform.deploy()
    assert "4 created, 0 updated, 0 unchanged in e2e" in out, out

    platform.provider.route(
        "POST",
        "/repos/acme/app/issues",
        status=201,
        json={"id": 7, "html_url": "https://github.com/acme/app/issues/7"},
    )
    platform.provider.route("GET", "/user", json={"login": "octocat", "id": 1})
    return platform


def error_of(response) -> dict:
    return response.json()["error"]


def test_it_runs_an_action_and_answers_its_raw_output(world):
    before = len(world.provider.requests)
    r = world.trigger("create-issue", {"repo": "acme/app", "title": "Bug"})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": 7, "url": "https://github.com/acme/app/issues/7"}
    assert r.headers["X-Execution-Id"]

    (sent,) = world.provider.requests[before:]
    assert (sent.method, sent.path) == ("POST", "/repos/acme/app/issues")
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert sent.json() == {"title": "Bug"}


def test_a_wrong_secret_key_is_401(world):
    for auth in (f"Bearer {uuid.uuid4()}", "Bearer not-a-key"):
        r = world.trigger("whoami", session=world.client(auth.split(" ", 1)[1]))
        assert r.status_code == 401, r.text
        assert error_of(r)["code"] == "unknown_account"
    r = world.trigger("whoami", headers={"Authorization": None})
    assert r.status_code == 401
    assert error_of(r)["code"] == "missing_auth_header"


def test_another_environments_key_never_reaches_this_environments_actions(world):
    # A valid key of another environment authenticates *that* environment (there is no
    # 401 to give), and nothing of ours is visible from it: its github integration has the
    # same key and connection id, but not the action.
    before = len(world.provider.requests)
    other = world.client(world.other_secret)
    r = world.trigger("whoami", session=other)
    assert r.status_code == 404, r.text
    assert error_of(r)["code"] == "not_found"
    r = other.get(world.url + "/integrations/github/functions", timeout=10)
    assert r.status_code == 200 and r.json()["data"] == []
    r = other.get(world.url + "/connections/conn-1?provider_config_key=github", timeout=10)
    assert r.json()["credentials"]["access_token"] == OTHER_TOKEN
    assert world.provider.requests[before:] == []


def test_a_missing_connection_id_is_invalid_headers(world):
    r = world.trigger("whoami", connection=None)
    assert r.status_code == 400, r.text
    error = error_of(r)
    assert error["code"] == "invalid_headers"
    assert ["connection_id"] in [e["path"] for e in error["errors"]]


def test_malformed_json_is_invalid_body(world):
    r = world.client().post(
        world.url + "/action/trigger",
        data=b'{"action_name": "whoami",',
        headers={
            "Connection-Id": "conn-1",
            "Provider-Config-Key": "github",
            "Content-Type": "application/json",
        },
        timeout=10,
    )
    assert r.status_code == 400, r.text
    assert error_of(r)["code"] == "invalid_body"


def test_an_unknown_action_is_404(world):
    r = world.trigger("no-such-action")
    assert r.status_code == 404, r.text
    assert error_of(r)["code"] == "not_found"


def test_an_unknown_connection_is_400(world):
    r = world.trigger("whoami", connection="conn-nope")
    assert r.status_code == 400, r.text
    assert error_of(r)["code"] == "unknown_connection"


@pytest.mark.parametrize("action", ["spin", "nap"])
def test_a_hanging_action_times_out_without_blocking_the_server(world, action):
    result = {}

    def hang():
        result["response"] = world.trigger(action, timeout=15)

    hanging = threading.Thread(target=hang, daemon=True)
    hanging.start()
    time.sleep(0.3)  # let the run start

    # Each parallel trigger notes whether the hanging one was still waiting when it was
    # answered: a server that the hanging run blocked answers none of them before it.
    quick = world.client()
    while_hanging = []
    while hanging.is_alive() and len(while_hanging) < 5:
        r = world.trigger("whoami", session=quick, timeout=10)
        while_hanging.append(hanging.is_alive())
        assert r.status_code == 200, r.text
        assert r.json() == {"login": "octocat"}
    assert any(while_hanging), "no parallel trigger was answered while the hanging one ran"

    hanging.join(timeout=10)
    assert not hanging.is_alive()
    r = result["response"]
    assert r.status_code == 500, r.text
    error = error_of(r)
    assert error["code"] == "action_script_failure"
    assert error["payload"]["reason"] == "timeout"
    assert error["payload"]["timeout_seconds"] == 1

    # The interrupted run freed its thread: the server is still fully responsive.
    r = world.trigger("whoami")
    assert r.status_code == 200, r.text


def test_functions_lists_the_deployed_actions(world):
    r = world.client().get(world.url + "/integrations/github/functions", timeout=10)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert sorted(f["name"] for f in data) == sorted(FUNCTIONS)
    (issue,) = [f for f in data if f["name"] == "create-issue"]
    assert issue["type"] == "action"
    assert issue["version"] == "1.0.0"
    assert issue["description"] == "Create an issue"
    assert issue["json_schema"]["input"]["required"] == ["repo", "title"]


def test_a_connection_is_returned_with_its_credentials(world):
    r = world.client().get(world.url + "/connections/conn-1?provider_config_key=github", timeout=10)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["connection_id"] == "conn-1"
    assert data["provider_config_key"] == "github"
    assert data["credentials"]["type"] == "OAUTH2"
    assert data["credentials"]["access_token"] == TOKEN

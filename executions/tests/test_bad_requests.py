"""Bad requests to /action/trigger: the documented error, no stack trace, no stray rows."""

import pytest
from rest_framework.test import APIClient

from conftest import OTHER_SECRET, deploy_source, trigger
from executions.models import Execution

pytestmark = pytest.mark.django_db

ECHO = """
from nango import create_action
action = create_action(description="echo", input={"type": "object"},
                       output={"type": "object"}, exec=lambda nango, input: input)
"""


@pytest.fixture
def echo(world):
    deploy_source(world.github, "echo", ECHO)
    return world


def error_of(r) -> dict:
    body = r.json()
    assert set(body) == {"error"}
    assert "Traceback" not in r.content.decode()
    return body["error"]


def test_it_requires_a_key(echo):
    r = trigger(APIClient(), "echo", {})
    assert r.status_code == 401
    assert error_of(r)["code"] == "missing_auth_header"


@pytest.mark.parametrize("header", ["Bearer wrong", "Basic abc", "Bearer", "Token x y"])
def test_it_refuses_a_wrong_key(echo, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    r = trigger(client, "echo", {})
    assert r.status_code == 401
    assert error_of(r)["code"] in ("unknown_account", "invalid_auth_header")


def test_it_does_not_let_another_environments_key_reach_our_connection(echo):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {OTHER_SECRET}")
    # The other environment has a github connection "conn-1" too, but no "echo" action.
    r = trigger(client, "echo", {})
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"
    assert Execution.objects.count() == 0


@pytest.mark.parametrize(
    "headers, field",
    [
        ({"HTTP_CONNECTION_ID": ""}, "connection_id"),
        ({"HTTP_CONNECTION_ID": "x" * 256}, "connection_id"),
        ({"HTTP_PROVIDER_CONFIG_KEY": "bad/key"}, "provider_config_key"),
        ({"HTTP_X_ASYNC": "maybe"}, "x_async"),
        ({"HTTP_X_MAX_RETRIES": "6"}, "x_max_retries"),
        ({"HTTP_X_MAX_RETRIES": "-1"}, "x_max_retries"),
        ({"HTTP_X_MAX_RETRIES": "two"}, "x_max_retries"),
    ],
)
def test_it_refuses_bad_headers(echo, api, headers, field):
    r = trigger(api, "echo", {}, **headers)
    assert r.status_code == 400
    error = error_of(r)
    assert error["code"] == "invalid_headers"
    assert [e["path"] for e in error["errors"]] == [[field]]
    assert Execution.objects.count() == 0


def test_it_requires_the_connection_headers(echo, api):
    r = api.post("/action/trigger", {"action_name": "echo"}, format="json")
    error = error_of(r)
    assert r.status_code == 400 and error["code"] == "invalid_headers"
    assert sorted(e["path"][0] for e in error["errors"]) == ["connection_id", "provider_config_key"]


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'"text"', b'{"input": {}}', b'{"action_name": 5}',
     b'{"action_name": "bad name!"}', b"\xff\xfe", b'{"action_name": "echo", "input": NaN}',
     b'{"action_name": "echo", "input": "a\\u0000b"}', b"[" * 100_000 + b"]" * 100_000],
)  # fmt: skip
def test_it_refuses_a_bad_body(echo, api, raw):
    r = api.generic(
        "POST",
        "/action/trigger",
        raw,
        content_type="application/json",
        HTTP_CONNECTION_ID="conn-1",
        HTTP_PROVIDER_CONFIG_KEY="github",
    )
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid_body"
    assert Execution.objects.count() == 0


def test_it_refuses_an_oversized_body(echo, api, settings):
    settings.MAX_REQUEST_BYTES = 1000
    r = trigger(api, "echo", {"blob": "x" * 2000})
    assert r.status_code == 413
    assert error_of(r)["code"] == "payload_too_large"


def test_it_accepts_a_body_without_a_json_content_type(echo, api):
    # Unlike Django's defaults, a plain-text content type still reads as JSON (curl users).
    r = api.generic(
        "POST",
        "/action/trigger",
        b'{"action_name": "echo", "input": {"a": 1}}',
        content_type="text/plain",
        HTTP_CONNECTION_ID="conn-1",
        HTTP_PROVIDER_CONFIG_KEY="github",
    )
    assert r.status_code == 200, r.content


def test_it_refuses_a_query_string(echo, api):
    r = api.post(
        "/action/trigger?x=1",
        {"action_name": "echo"},
        format="json",
        HTTP_CONNECTION_ID="conn-1",
        HTTP_PROVIDER_CONFIG_KEY="github",
    )
    assert r.status_code == 400 and error_of(r)["code"] == "invalid_query_params"


def test_it_names_an_unknown_connection(echo, api):
    r = trigger(api, "echo", {}, connection="nobody")
    assert r.status_code == 400 and error_of(r)["code"] == "unknown_connection"


def test_it_names_an_unknown_integration(echo, api):
    r = trigger(api, "echo", {}, key="gitlab")
    assert r.status_code == 400 and error_of(r)["code"] == "unknown_provider"


def test_it_answers_404_for_an_unknown_action(echo, api):
    r = trigger(api, "nope", {})
    assert r.status_code == 404
    assert error_of(r) == {"code": "not_found", "message": "Action not found"}


def test_it_answers_404_disabled_resource_for_a_disabled_action(echo, api):
    echo.github.functions.update(enabled=False)
    r = trigger(api, "echo", {})
    assert r.status_code == 404 and error_of(r)["code"] == "disabled_resource"
    assert Execution.objects.count() == 0


def test_it_refuses_other_methods(echo, api):
    r = api.get("/action/trigger")
    assert r.status_code == 405 and error_of(r)["code"] == "method_not_allowed"

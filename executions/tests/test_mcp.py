import json

import pytest
import responses

from conftest import OTHER_SECRET, deploy_source, make_integration
from executions.models import Execution
from integrations.models import Function
from tests.actions import CREATE_ISSUE

pytestmark = pytest.mark.django_db(transaction=True)

LABELS = """
from nango import create_action

action = create_action(
    description="Labels",
    input={"type": "null"},
    output={"type": "array", "items": {"type": "string"}},
    exec=lambda nango, input: ["bug", "help wanted"],
)
"""

HEADERS = {"HTTP_CONNECTION_ID": "conn-1", "HTTP_PROVIDER_CONFIG_KEY": "github"}


@pytest.fixture
def deployed(tworld):
    deploy_source(tworld.github, "create-issue", CREATE_ISSUE)
    deploy_source(tworld.github, "labels", LABELS)
    slack = make_integration(tworld.env, "slack", "slack")
    deploy_source(slack, "post-message", LABELS)
    return tworld


def rpc(api, method, params=None, id=1, headers=HEADERS, **extra):
    message = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        message["id"] = id
    if params is not None:
        message["params"] = params
    return api.post("/mcp", message, format="json", **{**headers, **extra})


def test_it_initializes_with_the_clients_protocol_version(deployed, api):
    r = rpc(api, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}})
    assert r.status_code == 200
    assert r["Content-Type"] == "application/json"
    body = r.json()
    assert body["id"] == 1 and body["jsonrpc"] == "2.0"
    assert body["result"]["protocolVersion"] == "2025-06-18"
    assert body["result"]["capabilities"] == {"tools": {"listChanged": False}}
    assert body["result"]["serverInfo"]["name"] == "nangosite"
    # A version we do not speak is answered with our newest.
    r = rpc(api, "initialize", {"protocolVersion": "2099-01-01"})
    assert r.json()["result"]["protocolVersion"] == "2025-11-25"


def test_it_accepts_notifications_without_a_body(deployed, api):
    r = rpc(api, "notifications/initialized", id=None)
    assert r.status_code == 202
    assert r.content == b""


def test_it_lists_the_enabled_actions_of_the_integration(deployed, api):
    Function.objects.filter(name="labels").update(enabled=False)
    r = rpc(api, "tools/list")
    assert r.status_code == 200
    (tool,) = r.json()["result"]["tools"]
    assert tool["name"] == "create-issue"
    assert tool["description"] == "Create an issue"
    assert tool["inputSchema"]["required"] == ["repo", "title"]
    assert tool["outputSchema"]["required"] == ["id", "url"]


def test_it_wraps_schemas_that_are_not_objects(deployed, api):
    (labels,) = [
        t for t in rpc(api, "tools/list").json()["result"]["tools"] if t["name"] == "labels"
    ]
    assert labels["inputSchema"] == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    assert labels["outputSchema"]["properties"]["result"]["type"] == "array"
    r = rpc(api, "tools/call", {"name": "labels", "arguments": {}})
    result = r.json()["result"]
    assert result["isError"] is False
    assert result["structuredContent"] == {"result": ["bug", "help wanted"]}
    assert json.loads(result["content"][0]["text"]) == ["bug", "help wanted"]


@responses.activate
def test_it_calls_a_tool_through_the_trigger_path(deployed, api):
    responses.post(
        "https://api.github.com/repos/acme/app/issues",
        json={"id": 7, "html_url": "https://github.com/acme/app/issues/7"},
        status=201,
    )
    r = rpc(
        api,
        "tools/call",
        {"name": "create-issue", "arguments": {"repo": "acme/app", "title": "Bug"}},
    )
    assert r.status_code == 200
    result = r.json()["result"]
    assert result["isError"] is False
    assert result["structuredContent"] == {"id": 7, "url": "https://github.com/acme/app/issues/7"}
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    assert responses.calls[0].request.headers["Authorization"] == "Bearer gho_secret_token"
    execution = Execution.objects.get()
    assert execution.status == "succeeded" and not execution.is_async
    assert execution.action_name == "create-issue" and execution.connection_id == "conn-1"
    assert result["_meta"]["executionId"] == str(execution.code)


def test_it_answers_bad_input_with_a_tool_error(deployed, api):
    r = rpc(api, "tools/call", {"name": "create-issue", "arguments": {"repo": "acme/app"}})
    result = r.json()["result"]
    assert result["isError"] is True
    error = result["structuredContent"]["error"]
    assert error["code"] == "invalid_action_input"
    assert error["errors"][0]["message"] == "'title' is a required property"
    assert "invalid_action_input" in result["content"][0]["text"]
    assert Execution.objects.get().status == "failed"


def test_it_answers_an_action_error_with_its_payload(deployed, api):
    r = rpc(
        api, "tools/call", {"name": "create-issue", "arguments": {"repo": "a/b", "title": "locked"}}
    )
    result = r.json()["result"]
    assert result["isError"] is True
    error = result["structuredContent"]["error"]
    assert error["code"] == "action_script_runtime_error"
    assert error["payload"] == {"message": "the repository is locked"}


@responses.activate
def test_it_answers_a_provider_refusal_with_a_tool_error(deployed, api):
    responses.post("https://api.github.com/repos/a/b/issues", json={"message": "Nope"}, status=403)
    r = rpc(api, "tools/call", {"name": "create-issue", "arguments": {"repo": "a/b", "title": "x"}})
    error = r.json()["result"]["structuredContent"]["error"]
    assert error["code"] == "script_http_error"
    assert error["upstream"]["status"] == 403
    assert "gho_secret_token" not in r.content.decode()


def test_it_refuses_unknown_and_disabled_tools(deployed, api):
    r = rpc(api, "tools/call", {"name": "post-message", "arguments": {}})
    assert r.json()["error"]["code"] == -32602
    assert r.json()["error"]["message"] == "Unknown tool: post-message"
    Function.objects.filter(name="labels").update(enabled=False)
    r = rpc(api, "tools/call", {"name": "labels"})
    assert r.json()["error"]["data"] == {"code": "disabled_resource"}
    r = rpc(api, "tools/call", {"arguments": {}})
    assert r.json()["error"]["code"] == -32602
    r = rpc(api, "tools/call", {"name": "labels", "arguments": [1]})
    assert r.json()["error"]["code"] == -32602
    assert not Execution.objects.exists()


def test_it_answers_ping_and_unknown_methods(deployed, api):
    assert rpc(api, "ping", id="a").json() == {"jsonrpc": "2.0", "id": "a", "result": {}}
    r = rpc(api, "resources/list", id=2)
    assert r.json()["error"]["code"] == -32601
    assert r.json()["id"] == 2


def test_it_answers_bad_json_and_bad_messages(deployed, api):
    r = api.post("/mcp", b"{nope", content_type="application/json", **HEADERS)
    assert r.status_code == 400
    assert r.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "The body is not valid JSON"},
    }
    r = api.post("/mcp", {"id": 1, "method": "ping"}, format="json", **HEADERS)
    assert r.status_code == 400 and r.json()["error"]["code"] == -32600
    r = rpc(api, "ping", id=None, params=[1])
    assert r.status_code == 202  # a notification, even a malformed one, gets no answer
    r = rpc(api, "ping", id=True)
    assert r.json()["error"]["code"] == -32600


def test_it_answers_a_batch(deployed, api):
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    r = api.post("/mcp", batch, format="json", **HEADERS)
    assert [reply["id"] for reply in r.json()] == [1, 2]


def test_it_names_the_missing_connection(deployed, api):
    r = rpc(api, "initialize", {}, headers={"HTTP_PROVIDER_CONFIG_KEY": "github"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["data"]["code"] == "invalid_headers"
    assert "connection_id" in error["message"]
    r = rpc(api, "initialize", {}, headers={**HEADERS, "HTTP_CONNECTION_ID": "nobody"})
    assert r.status_code == 400
    assert r.json()["error"]["data"] == {"code": "unknown_connection"}
    assert r.json()["id"] == 1
    r = rpc(api, "initialize", {}, headers={**HEADERS, "HTTP_PROVIDER_CONFIG_KEY": "nope"})
    assert r.json()["error"]["data"] == {"code": "unknown_provider"}


def test_it_refuses_an_unsupported_protocol_version_header(deployed, api):
    r = rpc(api, "ping", HTTP_MCP_PROTOCOL_VERSION="1999-01-01")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == -32600


def test_it_keeps_environments_apart(deployed, api):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {OTHER_SECRET}")
    # The other environment has a github connection conn-1 too, but none of our actions.
    assert rpc(api, "tools/list").json()["result"]["tools"] == []
    r = rpc(api, "tools/call", {"name": "create-issue", "arguments": {"repo": "a/b", "title": "x"}})
    assert r.json()["error"]["code"] == -32602


def test_it_needs_the_secret_key_and_post(deployed, api, client):
    r = client.post("/mcp", {"jsonrpc": "2.0", "id": 1, "method": "ping"}, **HEADERS)
    assert r.status_code == 401
    assert r["WWW-Authenticate"].startswith("Bearer")
    r = api.get("/mcp", **HEADERS)
    assert r.status_code == 405
    assert "POST" in r["Allow"]

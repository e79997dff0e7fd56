"""POST /mcp end to end: the official `mcp` Python SDK client against gunicorn."""

import textwrap

import anyio
import httpx2
import pytest
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.actions import CREATE_ISSUE
from tests.processes import manage

pytestmark = pytest.mark.e2e

KEY = "mcp-github"
TOKEN = "gho_mcp_token_4321"

LABELS = """
from nango import create_action

action = create_action(description="The repository's labels", input={"type": "null"},
                       output={"type": "array", "items": {"type": "string"}},
                       exec=lambda nango, input: ["bug", "docs"])
"""


@pytest.fixture(scope="module")
def world(platform):
    api = platform.client()
    r = api.post(platform.url + "/integrations", json={"unique_key": KEY, "provider": "github"})
    assert r.status_code == 200, r.text
    r = api.post(
        platform.url + "/connections",
        json={
            "provider_config_key": KEY,
            "connection_id": "alice",
            "credentials": {"type": "OAUTH2", "access_token": TOKEN},
        },
    )
    assert r.status_code == 200, r.text
    # A folder of its own, so other modules' deploys of the shared platform see none of it.
    folder = platform.workdir / "mcp-functions"
    for name, source in (("create_issue", CREATE_ISSUE), ("labels", LABELS)):
        path = folder / KEY / "actions" / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    out = manage(platform.env, "deploy", "e2e", "--dir", str(folder), "--integration", KEY)
    assert "2 created" in out, out
    platform.provider.route(
        "POST",
        "/repos/acme/mcp/issues",
        status=201,
        json={"id": 42, "html_url": "https://github.com/acme/mcp/issues/42"},
    )
    platform.provider.route("POST", "/repos/acme/down/issues", status=503, json={"m": "down"})
    return platform


def session(platform, connection: str = "alice", secret: str | None = None) -> Client:
    """The SDK's client over Streamable HTTP, with our auth and connection headers."""
    http = httpx2.AsyncClient(
        headers={
            "Authorization": f"Bearer {secret or platform.secret}",
            "Connection-Id": connection,
            "Provider-Config-Key": KEY,
        },
        timeout=30,
        trust_env=False,
    )
    return Client(streamable_http_client(platform.url + "/mcp", http_client=http))


def run(coroutine_fn):
    return anyio.run(coroutine_fn)


def test_the_sdk_lists_the_actions_as_tools(world):
    async def go():
        async with session(world) as client:
            assert client.server_info.name == "nangosite"
            return await client.list_tools()

    tools = {tool.name: tool for tool in run(go).tools}
    assert set(tools) == {"create-issue", "labels"}
    create = tools["create-issue"]
    assert create.description == "Create an issue"
    assert create.input_schema["required"] == ["repo", "title"]
    assert create.output_schema["required"] == ["id", "url"]


def test_the_sdk_calls_a_tool(world):
    before = len(world.provider.requests)

    async def go():
        async with session(world) as client:
            await client.list_tools()
            created = await client.call_tool(
                "create-issue", {"repo": "acme/mcp", "title": "From an agent"}
            )
            labels = await client.call_tool("labels", {})
            return created, labels

    created, labels = run(go)
    assert created.is_error is False
    assert created.structured_content == {"id": 42, "url": "https://github.com/acme/mcp/issues/42"}
    assert '"id": 42' in created.content[0].text
    assert labels.structured_content == {"result": ["bug", "docs"]}
    (sent,) = world.provider.requests[before:]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.json() == {"title": "From an agent"}

    # The run is recorded like any sync trigger.
    execution_id = created.meta["executionId"]
    r = world.client().get(f"{world.url}/executions/{execution_id}")
    assert r.json()["status"] == "succeeded"
    assert r.json()["action_name"] == "create-issue"


def test_the_sdk_gets_tool_errors_with_their_code(world):
    async def go():
        async with session(world) as client:
            return [
                await client.call_tool("create-issue", {"repo": "acme/mcp"}),
                await client.call_tool("create-issue", {"repo": "a/b", "title": "locked"}),
                await client.call_tool("create-issue", {"repo": "acme/down", "title": "x"}),
            ]

    invalid, refused, upstream = run(go)
    assert all(r.is_error for r in (invalid, refused, upstream))
    assert invalid.structured_content["error"]["code"] == "invalid_action_input"
    assert refused.structured_content["error"]["code"] == "action_script_runtime_error"
    assert refused.structured_content["error"]["payload"] == {"message": "the repository is locked"}
    assert upstream.structured_content["error"]["code"] == "script_http_error"
    assert upstream.structured_content["error"]["upstream"]["status"] == 503
    assert "action_script_runtime_error" in refused.content[0].text


def mcp_error(coroutine_fn) -> MCPError:
    """The MCPError a client coroutine raised (anyio wraps it in exception groups)."""
    try:
        run(coroutine_fn)
    except BaseException as exc:  # noqa: BLE001 - unwrapped and re-raised below
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        if isinstance(exc, MCPError):
            return exc
        raise
    raise AssertionError("no MCPError was raised")


def test_the_sdk_reports_an_unknown_tool_or_connection(world):
    async def unknown_tool():
        async with session(world) as client:
            await client.call_tool("delete-everything", {})

    error = mcp_error(unknown_tool)
    assert error.error.code == -32602
    assert error.error.message == "Unknown tool: delete-everything"

    async def unknown_connection():
        async with session(world, connection="mallory"):
            pass

    error = mcp_error(unknown_connection)
    assert error.error.message == "Failed to find connection"
    assert error.error.data == {"code": "unknown_connection"}


def test_another_environment_sees_no_tools_of_ours(world):
    async def connect():
        async with session(world, secret=world.other_secret):
            pass

    # The other environment has no such integration.
    assert mcp_error(connect).error.data == {"code": "unknown_provider"}

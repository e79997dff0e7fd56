"""`POST /mcp`: a Model Context Protocol server for one connection.

Streamable HTTP, stateless: every POST carries one JSON-RPC 2.0 message (or a batch) and is
answered with `application/json`; no session id is issued and there is no SSE stream, so
`GET /mcp` is 405 as the transport allows. The secret key authenticates as everywhere else;
`Connection-Id` and `Provider-Config-Key` pick the connection whose integration's enabled
actions are the tools. `tools/call` runs the action synchronously exactly as
`POST /action/trigger` does and records an execution.
"""

import json
import re

from django.http import HttpResponse
from rest_framework.exceptions import ParseError

from executions.models import Execution, TriggerRequest
from integrations import tools
from integrations.auth import lean_post_view
from integrations.errors import ActionDisabled, ActionNotFound, UnknownConnection, UnknownProvider
from integrations.models import CONNECTION_ID_PATTERN, KEY_PATTERN, Connection, FunctionVersion
from nangosite.api import ApiError, raw_json, read_json, validation_errors
from nangosite.lib.headers import Header, parse_headers

# Newest first; an unknown version asked by a client is answered with the first.
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
SERVER_INFO = {"name": "nangosite", "version": "1.0.0"}

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
# Server-defined: the headers name no connection of this environment.
UNKNOWN_CONNECTION = -32001


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: dict | None = None, status: int = 200):
        super().__init__(message)
        self.code, self.message, self.data, self.status = code, message, data, status

    def reply(self, id: object = None) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return {"jsonrpc": "2.0", "id": id, "error": error}


HEADERS = (
    Header("connection_id", required=True, pattern=re.compile(CONNECTION_ID_PATTERN)),
    Header("provider_config_key", required=True, pattern=re.compile(KEY_PATTERN)),
    Header("mcp_protocol_version", kind="choice", choices=PROTOCOL_VERSIONS),
)


def mcp_connection(env, meta: dict) -> Connection:
    """The connection the request's headers name; else a JSON-RPC error to answer."""
    headers, problems = parse_headers(meta, HEADERS)
    if problems:
        errors = validation_errors(problems)
        message = "; ".join(f"{e['path'][0]}: {e['message']}" for e in errors)
        raise RpcError(
            INVALID_REQUEST,
            f"Invalid request headers: {message}",
            {"code": "invalid_headers", "errors": errors},
            400,
        )
    try:
        connection = Connection.objects.resolve(
            env, headers["provider_config_key"], headers["connection_id"]
        )
    except (UnknownProvider, UnknownConnection) as exc:
        raise RpcError(UNKNOWN_CONNECTION, exc.message, {"code": exc.code}, 400) from None
    connection.integration.environment = env  # the one the key named: no query for it
    return connection


def initialize(connection: Connection, params: dict) -> dict:
    asked = params.get("protocolVersion")
    integration = connection.integration
    return {
        "protocolVersion": asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0],
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": SERVER_INFO,
        "instructions": (
            f"Tools are the enabled actions of the integration '{integration.unique_key}' "
            f"({integration.provider}); each call runs for the connection "
            f"'{connection.connection_id}'."
        ),
    }


def list_tools(connection: Connection, params: dict) -> dict:
    env = connection.integration.environment_id
    versions = tools.live_actions(env, connection.integration.unique_key)
    return {"tools": [tools.mcp_tool(v) for v in versions]}


def call_tool(connection: Connection, params: dict) -> dict:
    name, arguments = params.get("name"), params.get("arguments")
    if not isinstance(name, str) or not name:
        raise RpcError(INVALID_PARAMS, "params.name must be the name of a tool")
    if arguments is not None and not isinstance(arguments, dict):
        raise RpcError(INVALID_PARAMS, "params.arguments must be an object")
    integration = connection.integration
    try:
        version = FunctionVersion.objects.runnable(
            integration.environment_id, integration.unique_key, name
        )
        # As a sync `POST /action/trigger`, on the connection already loaded.
        request = TriggerRequest(
            provider_config_key=integration.unique_key,
            connection_id=connection.connection_id,
            action_name=name,
            input=tools.tool_input(version.input_schema, arguments),
        )
        execution = Execution.objects.trigger(integration.environment, request, connection)
    except (ActionNotFound, ActionDisabled) as exc:
        # A disabled or unknown action is not a tool of this server.
        raise RpcError(INVALID_PARAMS, f"Unknown tool: {name}", {"code": exc.code}) from None
    status, data = execution.response()
    meta = {"executionId": str(execution.code)}
    if status == 200:
        return {
            "content": [{"type": "text", "text": json.dumps(data, indent=2)}],
            "structuredContent": tools.structured_output(version.output_schema, data),
            "isError": False,
            "_meta": meta,
        }
    # A tool error result, so the model sees what went wrong: {"error": {"code", ...}}.
    return {
        "content": [{"type": "text", "text": json.dumps(data, indent=2)}],
        "structuredContent": data,
        "isError": True,
        "_meta": meta,
    }


METHODS = {
    "initialize": initialize,
    "ping": lambda connection, params: {},
    "tools/list": list_tools,
    "tools/call": call_tool,
}


def handle(connection: Connection, message: object) -> dict | None:
    """The reply to one JSON-RPC message; None for notifications and responses."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return RpcError(INVALID_REQUEST, "Not a JSON-RPC 2.0 message").reply()
    if "method" not in message:
        if "id" in message and ("result" in message or "error" in message):
            return None  # a response to a request of ours; we send none
        return RpcError(INVALID_REQUEST, "Not a JSON-RPC request, notification or response").reply()
    id = message.get("id")
    method, params = message["method"], message.get("params", {})
    if not isinstance(method, str):
        return RpcError(INVALID_REQUEST, "The method must be a string").reply()
    if "id" not in message:
        return None  # notifications (initialized, cancelled…) need no answer
    if not is_id(id):
        return RpcError(INVALID_REQUEST, "The id must be a string or a number").reply()
    if not isinstance(params, dict):
        return RpcError(INVALID_PARAMS, "params must be an object").reply(id)
    if method not in METHODS:
        return RpcError(METHOD_NOT_FOUND, f"Method not found: {method}").reply(id)
    try:
        return {"jsonrpc": "2.0", "id": id, "result": METHODS[method](connection, params)}
    except RpcError as exc:
        return exc.reply(id)


def is_id(value: object) -> bool:
    """A JSON-RPC id: a string or a number."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _first_id(body: object) -> object:
    """The id to answer an error for the whole request with: the first message's, if valid."""
    first = body[0] if isinstance(body, list) and body else body
    id = first.get("id") if isinstance(first, dict) else None
    return id if is_id(id) else None


@lean_post_view
def mcp(request, env) -> HttpResponse:
    try:
        body = read_json(request)
    except ParseError:
        return raw_json(RpcError(PARSE_ERROR, "The body is not valid JSON").reply(), 400)
    except ApiError as exc:
        if exc.code != "invalid_body":
            raise  # too large: the API's 413
        # Valid JSON holding what cannot be stored (a NUL, a lone surrogate, 1e400...):
        # not a message this server takes, and its id may be the bad part, so none is echoed.
        data = {"code": exc.code, "errors": exc.extra["errors"]}
        return raw_json(RpcError(INVALID_REQUEST, exc.message, data).reply(), 400)
    try:
        connection = mcp_connection(env, request.META)
    except RpcError as exc:
        return raw_json(exc.reply(_first_id(body)), exc.status)
    if isinstance(body, list):  # a batch (2025-03-26)
        if not body:
            return raw_json(RpcError(INVALID_REQUEST, "Empty batch").reply(), 400)
        replies = [r for r in (handle(connection, m) for m in body) if r is not None]
        return raw_json(replies) if replies else HttpResponse(status=202)
    reply = handle(connection, body)
    if reply is None:
        return HttpResponse(status=202)
    # A message that is no JSON-RPC request is a bad HTTP request too; errors of a
    # well-formed request (unknown method, bad params) are answers to it.
    bad = "error" in reply and reply["error"]["code"] in (PARSE_ERROR, INVALID_REQUEST)
    return raw_json(reply, 400 if bad else 200)

"""The OpenAPI 3.1 document of the HTTP API (`GET /openapi.json`) and its docs page (`/docs`).

The API's own operations are public: the document says nothing about any environment. Sent
with an environment's secret key, it also has one path per deployed, enabled action of that
environment, `POST /actions/{integration}/{action}` (`executions/views.py`), with the
action's input schema as the request body and its output schema as the 200 answer; without
a key those paths are left out, since they would show what the environment runs.

Action schemas are JSON Schema (draft 7 unless they say otherwise), which OpenAPI 3.1 takes
as they are; each lands in `components.schemas` with its local `$ref`s rewritten to point
there.
"""

import re
from urllib.parse import quote

from django.http import HttpResponse
from django.utils.html import format_html, format_html_join
from django.views.decorators.csrf import csrf_exempt
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from executions.views import UUID_PATTERN
from integrations.models import Environment
from integrations.serializers import MAX_PAGE
from integrations.tools import live_actions
from nangosite.api import method_not_allowed
from nangosite.openapi_components import (
    ACTION_NAME,
    ANY,
    CONNECTION_ID,
    CREDENTIALS,
    INTEGRATION_FIELDS,
    KEY,
    OBJECT,
    PROVIDER,
    PROXY,
    RPC_MESSAGE,
    RPC_REPLY,
    TAGS,
    TRIGGER_HEADERS,
    components,
    error_answer,
    header,
    json_content,
    text,
)
from nangosite.openapi_functions import function_paths


def _params(*names: str) -> list[dict]:
    return [{"$ref": f"#/components/parameters/{name}"} for name in names]


def _path_param(name: str, description: str = "", schema: dict | None = None) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema or text(1000, 1),
        "description": description,
    }


def _query(name: str, schema: dict, description: str = "", required: bool = False) -> dict:
    found = {"name": name, "in": "query", "schema": schema, "description": description}
    if required:
        found["required"] = True
    return found


def _answers(*codes: str) -> dict:
    return {code: {"$ref": f"#/components/responses/E{code}"} for code in codes}


def op(
    summary: str,
    tag: str,
    *,
    params: list | None = None,
    body: dict | None = None,
    ok: dict | None = None,
    status: str = "200",
    errors: tuple[str, ...] = (),
    description: str = "",
    body_required: bool = True,
    **extra,
) -> dict:
    """One operation: its success answer and the errors it can give. Every operation may
    answer 400 (a NUL in the query, say), 401 (the key), 414 and 431 (the web server's
    limits); one with a body also 411 and 413."""
    responses = {status: {"description": "OK", **({"content": json_content(ok)} if ok else {})}}
    common = ("400", "401", "414", "431", *(("411", "413") if body is not None else ()))
    responses.update(_answers(*sorted({*errors, *common})))
    operation = {"summary": summary, "tags": [tag], "responses": responses, **extra}
    if description:
        operation["description"] = description
    if params:
        operation["parameters"] = params
    if body is not None:
        # An empty body reads as {}: optional where {} is a valid request (a PATCH).
        operation["requestBody"] = {"required": body_required, "content": json_content(body)}
    return operation


TRIGGER_DESCRIPTION = (
    "Sync: 200 and the action's raw output. With `X-Async: true`: 202, `Location`, "
    "`{id, statusUrl}`. Errors: see the `Error` schema; input is checked against the "
    "action's input schema before it runs."
)
TRIGGER_RESPONSES = {
    "202": {
        "description": "Queued (X-Async: true)",
        "headers": {"Location": {"schema": {"type": "string"}}},
        "content": json_content({"$ref": "#/components/schemas/AsyncAccepted"}),
    },
    **_answers("404", "409", "410", "500"),
    "424": error_answer("The provider answered non-2xx (`script_http_error`, with `upstream`)"),
    "429": error_answer(
        "Over the environment's triggers a second or its cap on queued async runs "
        "(`too_many_requests`; `Retry-After` and `X-RateLimit-*` say when to retry)"
    ),
}
# http(s) URLs any URL validator takes (labels of at most 63, a name of at most 191).
URL_PATTERN = r"https?://([a-z0-9]{1,63}\.){1,2}[a-z]{2,63}(:[0-9]{1,5})?(/[A-Za-z0-9._~-]*)*"
WEBHOOK_URL_PATTERN = rf"^({URL_PATTERN})?$"
SUCCESS = {"type": "object", "required": ["success"], "properties": {"success": {"const": True}}}
MCP_DESCRIPTION = (
    "`initialize`, `ping`, `tools/list` (the integration's enabled actions), `tools/call` "
    "(runs one synchronously). One JSON-RPC message or a batch; a notification or a "
    "response answers 202 without a body. A body that is not JSON, not a JSON-RPC message, "
    "or that names no connection of the environment is HTTP 400 with a JSON-RPC error; "
    "errors of a well-formed request (unknown method or tool, bad params) are its answer."
)


def _proxy(method: str) -> dict:
    headers = [header(PROXY[name]) for name in ("retries", "retry_on", "base_url_override")]
    operation = op(
        f"Proxy a {method.upper()} request to the provider",
        "proxy",
        params=[
            _path_param(
                "path",
                "The provider path, after the provider's base URL",
                {"type": "string", "minLength": 1},
            ),
            *_params("ConnectionId", "ProviderConfigKey"),
            *headers,
            header(PROXY["decompress"]),
        ],
        errors=("424",),
        description=(
            "Forwards the request with the connection's credentials injected; "
            "`Nango-Proxy-<Name>` headers are sent as `<Name>`. The provider's status, "
            "headers and body come back unchanged, streamed (so any status), and the "
            "proxy's own errors are 400, 424, 502 and 504 in the `Error` shape."
        ),
    )
    operation["responses"]["default"] = {
        "description": "The provider's answer, as it came",
        "content": {"*/*": {"schema": ANY}},
    }
    del operation["responses"]["200"]
    if method != "get":
        operation["requestBody"] = {"content": {"*/*": {"schema": ANY}}}
        operation["responses"].update(_answers("411", "413"))
    return operation


def static_paths() -> dict:
    key = _path_param("key", "The integration's unique key (Provider-Config-Key)", KEY)
    name = _path_param("name", "The action's name")
    cid = _path_param("connection_id", "The connection's id", CONNECTION_ID)
    uuid = {"type": "string", "pattern": UUID_PATTERN}
    execution_id = _path_param("id", "The execution's id (a UUID)", uuid)
    pck = _query("provider_config_key", KEY, "The integration's unique key")
    connection_query = [
        cid,
        {**pck, "required": True},
        _query("force_refresh", {"type": "string", "enum": ["true", "false"]}),
        _query("refresh_token", {"type": "string", "enum": ["true", "false"]}),
    ]
    integration = {"$ref": "#/components/schemas/Integration"}
    connection = {"$ref": "#/components/schemas/Connection"}
    execution = {"$ref": "#/components/schemas/Execution"}
    function = {"$ref": "#/components/schemas/Function"}
    data = lambda s: {"type": "object", "properties": {"data": s}}  # noqa: E731
    trigger = op(
        "Trigger an action",
        "actions",
        params=_params("ConnectionId", "ProviderConfigKey", *TRIGGER_HEADERS),
        body={
            "type": "object",
            "required": ["action_name"],
            "properties": {"action_name": ACTION_NAME, "input": ANY},
        },
        ok=ANY,
        description=TRIGGER_DESCRIPTION,
    )
    trigger["responses"].update(TRIGGER_RESPONSES)
    mcp = op(
        "Model Context Protocol server (Streamable HTTP, JSON-RPC 2.0)",
        "ai",
        params=_params("ConnectionId", "ProviderConfigKey", "McpProtocolVersion"),
        body={"oneOf": [RPC_MESSAGE, {"type": "array", "minItems": 1, "items": ANY}]},
        ok={"oneOf": [RPC_REPLY, {"type": "array", "items": RPC_REPLY}]},
        description=MCP_DESCRIPTION,
    )
    mcp["responses"]["202"] = {"description": "A notification or a response: no body"}
    mcp["responses"]["400"] = {
        "description": "Not JSON, not a JSON-RPC message, or no such connection",
        "content": json_content(RPC_REPLY),
    }
    cancel = op(
        "Cancel an execution",
        "executions",
        params=[execution_id],
        ok=execution,
        errors=("404", "409"),
        description="200 when it was queued (cancelled now); 202 when running (it stops "
        "within a second); 409 once it has ended.",
    )
    cancel["responses"]["202"] = {
        "description": "Running: asked to stop",
        "content": json_content(execution),
    }
    metadata_body = {
        "type": "object",
        "required": ["connection_id", "provider_config_key", "metadata"],
        "properties": {
            "connection_id": {
                "oneOf": [
                    text(10_000, 1),
                    {"type": "array", "minItems": 1, "items": text(10_000, 1)},
                ]
            },
            "provider_config_key": KEY,
            "metadata": OBJECT,
        },
    }
    return {
        "/action/trigger": {"post": trigger},
        "/action/{id}": {
            "get": op(
                "Result of an async run",
                "actions",
                params=[
                    execution_id,
                    _query("wait", {"type": "number", "minimum": 0, "maximum": 30}),
                ],
                ok=ANY,
                errors=("404", "409", "410", "424", "500"),
                description=(
                    "404 `pending` while it is queued or running; once failed, the final "
                    "attempt's error with its status."
                ),
            )
        },
        "/executions/{id}": {
            "get": op(
                "An execution's record",
                "executions",
                params=[execution_id],
                ok=execution,
                errors=("404",),
            )
        },
        "/executions/{id}/cancel": {"post": cancel},
        "/mcp": {"post": mcp},
        "/scripts/config": {
            "get": op(
                "Deployed actions as Nango's config or OpenAI function definitions",
                "ai",
                params=[
                    _query("format", {"type": "string", "enum": ["nango", "openai"]}),
                    pck,
                ],
                ok={"oneOf": [{"type": "array", "items": OBJECT}, data({"type": "array"})]},
            )
        },
        "/integrations": {
            "get": op(
                "List integrations",
                "integrations",
                ok=data({"type": "array", "items": integration}),
            ),
            "post": op(
                "Create an integration",
                "integrations",
                body={
                    "type": "object",
                    "required": ["unique_key", "provider"],
                    "properties": {**INTEGRATION_FIELDS, "provider": PROVIDER},
                },
                ok=data(integration),
                errors=("409",),
            ),
        },
        "/integrations/{key}": {
            "get": op(
                "Get an integration",
                "integrations",
                params=[key, _query("include", {"type": "string", "enum": ["credentials"]})],
                ok=data(integration),
                errors=("404",),
            ),
            "patch": op(
                "Update an integration (its provider cannot change)",
                "integrations",
                params=[key],
                body={
                    "type": "object",
                    "properties": INTEGRATION_FIELDS,
                    "not": {"required": ["provider"]},
                },
                ok=data(integration),
                errors=("404", "409"),
                body_required=False,
            ),
            "delete": op(
                "Delete an integration", "integrations", params=[key], ok=SUCCESS, errors=("404",)
            ),
        },
        "/integrations/{key}/functions": {
            "get": op(
                "Deployed functions of an integration",
                "integrations",
                params=[
                    key,
                    _query("type", {"type": "string", "enum": ["action", "sync", "on-event"]}),
                    _query("search", text(255)),
                    _query("page", {"type": "integer", "minimum": 0, "maximum": MAX_PAGE}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
                ],
                ok={
                    "type": "object",
                    "properties": {
                        "data": {"type": "array", "items": function},
                        "pagination": OBJECT,
                    },
                },
                errors=("404",),
            )
        },
        "/integrations/{key}/functions/{name}": {
            "get": op(
                "One deployed function",
                "integrations",
                params=[key, name],
                ok=data(function),
                errors=("404",),
            )
        },
        "/integrations/{key}/functions/{name}/code": {
            "get": op(
                "A deployed function's source",
                "integrations",
                params=[key, name],
                ok={
                    "type": "object",
                    "properties": {"type": {"type": "string"}, "code": {"type": "string"}},
                },
                errors=("404",),
            )
        },
        "/connections": {
            "get": op(
                "List connections",
                "connections",
                params=[
                    _query("connectionId", text(255)),
                    _query("endUserId", text(255), "The end user's id (Connect)"),
                    _query("endUserOrganizationId", text(255)),
                    _query("search", text(255)),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                    _query("page", {"type": "integer", "minimum": 0, "maximum": MAX_PAGE}),
                ],
                ok={
                    "type": "object",
                    "properties": {"connections": {"type": "array", "items": connection}},
                },
            ),
            "post": op(
                "Import (upsert) a connection with its credentials",
                "connections",
                body={
                    "type": "object",
                    "required": ["provider_config_key", "credentials"],
                    "properties": {
                        "provider_config_key": KEY,
                        "connection_id": CONNECTION_ID,
                        "credentials": CREDENTIALS,
                        "metadata": OBJECT,
                        "connection_config": OBJECT,
                        "tags": TAGS,
                    },
                },
                ok=connection,
                description=(
                    "400 also when the integration is unknown, or its provider takes "
                    "another credential type or more connection config."
                ),
            ),
        },
        "/connections/metadata": {
            method: op(
                summary,
                "connections",
                body=metadata_body,
                ok=OBJECT,
                status=status,
                errors=("404",),
            )
            for method, summary, status in (
                ("post", "Replace connections' metadata", "201"),
                ("patch", "Merge into connections' metadata", "200"),
            )
        },
        "/connections/{connection_id}": {
            "get": op(
                "A connection with fresh credentials",
                "connections",
                params=connection_query,
                ok=connection,
                errors=("404", "424"),
            ),
            "patch": op(
                "Update a connection's tags or webhook URL",
                "connections",
                params=[cid, {**pck, "required": True}],
                body={
                    "type": "object",
                    "properties": {
                        "tags": TAGS,
                        # A plain http(s) URL of a named host (the API's check takes a
                        # little more: IP addresses, query strings); empty clears it.
                        "webhook_url_override": {
                            "type": "string",
                            "maxLength": 2048,
                            "pattern": WEBHOOK_URL_PATTERN,
                        },
                    },
                },
                ok=SUCCESS,
                errors=("404",),
                body_required=False,
            ),
            "delete": op(
                "Delete a connection",
                "connections",
                params=[cid, {**pck, "required": True}],
                ok=SUCCESS,
                errors=("404",),
            ),
        },
        "/environment-variables": {
            "get": op(
                "The environment's variables",
                "environment",
                ok={
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
                    },
                },
            )
        },
        "/proxy/{path}": {
            method: _proxy(method) for method in ("get", "post", "put", "patch", "delete")
        },
        **function_paths(),
        "/openapi.json": {
            "get": {
                "summary": "This document (with the caller's actions when a key is sent)",
                "tags": ["docs"],
                "security": [{}, {"secretKey": []}],
                "responses": {
                    "200": {"description": "OK", "content": json_content(OBJECT)},
                    **_answers("401", "414", "431"),
                },
            }
        },
        "/docs": {
            "get": {
                "summary": "The operations of this API as an HTML page",
                "tags": ["docs"],
                "security": [{}],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    **_answers("414", "431"),
                },
            }
        },
    }


def component_name(*parts: str) -> str:
    # Component names allow only [A-Za-z0-9._-].
    return re.sub(r"[^A-Za-z0-9._-]", "_", "_".join(parts))


def rebase_refs(schema: object, base: str) -> object:
    """`schema` with its document-local `$ref`s ("#/...") pointing below `base`."""
    if isinstance(schema, dict):
        return {
            k: (
                base + v[1:]
                if k == "$ref" and isinstance(v, str) and v.startswith("#")
                else rebase_refs(v, base)
            )
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [rebase_refs(v, base) for v in schema]
    return schema


def action_paths(env: Environment, schemas: dict) -> dict:
    """One `POST /actions/{integration}/{action}` per enabled action; schemas go to `schemas`."""
    paths = {}
    for version in live_actions(env):
        key, name = version.function.integration.unique_key, version.function.name
        refs = {}
        for kind, schema in (("Input", version.input_schema), ("Output", version.output_schema)):
            if schema is None:
                refs[kind] = ANY
                continue
            component = component_name(f"Action{kind}", key, name)
            schemas[component] = rebase_refs(schema, f"#/components/schemas/{component}")
            refs[kind] = {"$ref": f"#/components/schemas/{component}"}
        operation = op(
            version.description or f"Run the {name} action",
            f"action: {key}",
            params=_params("ConnectionId", *TRIGGER_HEADERS),
            ok=refs["Output"],
            body=refs["Input"],
            description=(
                f"Runs `{name}` of the integration `{key}`, as `POST /action/trigger` does "
                "with this action's name; the body is the input (empty means `null`). "
                + TRIGGER_DESCRIPTION
            ),
            operationId=component_name("run", key, name),
            **{"x-action": {"integration": key, "name": name, "version": version.version}},
        )
        # An empty body is the input null: optional only when the input schema takes null.
        operation["requestBody"] = {
            "required": bool(version.input_errors(None)),
            "content": json_content(refs["Input"]),
        }
        operation["responses"].update(TRIGGER_RESPONSES)
        paths[f"/actions/{quote(key, safe='')}/{quote(name, safe='')}"] = {"post": operation}
    return paths


def document(env: Environment | None = None, server_url: str = "/") -> dict:
    from connect import openapi as connect  # it builds on this module's helpers

    parts = components()
    parts["securitySchemes"].update(connect.security_schemes())
    paths = {**static_paths(), **connect.paths(env)}
    if env is not None:
        paths.update(action_paths(env, parts["schemas"]))
    for item in paths.values():
        for operation in item.values():
            # What any request may meet before its view: the request boundary's 400 (a NUL
            # in the path or query) and the web server's own 414 and 431.
            for code, answer in _answers("400", "414", "431").items():
                operation["responses"].setdefault(code, answer)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "nangosite API",
            "version": "1.0.0",
            "description": (
                "Self-hosted action functions with a Nango-compatible HTTP API. "
                "Authenticate with `Authorization: Bearer <environment secret key>`."
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"secretKey": []}],
        "paths": paths,
        "components": parts,
    }


@api_view(["GET"])
@permission_classes([AllowAny])
def openapi_json(request) -> Response:
    env = request.auth if isinstance(request.auth, Environment) else None
    return Response(document(env, request.build_absolute_uri("/")))


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; }}
code {{ background: #f3f3f3; padding: 0 .2rem; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #ddd;
          vertical-align: top; }}
.m {{ font-weight: 600; font-family: monospace; text-transform: uppercase; }}
</style></head><body>
<h1>{title}</h1><p>{description}</p>
<p>The full description, with request and answer schemas, is the OpenAPI document
<a href="/openapi.json"><code>/openapi.json</code></a>; sent with your secret key it also
lists your deployed actions as <code>POST /actions/{{integration}}/{{action}}</code>.</p>
<table><tr><th>method</th><th>path</th><th>what</th></tr>{rows}</table>
</body></html>"""


@csrf_exempt
def docs_page(request) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed("GET, HEAD")
    doc = document()
    rows = format_html_join(
        "",
        '<tr><td class="m">{}</td><td><code>{}</code></td><td>{}</td></tr>',
        (
            (method, path, operation["summary"])
            for path, item in doc["paths"].items()
            for method, operation in item.items()
        ),
    )
    info = doc["info"]
    return HttpResponse(
        format_html(PAGE, title=info["title"], description=info["description"], rows=rows)
    )

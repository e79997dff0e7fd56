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
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from integrations.models import Environment
from integrations.tools import live_actions
from nangosite.openapi_components import (
    ANY,
    TRIGGER_HEADERS,
    components,
    error_answer,
    json_content,
)
from nangosite.openapi_functions import function_paths


def _params(*names: str) -> list[dict]:
    return [{"$ref": f"#/components/parameters/{name}"} for name in names]


def _path_param(name: str, description: str = "") -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


def _query(name: str, schema: dict, description: str = "") -> dict:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def op(
    summary: str,
    tag: str,
    *,
    params: list | None = None,
    body: dict | None = None,
    ok: dict | None = None,
    status: str = "200",
    errors: tuple[str, ...] = ("400",),
    description: str = "",
    **extra,
) -> dict:
    """One operation: its success answer, the errors it can give, and 401 for all."""
    responses = {status: {"description": "OK", **({"content": json_content(ok)} if ok else {})}}
    for code in (*errors, "401"):
        responses[code] = {"$ref": f"#/components/responses/E{code}"}
    operation = {"summary": summary, "tags": [tag], "responses": responses, **extra}
    if description:
        operation["description"] = description
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {"required": True, "content": json_content(body)}
    return operation


TRIGGER_DESCRIPTION = (
    "Sync: 200 and the action's raw output. With `X-Async: true`: 202, `Location`, "
    "`{id, statusUrl}`. Errors: see the `Error` schema; input is checked against the "
    "action's input schema before it runs."
)
TRIGGER_RESPONSES = {
    "202": {
        "description": "Queued (X-Async: true)",
        "content": json_content({"$ref": "#/components/schemas/AsyncAccepted"}),
    },
    "404": {"$ref": "#/components/responses/E404"},
    "409": {"$ref": "#/components/responses/E409"},
    "424": error_answer("The provider answered non-2xx (`script_http_error`, with `upstream`)"),
    "500": error_answer("The action failed (runtime error, timeout, bad output, ...)"),
}


def static_paths() -> dict:
    key, name, cid = (
        _path_param("key", "The integration's unique key (Provider-Config-Key)"),
        _path_param("name", "The action's name"),
        _path_param("connection_id"),
    )
    execution_id = _path_param("id", "The execution's id (a UUID)")
    pck = _query("provider_config_key", {"type": "string"}, "The integration's unique key")
    obj = {"type": "object"}
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
            "properties": {"action_name": {"type": "string"}, "input": ANY},
        },
        ok=ANY,
        description=TRIGGER_DESCRIPTION,
    )
    trigger["responses"].update(TRIGGER_RESPONSES)
    proxy = {
        method: op(
            f"Proxy a {method.upper()} request to the provider",
            "proxy",
            params=[
                _path_param("path", "The provider path, after the provider's base URL"),
                *_params("ConnectionId", "ProviderConfigKey"),
                {"name": "Retries", "in": "header", "schema": {"type": "integer"}},
                {"name": "Retry-On", "in": "header", "schema": {"type": "string"}},
                {"name": "Base-Url-Override", "in": "header", "schema": {"type": "string"}},
                {"name": "Decompress", "in": "header", "schema": {"type": "string"}},
            ],
            ok=ANY,
            description=(
                "Forwards the request with the connection's credentials injected; "
                "`Nango-Proxy-<Name>` headers are sent as `<Name>`. The provider's status, "
                "headers and body come back unchanged, streamed."
            ),
            **({"requestBody": {"content": {"*/*": {"schema": ANY}}}} if method != "get" else {}),
        )
        for method in ("get", "post", "put", "patch", "delete")
    }
    return {
        "/action/trigger": {"post": trigger},
        "/action/{id}": {
            "get": op(
                "Result of an async run",
                "actions",
                params=[execution_id, _query("wait", {"type": "number", "maximum": 30})],
                ok=ANY,
                errors=("400", "404", "410"),
                description="404 `pending` while it is queued or running.",
            )
        },
        "/executions/{id}": {
            "get": op("An execution's record", "executions", params=[execution_id], ok=execution)
        },
        "/executions/{id}/cancel": {
            "post": op(
                "Cancel an execution",
                "executions",
                params=[execution_id],
                ok=execution,
                errors=("400", "404", "409"),
            )
        },
        "/mcp": {
            "post": op(
                "Model Context Protocol server (Streamable HTTP, JSON-RPC 2.0)",
                "ai",
                params=_params("ConnectionId", "ProviderConfigKey"),
                body={"oneOf": [obj, {"type": "array", "items": obj}]},
                ok={"oneOf": [obj, {"type": "array", "items": obj}]},
                description=(
                    "`initialize`, `ping`, `tools/list` (the integration's enabled actions), "
                    "`tools/call` (runs one synchronously). Notifications answer 202."
                ),
            )
        },
        "/scripts/config": {
            "get": op(
                "Deployed actions as Nango's config or OpenAI function definitions",
                "ai",
                params=[
                    _query("format", {"type": "string", "enum": ["nango", "openai"]}),
                    pck,
                ],
                ok={"oneOf": [{"type": "array", "items": obj}, data({"type": "array"})]},
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
                    "properties": {
                        "unique_key": {"type": "string"},
                        "provider": {"type": "string"},
                        "display_name": {"type": "string"},
                        "credentials": obj,
                    },
                },
                ok=data(integration),
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
                "Update an integration",
                "integrations",
                params=[key],
                body=obj,
                ok=data(integration),
                errors=("400", "404"),
            ),
            "delete": op("Delete an integration", "integrations", params=[key], errors=("404",)),
        },
        "/integrations/{key}/functions": {
            "get": op(
                "Deployed functions of an integration",
                "integrations",
                params=[
                    key,
                    _query("type", {"type": "string"}),
                    _query("search", {"type": "string"}),
                    _query("page", {"type": "integer", "minimum": 0}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
                ],
                ok={
                    "type": "object",
                    "properties": {"data": {"type": "array", "items": function}, "pagination": obj},
                },
                errors=("400", "404"),
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
                    _query("connectionId", {"type": "string"}),
                    _query("search", {"type": "string"}),
                    _query("limit", {"type": "integer"}),
                    _query("page", {"type": "integer"}),
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
                        "provider_config_key": {"type": "string"},
                        "connection_id": {"type": "string"},
                        "credentials": obj,
                        "metadata": obj,
                        "connection_config": obj,
                        "tags": obj,
                    },
                },
                ok=connection,
            ),
        },
        "/connections/metadata": {
            method: op(
                summary,
                "connections",
                body={
                    "type": "object",
                    "required": ["connection_id", "provider_config_key", "metadata"],
                    "properties": {
                        "connection_id": {
                            "oneOf": [
                                {"type": "string"},
                                {"type": "array", "items": {"type": "string"}},
                            ]
                        },
                        "provider_config_key": {"type": "string"},
                        "metadata": obj,
                    },
                },
                ok=obj,
                status=status,
                errors=("400", "404"),
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
                params=[
                    cid,
                    {**pck, "required": True},
                    _query("force_refresh", {"type": "boolean"}),
                    _query("refresh_token", {"type": "boolean"}),
                ],
                ok=connection,
                errors=("400", "404", "424"),
            ),
            "patch": op(
                "Update a connection's tags or webhook URL",
                "connections",
                params=[cid, {**pck, "required": True}],
                body={
                    "type": "object",
                    "properties": {"tags": obj, "webhook_url_override": {"type": "string"}},
                },
                errors=("400", "404"),
            ),
            "delete": op(
                "Delete a connection",
                "connections",
                params=[cid, {**pck, "required": True}],
                errors=("400", "404"),
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
                errors=(),
            )
        },
        "/proxy/{path}": proxy,
        **function_paths(),
        "/openapi.json": {
            "get": {
                "summary": "This document (with the caller's actions when a key is sent)",
                "tags": ["docs"],
                "security": [{}, {"secretKey": []}],
                "responses": {"200": {"description": "OK", "content": json_content(obj)}},
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
                    }
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
            description=(
                f"Runs `{name}` of the integration `{key}`, as `POST /action/trigger` does "
                "with this action's name; the body is the input (empty means `null`). "
                + TRIGGER_DESCRIPTION
            ),
            operationId=component_name("run", key, name),
            **{"x-action": {"integration": key, "name": name, "version": version.version}},
        )
        operation["requestBody"] = {"required": False, "content": json_content(refs["Input"])}
        operation["responses"].update(TRIGGER_RESPONSES)
        paths[f"/actions/{quote(key, safe='')}/{quote(name, safe='')}"] = {"post": operation}
    return paths


def document(env: Environment | None = None, server_url: str = "/") -> dict:
    parts = components()
    paths = static_paths()
    if env is not None:
        paths.update(action_paths(env, parts["schemas"]))
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


def docs_page(request) -> HttpResponse:
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

"""Deployed actions as AI tools: OpenAI function definitions, MCP tools, Nango's config.

Tools take a JSON object of arguments and MCP's structured output is a JSON object, while an
action's input and output may be any JSON. An object schema is used as it is; `{"type":
"null"}` input becomes an empty object (the action then gets `null`); any other schema is
wrapped as the one property `input` (arguments) or `result` (output). `tool_input()` and
`structured_output()` undo and apply that wrapping.

`GET /scripts/config` (the `scripts_config` view) serves the first and the last of these.
"""

from types import SimpleNamespace

from rest_framework import serializers
from rest_framework.decorators import api_view, content_negotiation_class
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response

from integrations.models import KEY_PATTERN, Function, FunctionVersion
from nangosite.api import QuerySerializer, invalid

# Keywords that belong at a schema's root, so a wrapped schema's `$ref`s still resolve.
ROOT_KEYWORDS = ("$schema", "$id", "definitions", "$defs")


def live_actions(env, integration_key: str | None = None, enabled_only: bool = True):
    """The active versions of an environment's actions, with their function and integration."""
    rows = (
        FunctionVersion.objects.filter(
            function__integration__environment=env,
            function__type=Function.Type.ACTION,
            active=True,
        )
        .select_related("function__integration")
        .defer("source", "modules")
        .order_by("function__integration__unique_key", "function__name")
    )
    if integration_key is not None:
        rows = rows.filter(function__integration__unique_key=integration_key)
    if enabled_only:
        rows = rows.filter(function__enabled=True)
    return rows


def is_object_schema(schema: object) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "object"


def _wrap(schema: dict, name: str) -> dict:
    inner = {k: v for k, v in schema.items() if k not in ROOT_KEYWORDS}
    outer = {k: v for k, v in schema.items() if k in ROOT_KEYWORDS}
    return {
        **outer,
        "type": "object",
        "properties": {name: inner},
        "required": [name],
        "additionalProperties": False,
    }


def tool_input_schema(schema: dict | None) -> dict:
    """The JSON object schema of a tool's arguments, for an action's input schema."""
    if schema is None:
        return {"type": "object"}
    if is_object_schema(schema):
        return schema
    if schema.get("type") == "null":
        return {"type": "object", "properties": {}, "additionalProperties": False}
    return _wrap(schema, "input")


def tool_input(schema: dict | None, arguments: dict | None) -> object:
    """The action input that a tool call's arguments stand for."""
    arguments = arguments or {}
    if schema is None or is_object_schema(schema):
        return arguments
    if schema.get("type") == "null":
        return None
    # Missing stays missing: the input schema check then names the problem.
    return arguments.get("input")


def tool_output_schema(schema: dict | None) -> dict | None:
    if schema is None or is_object_schema(schema):
        return schema
    return _wrap(schema, "result")


def structured_output(schema: dict | None, output: object) -> dict:
    """An action's output as the JSON object MCP's structured content must be."""
    if is_object_schema(schema) or (schema is None and isinstance(output, dict)):
        return output
    return {"result": output}


def tool_description(version: FunctionVersion) -> str:
    function = version.function
    return (
        version.description
        or f"Execute the {function.name} action for {function.integration.provider}"
    )


def parameter_descriptions(description: str) -> dict[str, str]:
    """`- name: text` lines of a description, as Nango reads them into parameter docs."""
    found = {}
    for line in description.splitlines():
        line = line.strip()
        if line.startswith("-"):
            name, colon, text = line[1:].strip().partition(":")
            if colon and name.strip():
                found[name.strip()] = text.strip()
    return found


def openai_function(version: FunctionVersion) -> dict:
    """Nango's OpenAI function shape: `{"name", "description", "parameters"}`."""
    parameters = {
        k: v for k, v in tool_input_schema(version.input_schema).items() if k != "$schema"
    }
    properties = dict(parameters.get("properties") or {})
    for name, text in parameter_descriptions(version.description).items():
        if isinstance(properties.get(name), dict):
            properties[name] = {**properties[name], "description": text}
    parameters.update(properties=properties, required=parameters.get("required") or [])
    return {
        "name": version.function.name,
        "description": tool_description(version),
        "parameters": parameters,
    }


def mcp_tool(version: FunctionVersion) -> dict:
    tool = {
        "name": version.function.name,
        "description": tool_description(version),
        "inputSchema": tool_input_schema(version.input_schema),
    }
    output = tool_output_schema(version.output_schema)
    if output is not None:
        tool["outputSchema"] = output
    return tool


def nango_config(versions) -> list[dict]:
    """Nango's `StandardNangoConfig[]`: one entry per integration with deployed actions."""
    configs: dict[str, dict] = {}
    for version in versions:
        integration = version.function.integration
        config = configs.setdefault(
            integration.unique_key,
            {
                "providerConfigKey": integration.unique_key,
                "provider": integration.provider,
                "syncs": [],
                "actions": [],
                "on-events": [],
            },
        )
        config["actions"].append(version.to_api())
    return list(configs.values())


class ScriptsConfigQuery(QuerySerializer):
    format = serializers.ChoiceField(["nango", "openai"], required=False, default="nango")
    # Nango's guide shows this filter but its code ignores it; here it works.
    provider_config_key = serializers.RegexField(
        KEY_PATTERN, max_length=255, required=False, trim_whitespace=False
    )

    def validate(self, data: dict) -> dict:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown parameter."] for name in unknown})
        return super().validate(data)


class FormatIsAShape(DefaultContentNegotiation):
    # DRF reads `?format=` as a renderer name (404 for "openai"); here it picks the shape.
    settings = SimpleNamespace(URL_FORMAT_OVERRIDE=None)


@api_view(["GET"])
@content_negotiation_class(FormatIsAShape)
def scripts_config(request) -> Response:
    query = ScriptsConfigQuery(data=request.query_params)
    if not query.is_valid():
        raise invalid("invalid_query_params", query.errors)
    fmt, key = query.validated_data["format"], query.validated_data.get("provider_config_key")
    if fmt == "openai":
        versions = live_actions(request.auth, key)
        return Response({"data": [openai_function(v) for v in versions]})
    # Nango's config lists disabled actions too, with `enabled: false`.
    return Response(nango_config(live_actions(request.auth, key, enabled_only=False)))

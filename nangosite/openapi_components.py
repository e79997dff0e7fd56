"""The reusable parts of the OpenAPI document: parameters, error answers and schemas.

Headers are described from the same `Header` specs that check them
(`nangosite/lib/headers.py`), and text everywhere takes no NUL (`nangosite/lib/storable.py`).
"""

from executions import mcp, trigger_request
from integrations import proxy
from integrations.models import CONNECTION_ID_PATTERN, KEY_PATTERN
from integrations.providers import PROVIDERS
from nangosite.lib.headers import Header

ERROR = {"$ref": "#/components/schemas/Error"}
ANY = {}
NO_NUL = r"^[^\x00]*$"
# A trimmed text field (DRF's CharField): something besides whitespace.
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"


def text(max_length: int = 255, min_length: int = 0, pattern: str = NO_NUL) -> dict:
    schema = {"type": "string", "maxLength": max_length, "pattern": pattern}
    if min_length:
        schema["minLength"] = min_length
    return schema


KEY = text(255, 1, KEY_PATTERN)
CONNECTION_ID = text(255, 1, CONNECTION_ID_PATTERN)
ACTION_NAME = text(255, 1, trigger_request.ACTION_NAME_PATTERN)
TAGS = {"type": "object", "maxProperties": 10, "additionalProperties": text(255)}
OBJECT = {"type": "object"}


def _credentials(kind: str, *required: str) -> dict:
    properties = {"type": {"const": kind}, **{key: text(10_000, 1) for key in required}}
    properties["expires_at"] = {"type": ["string", "null"], "format": "date-time"}
    return {"type": "object", "required": ["type", *required], "properties": properties}


# `POST /connections`' credentials; which types an integration takes depends on its
# provider's auth mode (`integrations/credentials.py`).
CREDENTIALS = {
    "oneOf": [
        _credentials("OAUTH2", "access_token"),
        _credentials("API_KEY", "apiKey"),
        _credentials("BASIC", "username", "password"),
        _credentials("BEARER", "token"),
    ]
}
OAUTH_APP = {
    "type": "object",
    "required": ["type", "client_id", "client_secret"],
    "properties": {
        "type": {"const": "OAUTH2"},
        "client_id": text(255, 1),
        "client_secret": text(1024, 1),
        "scopes": {"type": ["string", "null"], "maxLength": 1024, "pattern": NO_NUL},
    },
}
INTEGRATION_FIELDS = {
    "unique_key": KEY,
    "display_name": text(255),
    "credentials": {"oneOf": [{"type": "null"}, OAUTH_APP]},
    "forward_webhooks": {"type": "boolean"},
}
PROVIDER = {"type": "string", "enum": sorted(PROVIDERS)}

# MCP's messages (JSON-RPC 2.0): a request, a notification or a response; or a batch.
RPC_MESSAGE = {
    "type": "object",
    "required": ["jsonrpc"],
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": {"type": ["string", "number"]},
        "method": {"type": "string"},
        "params": ANY,
        "result": ANY,
        "error": ANY,
    },
    "anyOf": [
        {"required": ["method"]},
        {"required": ["id", "result"]},
        {"required": ["id", "error"]},
    ],
}
RPC_REPLY = {
    "type": "object",
    "required": ["jsonrpc", "id"],
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": {"type": ["string", "number", "null"]},
        "result": OBJECT,
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": ANY},
        },
    },
}


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def error_answer(description: str) -> dict:
    return {"description": description, "content": json_content(ERROR)}


TRIGGER_HEADERS = ("XAsync", "XMaxRetries", "IdempotencyKey")


def header(spec: Header, description: str = "") -> dict:
    return {
        "name": spec.name,
        "in": "header",
        "required": spec.required,
        "schema": spec.schema(),
        "description": description,
    }


def _headers(specs: tuple[Header, ...]) -> dict[str, Header]:
    return {spec.field: spec for spec in specs}


TRIGGER = _headers(trigger_request.HEADERS)
PROXY = _headers(proxy.HEADERS)
MCP = _headers(mcp.HEADERS)


def components() -> dict:
    error_codes = {
        "400": "Invalid headers, body, path or query (`errors` lists them, also text that "
        "cannot be stored: NUL, lone surrogates, 1e400, nesting deeper than 64), unknown "
        "connection or provider, invalid action input",
        "404": "Not found, or the action is disabled",
        "409": "Idempotency key conflict, already finished, or the name is taken",
        "410": "The run was cancelled",
        "411": "A chunked body the server cannot read to its end (send Content-Length)",
        "413": "The body is larger than MAX_REQUEST_BYTES",
        "414": "The request line (path and query) is longer than the web server takes",
        "424": "The provider refused",
        "431": "A header, or all of them, larger than the web server takes",
        "500": "The action failed (runtime error, timeout, bad output, ...)",
        "401": "Missing or unknown secret key",
    }
    return {
        "securitySchemes": {
            "secretKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "The environment's secret key",
            }
        },
        "parameters": {
            "ConnectionId": header(TRIGGER["connection_id"], "The connection"),
            "ProviderConfigKey": header(
                TRIGGER["provider_config_key"], "The integration's unique key"
            ),
            "XAsync": header(TRIGGER["x_async"], "Queue the run: answer 202"),
            "XMaxRetries": header(TRIGGER["x_max_retries"], "Retries of a failed async run"),
            "IdempotencyKey": header(
                TRIGGER["idempotency_key"], "The same key within 24 h answers the first execution"
            ),
            "McpProtocolVersion": header(MCP["mcp_protocol_version"], "MCP's protocol version"),
        },
        "responses": {f"E{code}": error_answer(text) for code, text in error_codes.items()},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "payload": ANY,
                            "upstream": {
                                "type": "object",
                                "properties": {
                                    "status": {"type": "integer"},
                                    "headers": {"type": "object"},
                                    "body": ANY,
                                },
                            },
                            "errors": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "code": {"type": "string"},
                                        "message": {"type": "string"},
                                        "path": {"type": "array"},
                                    },
                                },
                            },
                        },
                    }
                },
            },
            "AsyncAccepted": {
                "type": "object",
                "required": ["id", "statusUrl"],
                "properties": {"id": {"type": "string"}, "statusUrl": {"type": "string"}},
            },
            "Execution": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "status": {
                        "type": "string",
                        "enum": ["queued", "running", "succeeded", "failed", "cancelled"],
                    },
                    "action_name": {"type": "string"},
                    "connection_id": {"type": "string"},
                    "provider_config_key": {"type": "string"},
                    "async": {"type": "boolean"},
                    "attempts": {"type": "array"},
                    "input": ANY,
                    "output": ANY,
                    "error": ANY,
                    "logs": {"type": "array"},
                    "provider_calls": {"type": "array"},
                },
            },
            "Integration": {
                "type": "object",
                "properties": {
                    "unique_key": {"type": "string"},
                    "display_name": {"type": "string"},
                    "provider": {"type": "string"},
                    "created_at": {"type": "string"},
                    "updated_at": {"type": "string"},
                },
            },
            "Connection": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "connection_id": {"type": "string"},
                    "provider_config_key": {"type": "string"},
                    "provider": {"type": "string"},
                    "metadata": {"type": "object"},
                    "tags": {"type": "object"},
                    "credentials": {"type": "object"},
                },
            },
            "Function": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "type": {"type": "string"},
                    "description": {"type": "string"},
                    "version": {"type": "string"},
                    "json_schema": {"type": "object"},
                    "enabled": {"type": "boolean"},
                },
            },
        },
    }

"""The reusable parts of the OpenAPI document: parameters, error answers and schemas."""

ERROR = {"$ref": "#/components/schemas/Error"}
ANY = {}


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def error_answer(description: str) -> dict:
    return {"description": description, "content": json_content(ERROR)}


TRIGGER_HEADERS = ("XAsync", "XMaxRetries", "IdempotencyKey")


def _header(name: str, schema: dict, description: str, required: bool = False) -> dict:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "schema": schema,
        "description": description,
    }


def components() -> dict:
    error_codes = {
        "400": "Invalid headers, body or query (`errors` lists them), unknown connection or "
        "provider, invalid action input",
        "404": "Not found, or the action is disabled",
        "409": "Idempotency key conflict, or already finished",
        "410": "The run was cancelled",
        "424": "The provider refused",
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
            "ConnectionId": _header("Connection-Id", {"type": "string"}, "The connection", True),
            "ProviderConfigKey": _header(
                "Provider-Config-Key", {"type": "string"}, "The integration's unique key", True
            ),
            "XAsync": _header("X-Async", {"type": "boolean"}, "Queue the run: answer 202"),
            "XMaxRetries": _header(
                "X-Max-Retries",
                {"type": "integer", "minimum": 0, "maximum": 5},
                "Retries of a failed async run",
            ),
            "IdempotencyKey": _header(
                "Idempotency-Key",
                {"type": "string"},
                "The same key within 24 h answers the first execution",
            ),
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

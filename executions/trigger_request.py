"""What a trigger asks for, checked: `POST /action/trigger`'s headers and body, or
`POST /actions/<integration>/<action>`'s path, headers and body, as a `TriggerRequest`."""

import re
from collections.abc import Callable

from executions.models import TriggerRequest
from integrations.models import CONNECTION_ID_PATTERN, KEY_PATTERN
from nangosite.api import invalid
from nangosite.lib.headers import Errors, Header, fail, parse_headers

ACTION_NAME_PATTERN = r"^[a-zA-Z0-9_-]+$"
_ACTION_NAME = re.compile(ACTION_NAME_PATTERN)

HEADERS = (
    Header("connection_id", required=True, pattern=re.compile(CONNECTION_ID_PATTERN)),
    Header("provider_config_key", required=True, pattern=re.compile(KEY_PATTERN)),
    Header("x_async", kind="bool", default=False),
    Header("x_max_retries", kind="int", maximum=5, default=0),
    Header("idempotency_key", default=""),
)


def _action_name(errors: Errors, value: object) -> str | None:
    if value is None:
        fail(errors, "action_name", "This field is required.", "required")
    elif not isinstance(value, str):
        fail(errors, "action_name", "Must be a string.", "not_a_string")
    elif not value:
        fail(errors, "action_name", "This field may not be blank.", "blank")
    elif len(value) > 255:
        message = "Ensure this field has no more than 255 characters."
        fail(errors, "action_name", message, "max_length")
    elif not _ACTION_NAME.match(value):
        message = "This value does not match the required pattern."
        fail(errors, "action_name", message, "invalid")
    else:
        return value
    return None


def _headers(meta: dict) -> dict:
    headers, problems = parse_headers(meta, HEADERS)
    if problems:
        raise invalid("invalid_headers", problems)
    return headers


def _request(headers: dict, query: object, action: str, input: object) -> TriggerRequest:
    if query:
        raise invalid("invalid_query_params", {"query": ["The query string must be empty."]})
    return TriggerRequest(
        provider_config_key=headers["provider_config_key"],
        connection_id=headers["connection_id"],
        action_name=action,
        input=input,
        is_async=headers["x_async"],
        max_retries=headers["x_max_retries"],
        idempotency_key=headers["idempotency_key"],
    )


def from_trigger(meta: dict, query: object, body: object) -> TriggerRequest:
    """`POST /action/trigger`: `{"action_name": "...", "input": <any JSON>}` (other keys are
    ignored). Raises the API's 400s: headers first, then the body, then the query."""
    headers = _headers(meta)
    errors: Errors = {}
    if not isinstance(body, dict):
        fail(errors, "non_field_errors", "The body must be a JSON object.", "invalid")
        raise invalid("invalid_body", errors)
    action = _action_name(errors, body.get("action_name"))
    if errors:
        raise invalid("invalid_body", errors)
    return _request(headers, query, action, body.get("input"))


def from_action_path(
    meta: dict, query: object, key: str, name: str, read_input: Callable[[], object]
) -> TriggerRequest:
    """`POST /actions/<integration>/<action>`: the Provider-Config-Key and the action come
    from the path, the input is the whole body (read after the headers are checked)."""
    headers = _headers({**meta, "HTTP_PROVIDER_CONFIG_KEY": key})
    input = read_input() if has_body(meta) else None
    errors: Errors = {}
    action = _action_name(errors, name)
    if errors:
        raise invalid("invalid_uri_params", errors, "Invalid action name")
    return _request(headers, query, action, input)


def has_body(meta: dict) -> bool:
    length = meta.get("CONTENT_LENGTH") or "0"
    return length != "0" or "HTTP_TRANSFER_ENCODING" in meta

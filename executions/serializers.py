import re

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from integrations.models import CONNECTION_ID_PATTERN, KEY_PATTERN

ACTION_NAME_PATTERN = r"^[a-zA-Z0-9_-]+$"


# The trigger's headers and body are checked by plain code, not DRF serializers: every
# trigger goes through these checks, and instantiating two serializers (DRF deep-copies
# their fields each time) cost more than everything else they do. Errors keep the
# serializers' shape ({field: [ErrorDetail(message, code)]}), which `invalid()` expects.
TRUE_VALUES = {"true", "True", "TRUE", "1"}
FALSE_VALUES = {"false", "False", "FALSE", "0", ""}
_ACTION_NAME = re.compile(ACTION_NAME_PATTERN)
_CONNECTION_ID = re.compile(CONNECTION_ID_PATTERN)
_KEY = re.compile(KEY_PATTERN)

Errors = dict[str, list[ErrorDetail]]


def _fail(errors: Errors, name: str, message: str, code: str) -> None:
    errors.setdefault(name, []).append(ErrorDetail(message, code=code))


def _text(errors: Errors, name: str, value: object, pattern: re.Pattern | None = None):
    """A required, non-blank string of at most 255 characters matching `pattern`."""
    if value is None:
        _fail(errors, name, "This field is required.", "required")
    elif not isinstance(value, str):
        _fail(errors, name, "Must be a string.", "not_a_string")
    elif not (value := value.strip()):
        _fail(errors, name, "This field may not be blank.", "blank")
    elif len(value) > 255:
        _fail(errors, name, "Ensure this field has no more than 255 characters.", "max_length")
    elif pattern is not None and not pattern.match(value):
        _fail(errors, name, "This value does not match the required pattern.", "invalid")
    else:
        return value
    return None


def trigger_headers(meta: dict) -> tuple[dict, Errors]:
    """Connection-Id, Provider-Config-Key, X-Async, X-Max-Retries, Idempotency-Key."""
    errors: Errors = {}
    found = {
        "connection_id": _text(
            errors, "connection_id", meta.get("HTTP_CONNECTION_ID"), _CONNECTION_ID
        ),
        "provider_config_key": _text(
            errors, "provider_config_key", meta.get("HTTP_PROVIDER_CONFIG_KEY"), _KEY
        ),
        "x_async": False,
        "x_max_retries": 0,
        "idempotency_key": "",
    }
    x_async = meta.get("HTTP_X_ASYNC", "").strip()
    if x_async in TRUE_VALUES:
        found["x_async"] = True
    elif x_async not in FALSE_VALUES:
        _fail(errors, "x_async", "Must be a valid boolean.", "invalid")
    retries = meta.get("HTTP_X_MAX_RETRIES", "0").strip()
    if not (retries.isascii() and retries.isdigit()):
        _fail(errors, "x_max_retries", "A valid integer between 0 and 5 is required.", "invalid")
    elif int(retries) > 5:
        _fail(errors, "x_max_retries", "Ensure this value is less than or equal to 5.", "max_value")
    else:
        found["x_max_retries"] = int(retries)
    if "HTTP_IDEMPOTENCY_KEY" in meta:
        found["idempotency_key"] = _text(errors, "idempotency_key", meta["HTTP_IDEMPOTENCY_KEY"])
    return found, errors


def trigger_body(data: object) -> tuple[dict, Errors]:
    """`{"action_name": "...", "input": <any JSON>}`; other keys are ignored."""
    errors: Errors = {}
    if not isinstance(data, dict):
        _fail(errors, "non_field_errors", "The body must be a JSON object.", "invalid")
        return {}, errors
    found = {"action_name": _text(errors, "action_name", data.get("action_name"), _ACTION_NAME)}
    if "input" in data:
        found["input"] = data["input"]
    return found, errors


class ResultQuery(serializers.Serializer):
    wait = serializers.FloatField(required=False, default=0, min_value=0, max_value=30)

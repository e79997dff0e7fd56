"""Request headers checked by one set of rules: the trigger's, the proxy's and MCP's.

An endpoint lists its headers as `Header`s; `parse_headers()` returns their values by
field name and the problems found, keyed by field name in the shape DRF serializers give
(`{field: [ErrorDetail(message, code)]}`), which `nangosite.api.invalid` turns into the
error body's `errors`. Plain code rather than a DRF serializer: every trigger parses its
headers, and a serializer deep-copies its fields on each use.
"""

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from rest_framework.exceptions import ErrorDetail

from nangosite.lib import storable

TRUE_VALUES = frozenset({"true", "True", "TRUE", "1"})
FALSE_VALUES = frozenset({"false", "False", "FALSE", "0", ""})
_URL = URLValidator(schemes=["http", "https"])
# Text with something besides spaces, and no NUL (`nangosite/lib/storable.py`).
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"

Errors = dict[str, list[ErrorDetail]]


@dataclass(frozen=True)
class Header:
    """One header: `field` is its name in values and errors (`connection_id` is the
    `Connection-Id` header, `HTTP_CONNECTION_ID` in WSGI's environ)."""

    field: str
    # text | bool | int | choice | url
    kind: str = "text"
    required: bool = False
    pattern: re.Pattern | None = None
    max_length: int = 255
    maximum: int = 0
    choices: tuple[str, ...] = ()
    default: object = None

    @property
    def meta_key(self) -> str:
        return "HTTP_" + self.field.upper()

    @property
    def name(self) -> str:
        return self.field.replace("_", "-").title()

    def schema(self) -> dict:
        """What this header takes, as the OpenAPI document says it."""
        if self.kind == "bool":
            return {"type": "string", "enum": sorted(TRUE_VALUES | FALSE_VALUES)}
        if self.kind == "int":
            # A string with a pattern: a header is text (a digit string of 0..maximum).
            numbers = "|".join(str(n) for n in range(self.maximum + 1))
            return {"type": "string", "pattern": f"^0*({numbers})$"}
        if self.kind == "choice":
            return {"type": "string", "enum": list(self.choices)}
        if self.kind == "url":
            return {"type": "string", "maxLength": self.max_length, "pattern": "^(https?://.+)?$"}
        pattern = self.pattern.pattern if self.pattern is not None else NOT_BLANK
        return {"type": "string", "minLength": 1, "maxLength": self.max_length, "pattern": pattern}


def fail(errors: Errors, field: str, message: str, code: str) -> None:
    errors.setdefault(field, []).append(ErrorDetail(message, code=code))


def _text(errors: Errors, header: Header, value: str) -> str | None:
    value = value.strip()
    if not value:
        fail(errors, header.field, "This field may not be blank.", "blank")
    elif code := storable.text_problem(value):
        fail(errors, header.field, storable.MESSAGES[code], code)
    elif len(value) > header.max_length:
        message = f"Ensure this field has no more than {header.max_length} characters."
        fail(errors, header.field, message, "max_length")
    elif header.pattern is not None and not header.pattern.match(value):
        fail(errors, header.field, "This value does not match the required pattern.", "invalid")
    else:
        return value
    return None


def _value(errors: Errors, header: Header, value: str) -> object:
    field = header.field
    if header.kind == "text":
        return _text(errors, header, value)
    value = value.strip()
    if header.kind == "bool":
        if value in TRUE_VALUES:
            return True
        if value not in FALSE_VALUES:
            fail(errors, field, "Must be a valid boolean.", "invalid")
        return False
    if header.kind == "int":
        if not (value.isascii() and value.isdigit()):
            message = f"A valid integer between 0 and {header.maximum} is required."
            fail(errors, field, message, "invalid")
        elif int(value) > header.maximum:
            message = f"Ensure this value is less than or equal to {header.maximum}."
            fail(errors, field, message, "max_value")
        else:
            return int(value)
        return header.default
    if header.kind == "choice":
        if value not in header.choices:
            fail(errors, field, f'"{value}" is not a valid choice.', "invalid_choice")
            return header.default
        return value
    if header.kind == "url":
        if not value:
            return header.default
        if len(value) > header.max_length:
            message = f"Ensure this field has no more than {header.max_length} characters."
            fail(errors, field, message, "max_length")
            return header.default
        try:
            _URL(value)
        except ValidationError:
            fail(errors, field, "Must be an http or https URL.", "invalid")
            return header.default
        return value
    raise ValueError(f"unknown header kind {header.kind!r}")


def parse_headers(meta: dict, headers: tuple[Header, ...]) -> tuple[dict, Errors]:
    """The values of `headers` found in a WSGI environ, and the problems found."""
    errors: Errors = {}
    found = {}
    for header in headers:
        raw = meta.get(header.meta_key)
        if raw is None:
            if header.required:
                fail(errors, header.field, "This field is required.", "required")
            found[header.field] = header.default
        else:
            found[header.field] = _value(errors, header, raw)
    return found, errors

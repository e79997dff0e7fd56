"""The API's one error shape, `{"error": {"code", "message", ...}}`, and its JSON parser.

The domain's errors (`DomainError`s, raised by models and managers) get their HTTP status
here, in `DOMAIN_STATUS`; `ApiError` is for what only the HTTP layer refuses; everything
DRF raises is mapped here too; anything else is logged and answered with a bare 500,
never its text.
"""

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, serializers
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from connect import errors as connect
from executions.errors import IdempotencyConflict, IdempotencyInProgress, InvalidActionInput
from integrations.errors import (
    ActionDisabled,
    ActionNotFound,
    DuplicateIntegration,
    IncompleteConnection,
    NoEarlierVersion,
    RefreshError,
    TooManyRequests,
    UnknownConnection,
    UnknownProvider,
    UnknownVersion,
)
from nangosite.lib import storable
from nangosite.lib.errors import DomainError

log = logging.getLogger(__name__)

# Any other DomainError (a refused deploy, an ambiguous connection…) is 400.
DOMAIN_STATUS: dict[type[DomainError], int] = {
    UnknownProvider: 400,
    UnknownConnection: 400,
    IncompleteConnection: 400,
    InvalidActionInput: 400,
    ActionNotFound: 404,
    ActionDisabled: 404,
    DuplicateIntegration: 409,
    UnknownVersion: 404,
    NoEarlierVersion: 409,
    IdempotencyConflict: 409,
    IdempotencyInProgress: 409,
    RefreshError: 424,
    TooManyRequests: 429,
    connect.InvalidSessionTokenFormat: 401,
    connect.UnknownSessionToken: 401,
    connect.UnknownProviderConfig: 404,
    connect.TokenExchangeFailed: 502,
}


class ApiError(exceptions.APIException):
    def __init__(self, status: int, code: str, message: str, **extra):
        self.status_code = status
        self.code = code
        self.message = message
        self.extra = extra
        super().__init__(message)

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


def validation_errors(errors: dict | list, prefix: tuple = ()) -> list[dict]:
    """DRF serializer errors as Nango's `[{"code", "message", "path"}]`."""
    found = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            path = prefix if key == "non_field_errors" else (*prefix, key)
            found += validation_errors(value, path)
    elif isinstance(errors, list):
        for item in errors:
            if isinstance(item, dict | list):
                found += validation_errors(item, prefix)
            else:
                found.append(
                    {
                        "code": getattr(item, "code", "invalid"),
                        "message": str(item),
                        "path": list(prefix),
                    }
                )
    return found


class QuerySerializer(serializers.Serializer):
    """A query string's parameters. DRF reads `?page=` (blank) as "not given" for an
    optional field; here blank is refused unless the field allows it, so `?page=` is the
    400 the document says rather than page 0."""

    def validate(self, data: dict) -> dict:
        blank = {
            name: ["This field may not be blank."]
            for name, field in self.fields.items()
            if self.initial_data.get(name) == "" and not getattr(field, "allow_blank", False)
        }
        if blank:
            raise serializers.ValidationError(blank)
        return data


def payload_too_large() -> ApiError:
    limit = settings.MAX_REQUEST_BYTES
    return ApiError(413, "payload_too_large", f"The request body is larger than {limit} bytes.")


def invalid(code: str, errors: dict | list, message: str = "") -> ApiError:
    what = {"invalid_headers": "headers", "invalid_body": "body", "invalid_query_params": "query"}
    return ApiError(
        400,
        code,
        message or f"Invalid request {what.get(code, 'input')}",
        errors=validation_errors(errors),
    )


def valid(serializer, code: str = "invalid_body") -> dict:
    """The serializer's validated data, or `invalid(code, ...)` raised with its errors."""
    if not serializer.is_valid():
        raise invalid(code, serializer.errors)
    return serializer.validated_data


_DRF_CODES = {
    exceptions.NotAuthenticated: (
        401,
        "missing_auth_header",
        "Authentication failed. The request is missing the Authorization header.",
    ),
    exceptions.AuthenticationFailed: (
        401,
        "unknown_account",
        "Authentication failed. The secret key is not valid.",
    ),
    exceptions.PermissionDenied: (403, "forbidden", "You do not have permission to do this."),
    exceptions.NotFound: (404, "not_found", "Not found."),
    exceptions.MethodNotAllowed: (405, "method_not_allowed", "Method not allowed."),
    exceptions.UnsupportedMediaType: (415, "unsupported_media_type", "Unsupported media type."),
    exceptions.NotAcceptable: (406, "not_acceptable", "Not acceptable."),
    exceptions.Throttled: (429, "too_many_requests", "Too many requests."),
}


def error_of(exc: Exception) -> tuple[int, dict, dict] | None:
    """The status, body and headers the API answers for an exception; None if unexpected."""
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable, restarting or locked: nothing was half-written
        # (each write is atomic), and the same request will work again shortly.
        log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
        return 503, SERVICE_UNAVAILABLE, {"Retry-After": str(settings.RETRY_AFTER_SECONDS)}
    if isinstance(exc, RequestDataTooBig):  # Django's own read of a body (the proxy's)
        exc = payload_too_large()
    if isinstance(exc, DomainError):
        status = next((s for cls, s in DOMAIN_STATUS.items() if isinstance(exc, cls)), 400)
        body = {"error": {"code": exc.code, "message": exc.message, **exc.extra}}
        return status, body, exc.headers()
    if isinstance(exc, ApiError):
        headers = {"WWW-Authenticate": 'Bearer realm="api"'} if exc.status_code == 401 else {}
        return exc.status_code, exc.body(), headers
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, SuspiciousOperation):
        return 400, BAD_REQUEST, {}
    if isinstance(exc, exceptions.ParseError):
        body = {"error": {"code": "invalid_body", "message": "The request body is not valid JSON."}}
        return 400, body, {}
    if isinstance(exc, exceptions.ValidationError):
        return 400, invalid("invalid_body", exc.detail).body(), {}
    for cls, (status, code, message) in _DRF_CODES.items():
        if isinstance(exc, cls):
            headers = {"WWW-Authenticate": 'Bearer realm="api"'} if status == 401 else {}
            return status, {"error": {"code": code, "message": message}}, headers
    if isinstance(exc, exceptions.APIException):
        body = {"error": {"code": exc.default_code, "message": str(exc.detail)}}
        return exc.status_code, body, {}
    return None


def exception_handler(exc: Exception, context: dict) -> Response:
    found = error_of(exc)
    if found is None:
        log.exception("unexpected error in %s", context.get("view"))
        found = 500, INTERNAL_ERROR, {}
    status, body, headers = found
    view = context.get("view")
    if status == 405 and view is not None:
        # DRF adds it to its views' answers, but not where a view drops its default
        # headers (the proxy): RFC 9110 asks for it on every 405.
        headers = {**headers, "Allow": ", ".join(view.allowed_methods)}
    return Response(body, status=status, headers=headers)


INTERNAL_ERROR = {
    "error": {"code": "internal_server_error", "message": "An unexpected error occurred."}
}
SERVICE_UNAVAILABLE = {
    "error": {
        "code": "service_unavailable",
        "message": "The service is briefly unavailable (its database cannot be reached); "
        "retry after the time in Retry-After.",
    }
}
# Django's own refusals of a request (too many query fields, a disallowed Host).
BAD_REQUEST = {"error": {"code": "bad_request", "message": "The request cannot be read."}}


def _refuse_constant(name: str):
    # NaN and Infinity are not JSON; Python accepts them unless told not to.
    raise ValueError(f"{name} is not valid JSON")


class BoundedJSONParser(BaseParser):
    """Reads any request body as JSON, refusing bodies over MAX_REQUEST_BYTES and values
    that cannot be stored (`nangosite.lib.storable`: 400 `invalid_body`, each place in
    `errors`).

    Accepts every content type because Nango's clients and curl users do not always
    send `Content-Type: application/json`.
    """

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.MAX_REQUEST_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise payload_too_large()
        if not raw.strip():
            return {}
        try:
            value = json.loads(raw, parse_constant=_refuse_constant)
        except RecursionError:
            raise unstorable_body([storable.problem("too_deep", [])]) from None
        except (ValueError, UnicodeDecodeError):
            raise exceptions.ParseError() from None
        if storable.might_be_unstorable(raw) and (found := storable.problems(value)):
            raise unstorable_body(found)
        return value


def unstorable_body(errors: list[dict]) -> ApiError:
    return ApiError(
        400, "invalid_body", "The request body holds values that cannot be stored.", errors=errors
    )


def read_json(request) -> object:
    """The request body as JSON, as the API's parser reads it, for views outside DRF."""
    return BoundedJSONParser().parse(request)


NOT_FOUND = {"error": {"code": "not_found", "message": "Not found."}}


def json_404(request, exception=None) -> JsonResponse:
    return JsonResponse(NOT_FOUND, status=404)


@csrf_exempt
def unknown_path(request) -> JsonResponse:
    """Every path no endpoint has (whatever the method): JSON also under DEBUG, where
    Django would otherwise answer an unresolved path with its HTML debug page."""
    return JsonResponse(NOT_FOUND, status=404)


def json_400(request, exception=None) -> JsonResponse:
    return JsonResponse(BAD_REQUEST, status=400)


def method_not_allowed(allow: str) -> HttpResponse:
    """405 in the error shape, with the `Allow` header RFC 9110 asks for."""
    body = {"error": {"code": "method_not_allowed", "message": "Method not allowed."}}
    return raw_json(body, 405, headers={"Allow": allow})


def json_500(request) -> JsonResponse:
    return JsonResponse(INTERNAL_ERROR, status=500)


def raw_json(data: object, status: int = 200, headers: dict | None = None) -> HttpResponse:
    """A JSON answer that writes `null` for None (DRF's renderer sends an empty body)."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return HttpResponse(body, status=status, content_type="application/json", headers=headers)

"""How a run can fail, and the error body each failure gives the caller; and the domain
errors a trigger is refused with before anything runs.

Shapes follow Nango's (`{"error": {"code", "message", "payload"?, "upstream"?}}`), plus
`errors` for the schema checks Nango does not make.
"""

from dataclasses import dataclass

from nango.response import Response
from nangosite.lib.errors import DomainError
from nangosite.lib.storable import clean_text, cleaned

INVALID_INPUT_MESSAGE = "The action input does not match the action's input schema"


class InvalidActionInput(DomainError):
    """An async trigger's input breaks the input schema (a sync run records it instead)."""

    code = "invalid_action_input"
    message = INVALID_INPUT_MESSAGE

    def __init__(self, errors: list[dict]) -> None:
        super().__init__(errors=errors)


class IdempotencyConflict(DomainError):
    code = "idempotency_key_conflict"
    message = "This Idempotency-Key was used with a different request."


class IdempotencyInProgress(DomainError):
    code = "idempotency_key_in_progress"
    message = "The first request with this Idempotency-Key is still running; retry later."


UPSTREAM_HEADERS = ("content-type", "retry-after")


@dataclass
class Failure:
    code: str
    status: int
    message: str
    payload: object = None
    upstream: dict | None = None
    errors: list | None = None
    # Retrying the same input cannot help (input/output validation, output too large).
    retryable: bool = True

    def body(self) -> dict:
        error: dict = {"code": self.code, "message": self.message}
        if self.payload is not None:
            error["payload"] = self.payload
        if self.upstream is not None:
            error["upstream"] = self.upstream
        if self.errors is not None:
            error["errors"] = self.errors
        return {"error": error}


def invalid_input(errors: list) -> Failure:
    return Failure(
        InvalidActionInput.code, 400, INVALID_INPUT_MESSAGE, errors=errors, retryable=False
    )


def invalid_output(message: str, errors: list | None = None) -> Failure:
    return Failure("invalid_action_output", 500, message, errors=errors, retryable=False)


def output_too_large(size: int, limit: int) -> Failure:
    return Failure(
        "script_output_too_large",
        500,
        f"Output size is too large: {size} bytes. Maximum allowed size is {limit} bytes "
        f"({limit / 1048576:g} MiB). Return only the fields your app needs, or fetch large "
        "payloads through the proxy.",
        payload={"size": size, "limit": limit},
        retryable=False,
    )


def runtime_error(payload: dict) -> Failure:
    return Failure(
        "action_script_runtime_error",
        500,
        "The action script failed with a runtime error",
        payload=payload,
    )


def http_error(response: Response) -> Failure:
    headers = {
        k: clean_text(v)
        for k, v in response.headers.items()
        if k in UPSTREAM_HEADERS or k.startswith("x-rate")
    }
    return Failure(
        "script_http_error",
        424,
        f"The provider answered HTTP {response.status}",
        payload=response.data,
        upstream={"status": response.status, "headers": headers, "body": response.data},
    )


def refresh_failed(message: str) -> Failure:
    # As GET /connections/<id> and /proxy answer it: the connection needs its end user.
    return Failure("refresh_failed", 424, message)


def network_error(name: str, message: str) -> Failure:
    return Failure(
        "script_network_error",
        500,
        "The action could not reach the provider",
        payload={"name": name, "message": clean_text(message)},
    )


def internal_error(name: str, message: str, stacktrace: list[str]) -> Failure:
    return Failure(
        "script_internal_error",
        500,
        "The action script raised an unexpected error",
        payload=cleaned({"name": name, "message": message, "stacktrace": stacktrace}),
    )


def timeout(seconds: float) -> Failure:
    return Failure(
        "action_script_failure",
        500,
        f"The action script failed with an error: timeout after {seconds:g}s",
        payload={"reason": "timeout", "timeout_seconds": seconds},
    )


def broken_function(message: str) -> Failure:
    return Failure(
        "script_internal_error",
        500,
        "The deployed function could not be loaded",
        payload={"name": "FunctionFileError", "message": message},
        retryable=False,
    )


def cancelled() -> Failure:
    return Failure("script_aborted", 410, "The action was cancelled", retryable=False)


def crashed() -> Failure:
    return Failure(
        "action_script_failure",
        500,
        "The action script failed with an error: the process running it stopped",
        payload={"reason": "worker_died"},
    )


def expired(hours: float) -> Failure:
    return Failure(
        "action_script_failure",
        500,
        f"The action script failed with an error: it was not started within {hours:g} h",
        payload={"reason": "expired", "queued_for_hours": hours},
        retryable=False,
    )


def unstorable(what: str) -> Failure:
    return Failure(
        "invalid_action_output",
        500,
        "What the run produced could not be stored",
        payload={"reason": "unstorable", "message": what[:500]},
        retryable=False,
    )


def gone() -> Failure:
    return Failure(
        "action_script_failure",
        500,
        "The action or its connection was deleted before the run started",
        payload={"reason": "deleted"},
        retryable=False,
    )


def platform_error() -> Failure:
    return Failure("internal_server_error", 500, "The platform failed to run the action")

class ActionError(Exception):
    """Raise inside `exec` to end the run with a structured error the caller receives.

    The caller gets HTTP 500 with `{"error": {"code": "action_script_runtime_error",
    "message": ..., "payload": <payload>}}`. A payload that is not an object is wrapped
    as `{"message": payload}`, as Nango does.
    """

    type = "action_script_runtime_error"

    def __init__(self, payload: object = None):
        if payload is None:
            payload = {}
        elif not isinstance(payload, dict):
            payload = {"message": payload}
        self.payload = payload
        super().__init__(payload.get("message") if isinstance(payload.get("message"), str) else "")


class HttpError(Exception):
    """A provider call that answered non-2xx (after any retries asked for).

    `response` carries `.status`, `.headers` and `.data`. Left uncaught, the run fails
    with `script_http_error` (HTTP 424) and the caller sees the provider's answer.
    """

    def __init__(self, message: str, response):
        super().__init__(message)
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status


class NetworkError(Exception):
    """A provider call that got no answer (refused, reset, timed out).

    Left uncaught, the run fails with `script_network_error` (HTTP 500).
    """

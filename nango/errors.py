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


class ActionTriggerError(ActionError):
    """`nango.trigger_action()`: the action ran and failed, or could not run (not found,
    disabled, unknown connection, too deep). `error` is its error (`code`, `message`,
    `payload`…), `status` the HTTP status a trigger would have answered, `execution_id`
    its execution's id when it ran. Left uncaught, this run fails too, with
    `action_script_runtime_error` and all of that as the payload."""

    def __init__(
        self,
        action: str,
        error: dict,
        status: int | None = None,
        execution_id: str | None = None,
    ):
        self.action, self.error = action, error
        self.status, self.execution_id = status, execution_id
        message = error.get("message") or error.get("code") or "failed"
        payload = {"message": f"the action {action!r} failed: {message}", "action": action}
        payload.update({"error": error, "status": status, "execution_id": execution_id})
        super().__init__(payload)

    @classmethod
    def from_payload(cls, payload: dict) -> "ActionTriggerError":
        return cls(
            payload.get("action", ""),
            payload.get("error") or {},
            payload.get("status"),
            payload.get("execution_id"),
        )


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

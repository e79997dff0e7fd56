"""The base of the domain's errors: refusals a caller can act on.

Models and managers raise them; `nangosite/api.py` maps each class to its HTTP status and
the error body `{"error": {"code", "message", ...}}` once, for every view.
"""


class DomainError(Exception):
    code = "error"
    message = ""

    def __init__(self, message: str = "", **extra: object) -> None:
        self.message = message or self.message
        # More of the error body: `errors`, `payload`…
        self.extra = extra
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        """Headers the answer carries besides the body (a throttle's `Retry-After`)."""
        return {}

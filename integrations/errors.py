"""What the integrations layer refuses: lookups that find nothing, connections that
cannot make a call. Their HTTP statuses are in `nangosite/api.py`."""

import math

from nangosite.lib.errors import DomainError


class UnknownProvider(DomainError):
    code = "unknown_provider"
    message = "Failed to find provider"


class UnknownConnection(DomainError):
    code = "unknown_connection"
    message = "Failed to find connection"


class DuplicateIntegration(DomainError):
    code = "duplicate_integration"
    message = "An integration with this unique_key already exists."


class ActionNotFound(DomainError):
    code = "not_found"
    message = "Action not found"


class ActionDisabled(DomainError):
    code = "disabled_resource"
    message = "The action is disabled"


class IncompleteConnection(DomainError):
    """The connection lacks a value its provider's templates need (`detail` names the
    placeholder, never a credential)."""

    code = "invalid_connection"

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"The connection is incomplete: {detail}")


class RefreshError(DomainError):
    """The connection's OAuth2 access token could not be refreshed."""

    code = "refresh_failed"


class TooManyRequests(DomainError):
    """A trigger over one of its environment's limits: `reason` "rate" (triggers a second)
    or "queue" (async runs queued). `retry_after`: seconds until a retry may pass."""

    code = "too_many_requests"

    def __init__(self, reason: str, limit: int, retry_after: float, message: str) -> None:
        self.reason, self.limit, self.retry_after = reason, limit, retry_after
        super().__init__(message, payload={"reason": reason, "limit": limit})

    def headers(self) -> dict[str, str]:
        wait = str(max(1, math.ceil(self.retry_after)))
        return {
            "Retry-After": wait,
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": wait,
        }


class UnknownVersion(DomainError):
    """A rollback to a version the function does not have."""

    code = "unknown_version"
    message = "No such version of the function"


class NoEarlierVersion(DomainError):
    code = "no_earlier_version"
    message = "The function has no version before the live one"

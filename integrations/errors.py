"""What the integrations layer refuses: lookups that find nothing, connections that
cannot make a call. Their HTTP statuses are in `nangosite/api.py`."""

from nangosite.lib.errors import DomainError


class UnknownProvider(DomainError):
    code = "unknown_provider"
    message = "Failed to find provider"


class UnknownConnection(DomainError):
    code = "unknown_connection"
    message = "Failed to find connection"


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


class UnknownVersion(DomainError):
    """A rollback to a version the function does not have."""

    code = "unknown_version"
    message = "No such version of the function"


class NoEarlierVersion(DomainError):
    code = "no_earlier_version"
    message = "The function has no version before the live one"

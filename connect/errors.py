"""What the Connect flows refuse, with Nango's error codes. Their HTTP statuses are in
`nangosite/api.py`; the OAuth2 popup shows the same code and message on its page."""

from nangosite.lib.errors import DomainError


class InvalidSessionTokenFormat(DomainError):
    code = "invalid_connect_session_token_format"
    message = "The connect session token is not in the expected format."


class UnknownSessionToken(DomainError):
    code = "unknown_connect_session_token"
    message = "The connect session token is unknown or has expired."


class UnknownProviderConfig(DomainError):
    code = "unknown_provider_config"
    message = "There is no integration with this key."


class IntegrationNotAllowed(DomainError):
    code = "integration_not_allowed"
    message = "This integration is not allowed in this connect session."


class InvalidAuthMode(DomainError):
    code = "invalid_auth_mode"


class ProviderConfigError(DomainError):
    """The integration lacks its OAuth app (client id or secret)."""

    code = "provider_config_err"


class InvalidConnectionConfig(DomainError):
    code = "invalid_connection_config"


class InvalidState(DomainError):
    """An OAuth2 callback whose `state` is unknown, already used or expired."""

    code = "invalid_state"
    message = (
        "This authorization is unknown, was already used or has expired. Start again from the app."
    )


class CallbackError(DomainError):
    """The provider sent the end user back without an authorization code."""

    code = "callback_err"


class TokenExchangeFailed(DomainError):
    """The provider's token endpoint gave no token for the code."""

    code = "token_error"

"""The shape of one provider of the catalog and how its credentials reach a request.

Templates use `${name}` placeholders, resolved against the connection:
`${accessToken}`, `${apiKey}`, `${username}`, `${password}`, `${basic}` (base64 of
"username:password"), `${connectionConfig.<key>}` and `${credentials.<key>}`.
`${connectionConfig.a || connectionConfig.b}` takes the first one that is set.
"""

import base64
import re
from dataclasses import dataclass, field
from enum import StrEnum

PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


class AuthMode(StrEnum):
    OAUTH2 = "OAUTH2"
    API_KEY = "API_KEY"
    BASIC = "BASIC"
    # A long-lived token pasted by the user (personal access tokens, bot tokens).
    BEARER = "BEARER"


class TemplateError(ValueError):
    """A template names a value the connection does not have."""


@dataclass(frozen=True)
class RateLimit:
    """How the provider says "slow down" (Nango's providers.yaml `proxy.retry`)."""

    # Headers holding a relative wait in seconds (e.g. Retry-After).
    after: tuple[str, ...] = ("retry-after",)
    # Headers holding an absolute reset time (epoch seconds or milliseconds).
    at: tuple[str, ...] = ()
    # Header holding the remaining budget; "0" makes a response retryable.
    remaining: str = ""
    # Statuses worth retrying; empty means 429 and 5xx.
    error_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pagination:
    """A pagination preset (Nango's `proxy.paginate`); any field can be overridden per call."""

    type: str  # "cursor" | "link" | "offset"
    limit_name_in_request: str = ""
    limit: int | None = None
    response_path: str = ""
    # cursor
    cursor_path_in_response: str = ""
    cursor_name_in_request: str = ""
    # link
    link_rel_in_response_header: str = ""
    link_path_in_response_body: str = ""
    # offset
    offset_name_in_request: str = ""
    offset_start_value: int = 0
    offset_calculation_method: str = "by-response-size"  # or "per-page"

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}


@dataclass(frozen=True)
class Provider:
    name: str
    display_name: str
    auth_mode: AuthMode
    # Templated, e.g. "https://${connectionConfig.subdomain}.zendesk.com".
    base_url: str
    # Where the credential goes: header templates and query-parameter templates.
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    authorization_url: str = ""
    token_url: str = ""
    # OAuth2 authorization code (Nango's providers.yaml fields of the same meaning):
    # extra query parameters of the authorization URL, extra body fields of the token
    # request (and of the refresh request: `refresh_params`, else `token_params`).
    authorization_params: dict[str, str] = field(default_factory=dict)
    token_params: dict[str, str] = field(default_factory=dict)
    refresh_params: dict[str, str] | None = None
    # Scopes of a new integration when it names none, and how the provider joins them.
    default_scopes: tuple[str, ...] = ()
    scope_separator: str = " "
    # PKCE S256 (Nango's `disable_pkce` inverted).
    pkce: bool = True
    # How the token request carries the client credentials: "client_secret_post" (in the
    # body, Nango's default) or "client_secret_basic" (HTTP Basic, Nango's
    # `authorization_method: header` / `token_request_auth_method: basic`).
    token_auth_method: str = "client_secret_post"
    # "form" (application/x-www-form-urlencoded) or "json" (Nango's `body_format`).
    token_body_format: str = "form"
    # Where the token sits when it is not at the top of the answer (Slack's user tokens
    # under "authed_user": Nango's `alternate_access_token_response_path`).
    token_response_path: str = ""
    # Dotted paths of the token answer kept as connection config (Slack's "team.id").
    token_response_metadata: tuple[str, ...] = ()
    # The authorization parameter that carries a session's `user_scopes` (Slack only).
    user_scope_param: str = ""
    # Connection config keys that must be set on a connection (e.g. Shopify's "subdomain").
    connection_config: tuple[str, ...] = ()
    rate_limit: RateLimit = field(default_factory=RateLimit)
    paginate: Pagination | None = None
    docs: str = ""
    categories: tuple[str, ...] = ()

    def connect_config_keys(self) -> tuple[str, ...]:
        """Connection config the end user types in before an OAuth2 flow: the keys the
        authorization and token URLs need without a fallback (Shopify's "subdomain")."""
        found = []
        for template in (self.authorization_url, self.token_url):
            for placeholder in PLACEHOLDER.findall(template):
                names = [n.strip() for n in placeholder.split("||")]
                if len(names) == 1 and names[0].startswith("connectionConfig."):
                    found.append(names[0].removeprefix("connectionConfig."))
        return tuple(dict.fromkeys(found))

    def resolve_base_url(self, connection_config: dict) -> str:
        return render(self.base_url, {}, connection_config).rstrip("/")

    def auth_headers(self, credentials: dict, connection_config: dict) -> dict[str, str]:
        return {k: render(v, credentials, connection_config) for k, v in self.headers.items()}

    def auth_query(self, credentials: dict, connection_config: dict) -> dict[str, str]:
        return {k: render(v, credentials, connection_config) for k, v in self.query.items()}


def _lookup(name: str, credentials: dict, connection_config: dict) -> str | None:
    name = name.strip()
    if name.startswith("connectionConfig."):
        value = connection_config.get(name.removeprefix("connectionConfig."))
    elif name.startswith("credentials."):
        value = credentials.get(name.removeprefix("credentials."))
    elif name == "accessToken":
        value = credentials.get("access_token") or credentials.get("token")
    elif name == "apiKey":
        value = credentials.get("apiKey") or credentials.get("api_key")
    elif name == "basic":
        user, password = credentials.get("username"), credentials.get("password", "")
        value = base64.b64encode(f"{user}:{password}".encode()).decode() if user else None
    else:
        value = credentials.get(name)
    return None if value in (None, "") else str(value)


def render(template: str, credentials: dict, connection_config: dict) -> str:
    def replace(match: re.Match) -> str:
        for alternative in match.group(1).split("||"):
            value = _lookup(alternative, credentials, connection_config)
            if value is not None:
                return value
        raise TemplateError(f"the connection has no value for ${{{match.group(1).strip()}}}")

    return PLACEHOLDER.sub(replace, template)

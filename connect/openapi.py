"""The Connect routes in the OpenAPI document (`nangosite/openapi.py` adds them)."""

from integrations.models import Environment, Integration
from nangosite.openapi import URL_PATTERN, WEBHOOK_URL_PATTERN, _answers, _path_param, _query, op
from nangosite.openapi_components import NOT_BLANK, TAGS, error_answer, text

SESSION_TOKEN = [{"connectSessionToken": []}]
SESSION_QUERY = [{"connectSessionQuery": []}]


def security_schemes() -> dict:
    return {
        "connectSessionToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "A connect session token (`nango_connect_session_<64 hex>`)",
        },
        "connectSessionQuery": {
            "type": "apiKey",
            "in": "query",
            "name": "connect_session_token",
            "description": "A connect session token, on the auth routes the Connect page calls",
        },
    }


def strict(properties: dict, *required: str) -> dict:
    """An object of these fields only (the connect bodies refuse unknown keys)."""
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


def _html(description: str, refusal: bool = False) -> dict:
    content = {"text/html": {"schema": {"type": "string"}}}
    if refusal:  # the request boundary answers a NUL in the query before the page
        content.update(error_answer("")["content"])
    return {"description": description, "content": content}


def paths(env: Environment | None = None) -> dict:
    """Sent with a secret key, the fields that name integrations list the environment's."""
    obj, string = {"type": "object"}, {"type": "string"}
    key = _path_param("key", "The integration's unique key (Provider-Config-Key)")
    session = {
        "type": "object",
        "required": ["token", "expires_at"],
        "properties": {
            "token": string,
            "connect_link": string,
            "expires_at": {"type": "string", "format": "date-time"},
        },
    }
    created = {"type": "object", "required": ["data"], "properties": {"data": session}}
    name = text(255, 1, NOT_BLANK)
    integration_keys = "Keys of the environment's integrations"
    integration_key = name
    if env is not None:
        keys = Integration.objects.filter(environment=env).values_list("unique_key", flat=True)
        integration_key = {"enum": sorted(keys)}
    session_fields = {
        "end_user": strict(
            {
                "id": name,
                "email": {"type": "string", "format": "email", "maxLength": 255},
                "display_name": name,
                "tags": TAGS,
            },
            "id",
        ),
        "organization": strict({"id": name, "display_name": name}, "id"),
        "integrations_config_defaults": {
            "type": "object",
            "description": integration_keys + " to what their connections start with",
            "propertyNames": integration_key,
            "additionalProperties": strict(
                {
                    "user_scopes": text(1024),
                    "authorization_params": {
                        "type": "object",
                        "additionalProperties": text(1024),
                    },
                    "connection_config": {
                        "type": "object",
                        "properties": {"oauth_scopes_override": {"type": ["string", "null"]}},
                    },
                }
            ),
        },
        "overrides": {
            "type": "object",
            "description": integration_keys + " to how the Connect page shows them",
            "propertyNames": integration_key,
            "additionalProperties": strict(
                {
                    "docs_connect": {
                        "type": "string",
                        "pattern": f"^{URL_PATTERN}$",
                        "maxLength": 2048,
                    }
                }
            ),
        },
        "webhook_url_override": {
            "type": "string",
            "pattern": WEBHOOK_URL_PATTERN,
            "maxLength": 2048,
        },
        "tags": TAGS,
    }
    session_body = strict(
        {
            **session_fields,
            "allowed_integrations": {
                "type": "array",
                "description": integration_keys,
                "items": integration_key,
            },
        }
    )
    # A session is for an end user, or at least tagged.
    session_body["anyOf"] = [
        {"required": ["end_user"]},
        {"required": ["tags"], "properties": {"tags": {"minProperties": 1}}},
    ]
    reconnect_body = strict(
        {**session_fields, "connection_id": name, "integration_id": integration_key},
        "connection_id",
        "integration_id",
    )
    connected = {
        "type": "object",
        "properties": {"connectionId": string, "providerConfigKey": string},
    }
    auth_route = lambda summary, body: op(  # noqa: E731
        summary, "connect", params=[key], body=body, ok=connected, errors=("400", "404"),
        security=SESSION_QUERY,
    )  # fmt: skip
    return {
        "/connect/sessions": {
            "post": op(
                "Create a connect session for an end user",
                "connect",
                body=session_body,
                ok=created,
                status="201",
            )
        },
        "/connect/sessions/reconnect": {
            "post": op(
                "Create a connect session that re-authorises one connection",
                "connect",
                body=reconnect_body,
                ok=created,
                status="201",
            )
        },
        "/connect/session": {
            "get": op(
                "The session, as the Connect page reads it",
                "connect",
                ok={"type": "object", "properties": {"data": obj}},
                security=SESSION_TOKEN,
            ),
            "delete": {
                "summary": "End the session",
                "tags": ["connect"],
                "security": SESSION_TOKEN,
                "responses": {"204": {"description": "Deleted"}, **_answers("401")},
            },
        },
        "/connect/": {
            "get": {
                "summary": "The hosted Connect page (connect_link, openConnectUI's baseURL)",
                "tags": ["connect"],
                "security": [{}],
                "responses": {"200": _html("The page")},
            }
        },
        "/connect": {
            "get": {
                "summary": "Redirects to /connect/",
                "tags": ["connect"],
                "security": [{}],
                "responses": {"302": {"description": "To /connect/"}},
            }
        },
        "/oauth/connect/{key}": {
            "get": {
                "summary": "Start an OAuth2 authorization (in the Connect page's popup)",
                "tags": ["connect"],
                "security": SESSION_QUERY,
                "parameters": [
                    key,
                    _query("params[<name>]", string, "Connection config the end user typed"),
                ],
                # Refusals are the popup's last page, which tells its opener why.
                "responses": {
                    "302": {"description": "To the provider's authorization page"},
                    "400": _html("Refused: not allowed in the session, or not OAuth2", True),
                    "401": _html("Refused: the session token is unknown or has expired"),
                    "404": _html("Refused: no integration with this key"),
                },
            }
        },
        "/oauth/callback": {
            "get": {
                "summary": "Where the provider sends the end user back (the redirect URI)",
                "tags": ["connect"],
                "security": [{}],
                "parameters": [
                    _query("state", text(1000, 1), "The one-time state the platform issued", True),
                    _query("code", string, "The authorization code"),
                    _query("error", string, "The provider's refusal (no code)"),
                    _query("error_description", string),
                ],
                "responses": {
                    "200": _html("Connected (the page tells its opener)"),
                    "400": _html(
                        "Refused: a state unknown, used or expired, or the provider's refusal",
                        True,
                    ),
                    "502": _html("The provider's token endpoint gave no token for the code"),
                },
            }
        },
        "/api-auth/api-key/{key}": {
            "post": auth_route(
                "Connect with an API key",
                strict({"apiKey": text(1024, 1)}, "apiKey"),
            )
        },
        "/api-auth/basic/{key}": {
            "post": auth_route(
                "Connect with a username and password",
                strict({"username": text(1024), "password": text(1024)}, "username", "password"),
            )
        },
    }

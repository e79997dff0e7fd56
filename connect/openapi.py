"""The Connect routes in the OpenAPI document (`nangosite/openapi.py` adds them)."""

from nangosite.openapi import _path_param, _query, op

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


def _html(description: str) -> dict:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def paths() -> dict:
    obj, text = {"type": "object"}, {"type": "string"}
    key = _path_param("key", "The integration's unique key (Provider-Config-Key)")
    session = {
        "type": "object",
        "required": ["token", "expires_at"],
        "properties": {
            "token": text,
            "connect_link": text,
            "expires_at": {"type": "string", "format": "date-time"},
        },
    }
    created = {"type": "object", "required": ["data"], "properties": {"data": session}}
    session_body = {
        "type": "object",
        "properties": {
            "end_user": obj,
            "organization": obj,
            "allowed_integrations": {"type": "array", "items": text},
            "integrations_config_defaults": obj,
            "overrides": obj,
            "webhook_url_override": text,
            "tags": obj,
        },
    }
    reconnect_body = {
        **session_body,
        "required": ["connection_id", "integration_id"],
        "properties": {
            **{k: v for k, v in session_body["properties"].items() if k != "allowed_integrations"},
            "connection_id": text,
            "integration_id": text,
        },
    }
    connected = {
        "type": "object",
        "properties": {"connectionId": text, "providerConfigKey": text},
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
                "responses": {"204": {"description": "Deleted"}},
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
                    _query("params[<name>]", text, "Connection config the end user typed"),
                ],
                "responses": {
                    "302": {"description": "To the provider's authorization page"},
                    "400": _html("Refused (the page tells its opener why)"),
                },
            }
        },
        "/oauth/callback": {
            "get": {
                "summary": "Where the provider sends the end user back (the redirect URI)",
                "tags": ["connect"],
                "security": [{}],
                "parameters": [_query("code", text), _query("state", text)],
                "responses": {
                    "200": _html("Connected (the page tells its opener)"),
                    "400": _html("Refused"),
                },
            }
        },
        "/api-auth/api-key/{key}": {
            "post": auth_route(
                "Connect with an API key",
                {"type": "object", "required": ["apiKey"], "properties": {"apiKey": text}},
            )
        },
        "/api-auth/basic/{key}": {
            "post": auth_route(
                "Connect with a username and password",
                {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {"username": text, "password": text},
                },
            )
        },
    }

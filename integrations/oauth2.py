"""OAuth2 for the catalog's OAUTH2 providers: the authorization URL, the code exchange and
the token refresh.

Authlib does the protocol: the authorization URL (state, PKCE S256, scopes), the token
request bodies, the client authentication (in the body or as HTTP Basic) and reading the
token answer and its errors. Its HTTP requests go through `nangosite.lib.http`, the one
outbound seam (timeouts, no redirects followed). Errors carry messages that name no
secret: never the code, a token, the client secret or the provider's whole answer.
"""

from datetime import datetime, timedelta

import requests
from authlib.common.urls import url_decode, url_encode
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.client import OAuth2Client
from django.conf import settings
from django.utils.timezone import now

from integrations.providers import Provider
from nango.context import dig
from nangosite.lib import http

# Authorization parameters that only the flow itself sets.
RESERVED = {"client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method"}


class TokenError(Exception):
    """The token endpoint gave no token. `kind` is Nango's error type; the message is
    safe to show to the end user and to the app."""

    def __init__(self, message: str, kind: str = "token_error") -> None:
        super().__init__(message)
        self.kind = kind


def redirect_uri() -> str:
    return settings.PUBLIC_URL + "/oauth/callback"


class _Seam:
    """What Authlib's client asks of its `session` (`post`), sent through `http.send`."""

    def __init__(self, body_format: str, deadline: float | None = None) -> None:
        self.body_format = body_format
        self.deadline = deadline
        self.answer: requests.Response | None = None

    def post(self, url: str, data=None, headers=None, auth=None, **kwargs) -> requests.Response:
        headers = {**(headers or {}), "User-Agent": "nangosite"}
        body = url_encode(list((data or {}).items()))
        if auth is not None:  # Authlib's client authentication: the body or a Basic header
            url, headers, body = auth.prepare("POST", url, headers, body)
        fields = {"data": body}
        if self.body_format == "json":
            fields = {"json": dict(url_decode(body))}
            headers["Content-Type"] = "application/json"
        request = http.Request(
            "POST", url, headers=headers, timeout=settings.PROVIDER_TIMEOUT_SECONDS, **fields
        )
        try:
            self.answer = http.send(request, deadline=self.deadline)
        except http.DeadlineExceeded:
            raise  # the run that needs the token is out of time: not the provider's fault
        except http.HttpError as exc:
            if exc.response is None:
                raise TokenError("The provider's token endpoint could not be reached.") from None
            self.answer = exc.response  # Authlib reads the OAuth error out of it
        return self.answer


def _client(integration, seam: _Seam, redirect: str | None = None) -> OAuth2Client:
    provider = integration.catalog
    return OAuth2Client(
        seam,
        client_id=integration.oauth_client_id,
        client_secret=integration.oauth_client_secret or "",
        token_endpoint_auth_method=provider.token_auth_method,
        redirect_uri=redirect,
        code_challenge_method="S256" if provider.pkce else None,
    )


def authorization_url(
    integration,
    connection_config: dict,
    state: str,
    code_verifier: str | None,
    scopes: list[str],
    params: dict[str, str],
) -> str:
    """Where the end user is sent to consent. `params` (the session's or the request's
    authorization params) win over the provider's; the value "undefined" removes one,
    as in Nango. Raises TemplateError when the config lacks what the URL needs."""
    provider = integration.catalog
    url = integration.oauth_url("authorization", connection_config)
    extra = {**provider.authorization_params, **params}
    extra = {k: (None if v == "undefined" else v) for k, v in extra.items() if k not in RESERVED}
    extra.setdefault("scope", provider.scope_separator.join(scopes) or None)
    client = _client(integration, _Seam(provider.token_body_format), redirect_uri())
    verifier = code_verifier if provider.pkce else None
    uri, _ = client.create_authorization_url(url, state=state, code_verifier=verifier, **extra)
    return uri


def exchange_code(integration, connection_config: dict, code: str, code_verifier: str) -> dict:
    """The answer of the token endpoint for an authorization code (its raw JSON object)."""
    provider = integration.catalog
    seam = _Seam(provider.token_body_format)
    client = _client(integration, seam, redirect_uri())
    url = integration.oauth_url("token", connection_config)
    params = {k: v for k, v in provider.token_params.items() if k != "grant_type"}
    verifier = code_verifier if provider.pkce else None
    return _answer(
        seam,
        lambda: client.fetch_token(
            url, grant_type="authorization_code", code=code, code_verifier=verifier, **params
        ),
    )


def refresh(integration, connection_config: dict, refresh_token: str, deadline=None) -> dict:
    """The answer of the token endpoint for a refresh token (its raw JSON object)."""
    provider = integration.catalog
    seam = _Seam(provider.token_body_format, deadline)
    client = _client(integration, seam)
    url = integration.oauth_url("token", connection_config)
    given = provider.token_params if provider.refresh_params is None else provider.refresh_params
    params = {k: v for k, v in given.items() if k != "grant_type"}
    return _answer(seam, lambda: client.refresh_token(url, refresh_token=refresh_token, **params))


def _answer(seam: _Seam, request) -> dict:
    try:
        request()
    except OAuth2Error as exc:
        said = ": ".join(str(p)[:200] for p in (exc.error, exc.description) if p)
        raise TokenError(f"The provider refused the token request ({said}).") from None
    except requests.HTTPError:
        status = seam.answer.status_code if seam.answer is not None else "?"
        raise TokenError(f"The provider's token endpoint answered HTTP {status}.") from None
    except ValueError:
        status = seam.answer.status_code if seam.answer is not None else "?"
        raise TokenError(
            f"The provider's token endpoint answered HTTP {status} without a JSON object.",
            "unable_to_parse_token_response",
        ) from None
    return seam.answer.json()


def credentials_from(provider: Provider, raw: dict, previous: dict | None = None) -> dict:
    """Nango's stored OAUTH2 credentials for a token answer: access token, refresh token
    (the previous one when a refresh gives none), expiry, and the raw answer."""
    source = raw
    if not raw.get("access_token") and provider.token_response_path:
        nested = dig(raw, provider.token_response_path)
        source = nested if isinstance(nested, dict) else raw
    access_token = source.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise TokenError(
            "The provider's token answer has no access_token.", "unable_to_parse_token_response"
        )
    credentials = {"type": "OAUTH2", "access_token": access_token}
    refresh_token = source.get("refresh_token") or (previous or {}).get("refresh_token")
    if isinstance(refresh_token, str) and refresh_token:
        credentials["refresh_token"] = refresh_token
    expires = _expiry(source)
    if expires is not None:
        credentials["expires_at"] = expires.isoformat()
    credentials["raw"] = raw
    return credentials


def _expiry(answer: dict) -> datetime | None:
    seconds = answer.get("expires_in")
    try:
        if seconds not in (None, ""):
            return now() + timedelta(seconds=float(seconds))
        if isinstance(answer.get("expires_at"), int | float):
            return datetime.fromtimestamp(answer["expires_at"], tz=now().tzinfo)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    return None


def token_metadata(provider: Provider, raw: dict) -> dict:
    """The connection config a token answer carries (Nango's `token_response_metadata`),
    stored under the dotted path itself ("team.id"), as Nango does."""
    found = {path: dig(raw, path) for path in provider.token_response_metadata}
    return {path: value for path, value in found.items() if value not in (None, "")}

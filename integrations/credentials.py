"""Connection credentials: their shapes, and refreshing OAuth2 access tokens.

It works on `Connection` rows without importing the model (models.py imports this)."""

import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils.dateparse import parse_datetime
from django.utils.timezone import now

from integrations.errors import RefreshError
from integrations.providers import AuthMode, TemplateError, render
from nangosite.lib import http

# Required keys per credential type (Nango's import-connection shapes).
REQUIRED = {
    "OAUTH2": ("access_token",),
    "API_KEY": ("apiKey",),
    "BASIC": ("username", "password"),
    "BEARER": ("token",),
}
# Which credential types a provider's auth mode accepts.
ACCEPTED = {
    AuthMode.OAUTH2: {"OAUTH2"},
    AuthMode.API_KEY: {"API_KEY"},
    AuthMode.BASIC: {"BASIC"},
    AuthMode.BEARER: {"BEARER", "API_KEY", "OAUTH2"},
}


def credential_errors(credentials: object, auth_mode: AuthMode) -> list[str]:
    if not isinstance(credentials, dict):
        return ["credentials must be an object"]
    kind = credentials.get("type")
    if not isinstance(kind, str) or kind not in ACCEPTED[auth_mode]:
        allowed = ", ".join(sorted(ACCEPTED[auth_mode]))
        return [f"credentials.type must be one of: {allowed} (for a {auth_mode} provider)"]
    errors = [
        f"credentials.{key} is required"
        for key in REQUIRED[kind]
        if not isinstance(credentials.get(key), str) or not credentials.get(key)
    ]
    expires = credentials.get("expires_at")
    if expires is not None and not _parse_expiry(expires):
        errors.append("credentials.expires_at must be an ISO 8601 date-time")
    return errors


def _parse_expiry(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            return None
        if parsed is not None and parsed.tzinfo is None:
            return None
        return parsed
    return None


def expiry_of(credentials: dict) -> datetime | None:
    return _parse_expiry(credentials.get("expires_at"))


# Refreshes inside one process are serialized per connection by one of a fixed set of
# locks (a bounded number, however many connections a process meets); the database row
# lock covers other processes.
_locks = [threading.Lock() for _ in range(64)]


def fresh_credentials(connection, force: bool = False) -> dict:
    """The connection's credentials, refreshing its OAuth2 token first when it is expiring.

    Concurrent runs of one connection refresh once: the first takes the lock and refreshes,
    the others wait, re-read the row and find the new token.
    """
    if not force and not connection.token_needs_refresh():
        return connection.credentials
    rows = type(connection).objects
    try:
        with _locks[connection.pk % len(_locks)], transaction.atomic():
            current = rows.select_for_update().select_related("integration").get(pk=connection.pk)
            if force or current.token_needs_refresh():
                _refresh(current)
    except RefreshError as exc:
        rows.filter(pk=connection.pk).update(last_refresh_failure=str(exc)[:500])
        raise
    connection.set_credentials(current.credentials)
    connection.updated = current.updated
    return connection.credentials


# A token lifetime longer than this is taken as no expiry (and 1e400 cannot be a date).
MAX_LIFETIME_SECONDS = 100 * 365 * 86400


def _seconds(value: object) -> int:
    """A token endpoint's `expires_in` (a number, or its text) in seconds; 0 if unusable."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 0
    return int(seconds) if 0 < seconds <= MAX_LIFETIME_SECONDS else 0


def _refresh(connection) -> None:
    integration = connection.integration
    provider = integration.catalog
    refresh_token = connection.credentials.get("refresh_token")
    if not refresh_token or not provider.token_url:
        raise RefreshError("the access token expired and the connection has no refresh token")
    try:
        token_url = render(provider.token_url, {}, connection.connection_config or {})
    except TemplateError as exc:
        raise RefreshError(f"cannot refresh the access token: {exc}") from None
    try:
        response = http.send(
            http.Request(
                "POST",
                token_url,
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token,
                    "client_id": integration.oauth_client_id,
                    "client_secret": integration.oauth_client_secret or "",
                },
                headers={"Accept": "application/json"},
                timeout=settings.PROVIDER_TIMEOUT_SECONDS,
            ),
            http.RetryPolicy(retries=2, backoff_base=0.5, backoff_max=5),
        )
        body = response.json()
    except (http.HttpError, ValueError) as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        reason = f"token endpoint answered {status}" if status else "token endpoint unreachable"
        raise RefreshError(f"could not refresh the access token: {reason}") from exc
    if not isinstance(body, dict) or not body.get("access_token"):
        raise RefreshError("could not refresh the access token: no access_token in the answer")
    credentials = dict(connection.credentials)
    credentials["access_token"] = body["access_token"]
    if body.get("refresh_token"):
        credentials["refresh_token"] = body["refresh_token"]
    if lifetime := _seconds(body.get("expires_in")):
        credentials["expires_at"] = (now() + timedelta(seconds=lifetime)).isoformat()
    else:
        credentials.pop("expires_at", None)
    connection.set_credentials(credentials)
    connection.updated = now()
    connection.last_refresh_failure = ""
    connection.save(
        update_fields=[
            "credentials",
            "credentials_expires_at",
            "updated",
            "last_refresh_failure",
        ]
    )

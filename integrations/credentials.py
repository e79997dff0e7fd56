"""Connection credentials: their shapes, and refreshing OAuth2 access tokens.

It works on `Connection` rows without importing the model (models.py imports this)."""

import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils.dateparse import parse_datetime
from django.utils.timezone import now

from integrations import oauth2
from integrations.errors import RefreshError
from integrations.oauth2 import TokenError
from integrations.providers import AuthMode, TemplateError
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
# locks (a bounded number, however many connections a process meets); a lease on the row
# covers other processes.
_locks = [threading.Lock() for _ in range(64)]
# How often a process waiting for another's refresh looks at the row again.
POLL_SECONDS = 0.05


def lease_seconds() -> float:
    # Longer than the one token request a refresh makes, so a live refresh keeps its lease.
    return settings.PROVIDER_TIMEOUT_SECONDS + 30


def needs_refresh(connection) -> bool:
    """An OAuth2 token that expires within TOKEN_REFRESH_MARGIN_SECONDS (or has expired)."""
    expires = connection.credentials_expires_at
    if connection.credentials.get("type") != "OAUTH2" or not expires:
        return False
    return expires <= now() + timedelta(seconds=settings.TOKEN_REFRESH_MARGIN_SECONDS)


def refreshable_after(exc: http.HttpError, credentials: dict) -> bool:
    """Whether the provider's answer says the access token was refused (401) and a
    refresh may help (an OAuth2 token with a refresh token)."""
    response = exc.response
    return (
        response is not None
        and response.status_code == 401
        and credentials.get("type") == "OAUTH2"
        and bool(credentials.get("refresh_token"))
    )


def fresh_credentials(
    connection, force: bool = False, rejected: dict | None = None, deadline: float | None = None
) -> dict:
    """The connection's credentials, its OAuth2 token refreshed first when it is expiring,
    when `force`d, or when `rejected` (the credentials a provider just answered 401 to)
    are still the stored ones.

    No transaction is held during the token request: the refresh claims a lease on the
    row (one short UPDATE), calls the token endpoint, then writes the result guarded by
    that lease. Concurrent callers of one connection, in any process, refresh once: the
    others wait for the lease to go and take the new token. Raises RefreshError; a
    failure is recorded on the connection and announced by an auth webhook.
    """
    if not force and rejected is None and not needs_refresh(connection):
        return connection.credentials
    with _locks[connection.pk % len(_locks)]:
        row = _claim(connection, force, rejected)
        if isinstance(row, tuple):
            row = _refresh(*row, deadline)
    connection.set_credentials(row.credentials)
    for name in ("updated", "last_refreshed", "last_refresh_failure", "refresh_failed_at"):
        setattr(connection, name, getattr(row, name))
    return connection.credentials


def _needed(row, force: bool, rejected: dict | None) -> bool:
    if rejected is not None:
        return row.credentials.get("access_token") == rejected.get("access_token")
    return force or needs_refresh(row)


def _claim(connection, force: bool, rejected: dict | None):
    """The row when no refresh is needed any more, else (row, lease) once the lease is ours."""
    rows = type(connection).objects
    give_up = time.monotonic() + lease_seconds()
    while True:
        row = rows.select_related("integration").get(pk=connection.pk)
        if not _needed(row, force, rejected):
            return row
        moment = now()
        lease = moment + timedelta(seconds=lease_seconds())
        free = Q(refresh_lease__isnull=True) | Q(refresh_lease__lt=moment)
        if rows.filter(free, pk=row.pk).update(refresh_lease=lease):
            # Read again under the lease: a refresh may have ended since the read above.
            row = rows.select_related("integration").get(pk=row.pk)
            if _needed(row, force, rejected):
                return row, lease
            rows.filter(pk=row.pk, refresh_lease=lease).update(refresh_lease=None)
            return row
        if time.monotonic() > give_up:
            raise RefreshError("Another refresh of this connection's token did not finish.")
        time.sleep(POLL_SECONDS)
        force = False  # the token another caller is getting is as fresh as ours would be


def _refresh(row, lease, deadline: float | None):
    rows = type(row).objects
    refresh_token = row.credentials.get("refresh_token")
    try:
        if not refresh_token:
            raise TokenError("The access token expired and the connection has no refresh token.")
        config = row.connection_config or {}
        raw = oauth2.refresh(row.integration, config, refresh_token, deadline)
        credentials = oauth2.credentials_from(row.integration.catalog, raw, row.credentials)
    except (TokenError, TemplateError) as exc:
        _failed(row, lease, f"Could not refresh the access token: {exc}")
        raise RefreshError(f"Could not refresh the access token: {exc}") from None
    except BaseException:
        rows.filter(pk=row.pk, refresh_lease=lease).update(refresh_lease=None)
        raise  # the run's deadline, or no database: nothing is known about the token
    moment = now()
    row.set_credentials(credentials)
    fields = {
        "credentials": row.credentials,
        "credentials_expires_at": row.credentials_expires_at,
        "last_refreshed": moment,
        "last_refresh_failure": "",
        "refresh_failed_at": None,
        "refresh_lease": None,
        "updated": moment,
    }
    if not rows.filter(pk=row.pk, refresh_lease=lease).update(**fields):
        # Our lease ran out and another refresh took over: its result stands.
        return rows.select_related("integration").get(pk=row.pk)
    for name, value in fields.items():
        setattr(row, name, value)
    return row


def _failed(row, lease, reason: str) -> None:
    """Mark the connection (why, since when) and, when it was fine until now, tell the
    environment's webhook URLs, in one transaction."""
    from webhooks.models import Delivery  # webhooks.models imports the models of this app

    reason = reason[:500]
    first = not row.last_refresh_failure
    since = row.refresh_failed_at or now()
    with transaction.atomic():
        marked = (
            type(row)
            .objects.filter(pk=row.pk, refresh_lease=lease)
            .update(refresh_lease=None, last_refresh_failure=reason, refresh_failed_at=since)
        )
        row.last_refresh_failure, row.refresh_failed_at = reason, since
        if marked and first:
            Delivery.objects.announce_auth(
                row,
                "refresh",
                error={"type": "refresh_token_external_error", "description": reason},
            )

"""End users, the connect sessions that let them authorise their own connections, and
the OAuth2 authorizations in progress (Nango's connect sessions and OAuth sessions).

A connect session's token is shown once (`POST /connect/sessions`) and kept as a hash; it
is reusable until it expires (30 minutes) or is deleted. An OAuth2 `state` is kept as a
hash too, with its PKCE verifier encrypted, and can be used once, within 15 minutes.
"""

import re
import uuid
from datetime import timedelta

from authlib.common.security import generate_token
from django.conf import settings
from django.db import models, transaction
from django.utils.timezone import now

from connect import errors
from integrations import oauth2
from integrations.models import Connection, Environment, Integration, validate_webhook_url
from integrations.oauth2 import TokenError
from integrations.providers import AuthMode, TemplateError
from nangosite.fields import EncryptedJSONField
from nangosite.lib.crypto import hash_secret, new_token

TOKEN_PREFIX = "nango_connect_session_"
TOKEN_PATTERN = re.compile(r"^nango_connect_session_[a-f0-9]{64}$")
SESSION_TTL = timedelta(minutes=30)
STATE_TTL = timedelta(minutes=15)
# Connection config an end user types in goes into the provider's URLs (a Shopify
# subdomain): a host label's characters only, so it cannot point the token request at
# another host.
CONFIG_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


def js_time(moment) -> str:
    # JavaScript's Date.toISOString(), as Nango answers `expires_at`.
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EndUserQuerySet(models.QuerySet):
    def upsert(self, env: Environment, end_user: dict, organization: dict | None) -> "EndUser":
        organization = organization or {}
        found, _ = self.update_or_create(
            environment=env,
            end_user_id=end_user["id"],
            defaults={
                "email": end_user.get("email") or "",
                "display_name": end_user.get("display_name") or "",
                "tags": end_user.get("tags") or {},
                "organization_id": organization.get("id") or "",
                "organization_display_name": organization.get("display_name") or "",
                "updated": now(),
            },
        )
        return found


class EndUser(models.Model):
    """One of the app's users, as the app described them when it opened a session."""

    environment = models.ForeignKey(Environment, models.CASCADE, related_name="end_users")
    end_user_id = models.CharField("id", max_length=255)
    email = models.CharField(max_length=255, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    organization_id = models.CharField(max_length=255, blank=True)
    organization_display_name = models.CharField(max_length=255, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=now)
    updated = models.DateTimeField(default=now)

    objects = EndUserQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["environment", "end_user_id"], name="unique_end_user")
        ]

    def __str__(self) -> str:
        return self.display_name or self.email or self.end_user_id

    def to_api(self) -> dict:
        """Nango's `end_user` of a connection."""
        organization = None
        if self.organization_id:
            organization = {
                "id": self.organization_id,
                "display_name": self.organization_display_name or None,
            }
        return {
            "id": self.end_user_id,
            "email": self.email or None,
            "display_name": self.display_name or None,
            "tags": self.tags or {},
            "organization": organization,
        }

    def tag_values(self) -> dict[str, str]:
        """The tags Nango derives from the end user and organization."""
        derived = {
            "end_user_id": self.end_user_id,
            "end_user_email": self.email,
            "end_user_display_name": self.display_name,
            "organization_id": self.organization_id,
            "organization_display_name": self.organization_display_name,
        }
        return {k: v for k, v in derived.items() if v}


class ConnectSessionQuerySet(models.QuerySet):
    def open(self, env: Environment, data: dict) -> tuple["ConnectSession", str]:
        """A new session from a validated `POST /connect/sessions[/reconnect]` body, and its
        token in clear (shown once)."""
        end_user = None
        if data.get("end_user"):
            end_user = EndUser.objects.upsert(env, data["end_user"], data.get("organization"))
        tags = {**(end_user.tag_values() if end_user else {}), **(data.get("tags") or {})}
        token = TOKEN_PREFIX + new_token(32)
        moment = now()
        session = self.create(
            environment=env,
            token_hash=hash_secret(token),
            end_user=end_user,
            tags=tags,
            allowed_integrations=data.get("allowed_integrations"),
            integrations_config_defaults=data.get("integrations_config_defaults") or {},
            overrides=data.get("overrides") or {},
            webhook_url_override=data.get("webhook_url_override") or "",
            connection=data.get("connection"),
            created=moment,
            expires_at=moment + SESSION_TTL,
        )
        # Sessions and authorizations that ended a day ago are of no use to anyone.
        self.filter(expires_at__lt=moment - timedelta(days=1)).delete()
        OAuthState.objects.filter(expires_at__lt=moment - timedelta(days=1)).delete()
        return session, token

    def by_token(self, token: str) -> "ConnectSession":
        """The live session of a token; else InvalidSessionTokenFormat or UnknownSessionToken."""
        if not TOKEN_PATTERN.match(token or ""):
            raise errors.InvalidSessionTokenFormat()
        found = (
            self.select_related("environment", "end_user", "connection__integration")
            .filter(token_hash=hash_secret(token), expires_at__gt=now())
            .first()
        )
        if found is None:
            raise errors.UnknownSessionToken()
        return found


class ConnectSession(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    environment = models.ForeignKey(Environment, models.CASCADE, related_name="connect_sessions")
    # Only a hash is kept: the token is shown once, when the session is made.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    end_user = models.ForeignKey(
        EndUser, models.SET_NULL, null=True, blank=True, related_name="sessions"
    )
    tags = models.JSONField(default=dict, blank=True)
    # Provider-Config-Keys the end user may connect; null: every integration.
    allowed_integrations = models.JSONField(null=True, blank=True)
    integrations_config_defaults = models.JSONField(default=dict, blank=True)
    overrides = models.JSONField(default=dict, blank=True)
    webhook_url_override = models.URLField(
        blank=True, max_length=2048, validators=[validate_webhook_url]
    )
    # Set for a reconnect session: the connection whose credentials it replaces.
    connection = models.ForeignKey(
        Connection, models.CASCADE, null=True, blank=True, related_name="connect_sessions"
    )
    created = models.DateTimeField(default=now)
    expires_at = models.DateTimeField()

    objects = ConnectSessionQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="connect_session_expiry")]

    def __str__(self) -> str:
        return f"session {self.code}"

    @property
    def link(self) -> str:
        # The token rides in the fragment, which browsers never send to a server (no
        # access log, no Referer); the page also reads Nango's `?session_token=`.
        return f"{settings.PUBLIC_URL}/connect/#session_token="

    def to_api(self, token: str) -> dict:
        return {
            "token": token,
            "connect_link": self.link + token,
            "expires_at": js_time(self.expires_at),
        }

    def integrations(self):
        rows = Integration.objects.filter(environment=self.environment).order_by("unique_key")
        if self.allowed_integrations is not None:
            rows = rows.filter(unique_key__in=self.allowed_integrations)
        return rows

    def integration(self, key: str) -> Integration:
        """The integration an auth route names; UnknownProviderConfig, IntegrationNotAllowed."""
        found = Integration.objects.filter(environment=self.environment, unique_key=key).first()
        if found is None:
            raise errors.UnknownProviderConfig()
        if self.allowed_integrations is not None and key not in self.allowed_integrations:
            raise errors.IntegrationNotAllowed()
        return found

    def defaults_for(self, key: str) -> dict:
        return self.integrations_config_defaults.get(key) or {}

    def describe(self) -> dict:
        """`GET /connect/session`: Nango's fields, plus the integrations the page lists."""
        data: dict = {
            "endUser": self.end_user.to_api() if self.end_user else None,
            "connectUISettings": {"showWatermark": False},
            "isReconnecting": self.connection_id is not None,
            "integrations_config_defaults": {
                key: {
                    "connection_config": value.get("connection_config") or {},
                    "authorization_params": value.get("authorization_params") or {},
                }
                for key, value in self.integrations_config_defaults.items()
            },
            "overrides": self.overrides,
        }
        if self.allowed_integrations is not None:
            data["allowed_integrations"] = self.allowed_integrations
        data["integrations"] = [self._listed(i) for i in self.integrations()]
        return data

    def _listed(self, integration: Integration) -> dict:
        provider = integration.catalog
        given = self.defaults_for(integration.unique_key).get("connection_config") or {}
        asked = [k for k in provider.connect_config_keys() if not given.get(k)]
        return {
            "unique_key": integration.unique_key,
            "provider": integration.provider,
            "display_name": integration.display_name or provider.display_name,
            "auth_mode": provider.auth_mode.value,
            "connection_config": asked,
        }

    def connect(
        self, integration: Integration, credentials: dict, config: dict, via: str
    ) -> tuple[Connection, str]:
        """Create the session's connection, or override it (a reconnect session), with
        these credentials and connection config; link the end user, set the session's
        tags and webhook URL, and announce it with an auth webhook, in one transaction.
        Returns the connection and the operation ("creation" | "override")."""
        from webhooks.models import Delivery  # webhooks.models imports integrations.models

        moment = now()
        with transaction.atomic():
            connection = None
            if self.connection_id is not None:
                connection = (
                    Connection.objects.select_for_update().filter(pk=self.connection_id).first()
                )
                if connection is None:
                    raise errors.UnknownSessionToken()
            operation = "override" if connection is not None else "creation"
            if connection is None:
                connection = Connection(
                    integration=integration, connection_id=str(uuid.uuid4()), created=moment
                )
            connection.set_credentials(credentials)
            connection.connection_config = {**(connection.connection_config or {}), **config}
            connection.end_user = self.end_user or connection.end_user
            connection.tags = {**(connection.tags or {}), **self.tags}
            if self.webhook_url_override:
                connection.webhook_url_override = self.webhook_url_override
            connection.created_via = via
            connection.updated = moment
            connection.save()
            connection.integration = integration
            Delivery.objects.announce_auth(connection, operation)
        return connection, operation


def _scopes(text: str) -> list[str]:
    # Nango keeps scopes comma-separated; spaces are accepted too.
    parts = text.split(",") if "," in text else text.split()
    return [p.strip() for p in parts if p.strip()]


class OAuthStateQuerySet(models.QuerySet):
    def begin(
        self,
        session: ConnectSession,
        integration: Integration,
        connection_config: dict,
        authorization_params: dict,
    ) -> str:
        """Store a new authorization of `integration` for the session and return the
        provider's authorization URL to send the end user to."""
        provider = integration.catalog
        if provider.auth_mode != AuthMode.OAUTH2:
            raise errors.InvalidAuthMode(
                f"{integration.unique_key} does not use OAuth2 (its auth mode is "
                f"{provider.auth_mode})."
            )
        if not integration.oauth_client_id or not integration.oauth_client_secret:
            raise errors.ProviderConfigError(
                f"The integration {integration.unique_key} has no OAuth client id and secret."
            )
        defaults = session.defaults_for(integration.unique_key)
        # What the end user may not choose: the scopes are the app's (its session's).
        connection_config = {
            k: v for k, v in connection_config.items() if k != "oauth_scopes_override"
        }
        authorization_params = {k: v for k, v in authorization_params.items() if k != "scope"}
        bad = [k for k, v in connection_config.items() if not CONFIG_VALUE.match(str(v))]
        if bad:
            raise errors.InvalidConnectionConfig(f"Invalid value for {', '.join(sorted(bad))}.")
        # The session's values win over the request's, as in Nango.
        config = {**connection_config, **(defaults.get("connection_config") or {})}
        scopes = _scopes(
            str(config.pop("oauth_scopes_override", "") or integration.oauth_scopes or "")
        ) or list(provider.default_scopes)
        params = defaults.get("authorization_params")
        params = dict(authorization_params if params is None else params)
        if provider.user_scope_param and defaults.get("user_scopes"):
            params[provider.user_scope_param] = defaults["user_scopes"]
        missing = [k for k in provider.connect_config_keys() if not config.get(k)]
        if missing:
            raise errors.InvalidConnectionConfig(f"{', '.join(missing)} is required.")
        state = new_token(32)
        verifier = generate_token(64) if provider.pkce else None
        try:
            url = oauth2.authorization_url(integration, config, state, verifier, scopes, params)
        except TemplateError as exc:
            raise errors.InvalidConnectionConfig(str(exc)) from None
        moment = now()
        self.create(
            state_hash=hash_secret(state),
            session=session,
            integration=integration,
            code_verifier=verifier,
            connection_config=config,
            created=moment,
            expires_at=moment + STATE_TTL,
        )
        return url

    def consume(self, state: str) -> "OAuthState":
        """The authorization a callback's `state` names, removed so it cannot be used again;
        InvalidState when it is unknown, already used or expired."""
        found = (
            self.select_related(
                "session__end_user", "session__environment", "integration__environment"
            )
            .filter(state_hash=hash_secret(state or ""))
            .first()
        )
        # Whoever deletes the row owns it: a replay racing the first callback gets nothing.
        if found is None or not self.filter(pk=found.pk).delete()[0]:
            raise errors.InvalidState()
        if found.expires_at <= now():
            raise errors.InvalidState()
        return found


class OAuthState(models.Model):
    """One OAuth2 authorization on its way through the provider (Nango's OAuth session)."""

    # The `state` sent to the provider, hashed.
    state_hash = models.CharField(max_length=64, unique=True, editable=False)
    session = models.ForeignKey(ConnectSession, models.CASCADE, related_name="oauth_states")
    integration = models.ForeignKey(Integration, models.CASCADE, related_name="+")
    # PKCE's code verifier (null when the provider takes none).
    code_verifier = EncryptedJSONField(null=True, blank=True)
    connection_config = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=now)
    expires_at = models.DateTimeField()

    objects = OAuthStateQuerySet.as_manager()

    class Meta:
        verbose_name = "OAuth state"

    def __str__(self) -> str:
        return f"authorization of {self.integration_id}"

    def complete(self, code: str, error: str = "", description: str = "") -> Connection:
        """Exchange the callback's code for a token and store the connection (the HTTP
        call is made outside any transaction)."""
        if not code:
            said = f"error: {error[:200]}; error_description: {description[:300]}"
            raise errors.CallbackError(
                f"Did not get authorization code in the callback. Provider error: {said}"
            )
        integration = self.integration
        try:
            raw = oauth2.exchange_code(
                integration, self.connection_config, code, self.code_verifier
            )
            credentials = oauth2.credentials_from(integration.catalog, raw)
        except TokenError as exc:
            failure = errors.TokenExchangeFailed(str(exc))
            failure.code = exc.kind
            raise failure from None
        # The session's config wins over what the token answer carries, but an empty
        # value is filled from it (Nango's rule).
        given = {k: v for k, v in self.connection_config.items() if v != ""}
        config = {**oauth2.token_metadata(integration.catalog, raw), **given}
        connection, _ = self.session.connect(integration, credentials, config, Connection.Via.OAUTH)
        return connection

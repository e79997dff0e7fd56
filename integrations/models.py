import uuid
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils.timezone import now

from integrations.credentials import expiry_of, fresh_credentials
from integrations.errors import IncompleteConnection, UnknownConnection, UnknownProvider
from integrations.providers import Provider, TemplateError, get_provider, provider_choices
from integrations.recorder import Recorder, secrets_of

# Deployed functions live in their own module; they are models of this app all the same.
from integrations.versions import Function, FunctionVersion, Via  # noqa: F401
from nangosite.fields import EncryptedJSONField
from nangosite.lib import http, sql
from nangosite.lib.cache import TTLCache
from nangosite.lib.crypto import hash_secret, new_token, same_secret
from nangosite.lib.http import RetryPolicy

# Nango's rules for the two headers every call carries.
KEY_PATTERN = r"^[a-zA-Z0-9~:.@ _-]+$"
CONNECTION_ID_PATTERN = r"^[a-zA-Z0-9,.;:=+~\[\]|@${}\"'\\/_ -]+$"


def validate_webhook_url(value: str) -> None:
    """http(s) only, and no user:password@ part: a webhook carries no secret but its signature."""
    URLValidator(schemes=["http", "https"])(value)
    if urlsplit(value).username is not None:
        raise ValidationError("A webhook URL cannot hold credentials.", code="invalid")


# Environments found by key hash in this process, briefly: every API call authenticates,
# and the lookup was a tenth of a trigger's cost. A rotated key stops working in other
# processes within AUTH_CACHE_SECONDS.
_by_key = TTLCache("AUTH_CACHE_SECONDS")


class EnvironmentQuerySet(models.QuerySet):
    def by_secret_key(self, key: str) -> "Environment | None":
        digest = hash_secret(key)
        env = _by_key.get(digest)
        if env is not None:
            return env
        env = self.filter(secret_key_hash=digest).first()
        if env is None or not same_secret(key, env.secret_key_hash):
            return None
        _by_key.set(digest, env)
        return env


class Environment(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(default=now)
    # Only a hash is kept: the key is shown once, when it is made.
    secret_key_hash = models.CharField(max_length=64, unique=True, editable=False)
    secret_key_hint = models.CharField(max_length=8, blank=True, editable=False)
    # Signing needs the key itself, so it is encrypted rather than hashed.
    webhook_signing_key = EncryptedJSONField(editable=False)
    webhook_primary_url = models.URLField(
        blank=True, max_length=2048, validators=[validate_webhook_url]
    )
    webhook_secondary_url = models.URLField(
        blank=True, max_length=2048, validators=[validate_webhook_url]
    )
    send_async_action_webhooks = models.BooleanField(
        "async action completion webhooks",
        default=True,
        help_text="Tell the webhook URLs when an async action run ends.",
    )
    action_concurrency = models.PositiveIntegerField(
        default=4, help_text="Async runs of this environment that may run at once."
    )

    objects = EnvironmentQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name

    @classmethod
    def create_with_keys(
        cls, name: str, secret_key: str = "", webhook_signing_key: str = ""
    ) -> tuple["Environment", str, str]:
        """Create an environment; returns it with its secret and signing keys in clear."""
        secret_key = secret_key or str(uuid.uuid4())
        webhook_signing_key = webhook_signing_key or new_token()
        env = cls(name=name)
        env.set_secret_key(secret_key)
        env.webhook_signing_key = webhook_signing_key
        env.full_clean()
        env.save()
        return env, secret_key, webhook_signing_key

    def set_secret_key(self, key: str) -> None:
        _by_key.pop(self.secret_key_hash)
        self.secret_key_hash = hash_secret(key)
        self.secret_key_hint = key[-4:]

    def rotate_secret_key(self) -> str:
        key = str(uuid.uuid4())
        self.set_secret_key(key)
        self.save(update_fields=["secret_key_hash", "secret_key_hint"])
        return key

    def rotate_webhook_signing_key(self) -> str:
        self.webhook_signing_key = new_token()
        self.save(update_fields=["webhook_signing_key"])
        return self.webhook_signing_key


class EnvironmentVariable(models.Model):
    environment = models.ForeignKey(Environment, models.CASCADE, related_name="variables")
    name = models.CharField(max_length=255)
    value = EncryptedJSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["environment", "name"], name="unique_env_variable")
        ]

    def __str__(self) -> str:
        return self.name


class Integration(models.Model):
    environment = models.ForeignKey(Environment, models.CASCADE, related_name="integrations")
    unique_key = models.CharField(max_length=255, help_text="The Provider-Config-Key.")
    provider = models.CharField(max_length=64, choices=provider_choices)
    display_name = models.CharField(max_length=255, blank=True)
    oauth_client_id = models.CharField(max_length=255, blank=True)
    oauth_client_secret = EncryptedJSONField(blank=True, null=True)
    oauth_scopes = models.CharField(max_length=1024, blank=True)
    created = models.DateTimeField(default=now)
    updated = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "unique_key"], name="unique_integration_key"
            )
        ]

    def __str__(self) -> str:
        return self.unique_key

    @property
    def catalog(self) -> Provider:
        return get_provider(self.provider)

    def clean(self) -> None:
        try:
            get_provider(self.provider)
        except KeyError:
            raise ValidationError({"provider": f"unknown provider {self.provider!r}"})

    def to_api(self, include_credentials: bool = False) -> dict:
        data = {
            "unique_key": self.unique_key,
            "display_name": self.display_name or self.catalog.display_name,
            "provider": self.provider,
            "created_at": self.created.isoformat(),
            "updated_at": self.updated.isoformat(),
        }
        if include_credentials:
            data["credentials"] = (
                {
                    "type": self.catalog.auth_mode.value,
                    "client_id": self.oauth_client_id,
                    "client_secret": self.oauth_client_secret,
                    "scopes": self.oauth_scopes or None,
                }
                if self.oauth_client_id
                else None
            )
        return data


class ConnectionQuerySet(models.QuerySet):
    def in_env(self, env: Environment) -> "ConnectionQuerySet":
        return self.filter(integration__environment=env).select_related("integration")

    def lookup(self, env: Environment, provider_config_key: str, connection_id: str):
        return self.in_env(env).get(
            integration__unique_key=provider_config_key, connection_id=connection_id
        )

    def resolve(
        self,
        env: Environment,
        provider_config_key: str,
        connection_id: str,
        integration: Integration | None = None,
        credentials: bool = True,
    ) -> "Connection":
        """The connection the Provider-Config-Key and Connection-Id headers name, with its
        integration; else UnknownProvider or UnknownConnection, as Nango orders them.

        With the `integration` already known (the trigger found it with the action), the
        lookup is one prepared SELECT (every trigger makes it). Without `credentials`,
        the connection comes with its ids alone, nothing decrypted (a run queued for later
        loads the rest when it starts).
        """
        found = None
        if integration is not None:
            where = {"integration_id": integration.pk, "connection_id": connection_id}
            if credentials:
                found = sql.select_one(Connection, **where)
            elif (pk := sql.select_pk(Connection, **where)) is not None:
                found = Connection.from_db(
                    "default", ["id", "integration_id", "connection_id"], [pk, *where.values()]
                )
            if found is not None:
                found.integration = integration
        else:
            rows = self.in_env(env).filter(
                integration__unique_key=provider_config_key, connection_id=connection_id
            )
            found = (rows if credentials else rows.only("id", "integration")).first()
        if found is not None:
            return found
        if (
            integration is None
            and not Integration.objects.filter(
                environment=env, unique_key=provider_config_key
            ).exists()
        ):
            raise UnknownProvider()
        raise UnknownConnection()


class Connection(models.Model):
    integration = models.ForeignKey(Integration, models.CASCADE, related_name="connections")
    connection_id = models.CharField(max_length=255)
    credentials = EncryptedJSONField()
    credentials_expires_at = models.DateTimeField(null=True, blank=True)
    connection_config = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    webhook_url_override = models.URLField(
        blank=True, max_length=2048, validators=[validate_webhook_url]
    )
    created = models.DateTimeField(default=now)
    updated = models.DateTimeField(default=now)
    last_refresh_failure = models.CharField(max_length=500, blank=True)

    objects = ConnectionQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "connection_id"], name="unique_connection_id"
            )
        ]

    def __str__(self) -> str:
        return self.connection_id

    @property
    def provider(self) -> Provider:
        return self.integration.catalog

    def token_needs_refresh(self, margin: float | None = None) -> bool:
        if self.credentials.get("type") != "OAUTH2" or not self.credentials_expires_at:
            return False
        if margin is None:
            margin = settings.TOKEN_REFRESH_MARGIN_SECONDS
        return self.credentials_expires_at <= now() + timedelta(seconds=margin)

    def set_credentials(self, credentials: dict) -> None:
        self.credentials = credentials
        self.credentials_expires_at = expiry_of(credentials)

    def to_api(self, include_credentials: bool = False) -> dict:
        data = {
            "id": self.pk,
            "connection_id": self.connection_id,
            "provider_config_key": self.integration.unique_key,
            "provider": self.integration.provider,
            "errors": [],
            "metadata": self.metadata,
            "tags": self.tags,
            "created": self.created.isoformat(),
        }
        if include_credentials:
            data.update(
                connection_config=self.connection_config,
                created_at=self.created.isoformat(),
                updated_at=self.updated.isoformat(),
                last_fetched_at=now().isoformat(),
                credentials=self.public_credentials(),
            )
        return data

    def provider_call_parts(
        self, credentials: dict, base_url_override: str = ""
    ) -> tuple[str, dict, dict]:
        """The base URL (no trailing slash), auth headers and auth query parameters of a
        call to this connection's provider, as its catalog entry says. Raises
        TemplateError when the connection lacks a value the provider's templates need."""
        provider = self.provider
        config = self.connection_config or {}
        base = (
            base_url_override
            or settings.PROVIDER_BASE_URL_OVERRIDES.get(provider.name)
            or provider.resolve_base_url(config)
        ).rstrip("/")
        return (
            base,
            provider.auth_headers(credentials, config),
            provider.auth_query(credentials, config),
        )

    def retry_policy(self, retries: int, retry_on: Iterable[int] = ()) -> RetryPolicy:
        """How a call to the provider is retried: `retries` (0-10) more attempts on 429,
        5xx, network errors and `retry_on`, waiting as the provider's rate-limit headers
        say."""
        limits = self.provider.rate_limit
        return RetryPolicy(
            retries=max(0, min(int(retries or 0), 10)),
            retry_on=tuple(retry_on),
            error_codes=limits.error_codes,
            after_headers=limits.after,
            at_headers=limits.at,
            remaining_header=limits.remaining,
            backoff_base=settings.PROVIDER_BACKOFF_BASE_SECONDS,
            backoff_max=settings.PROVIDER_BACKOFF_MAX_SECONDS,
        )

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict | str | None = None,
        json: object = None,
        data: object = None,
        headers: dict | None = None,
        retries: int = 0,
        retry_on: Iterable[int] = (),
        base_url_override: str = "",
        deadline: float | None = None,
        stream: bool = False,
        recorder: Recorder | None = None,
        user_agent: str = "nangosite",
    ) -> requests.Response:
        """Call this connection's provider: the one way actions and the proxy reach it.

        Fresh credentials (an expiring OAuth2 token is refreshed first), the catalog's base
        URL, auth headers and auth query, the provider's retry policy, and the run's
        `deadline` over attempts and waits. Each attempt is recorded on `recorder`, which
        also learns the credentials' values so that nothing it records holds them.
        `endpoint` is a path (already URL-encoded) or a URL under the base URL; `params`
        a dict or a query string.

        Returns the provider's 2xx/3xx answer. Raises RefreshError, IncompleteConnection,
        or `http.HttpError` (its `response` set when the provider answered non-2xx).
        """
        credentials = fresh_credentials(self)
        if recorder is not None:
            recorder.secrets |= secrets_of(credentials)
        try:
            base, auth_headers, auth_query = self.provider_call_parts(
                credentials, base_url_override
            )
        except TemplateError as exc:
            raise IncompleteConnection(str(exc)) from None
        if endpoint.startswith(base):
            endpoint = endpoint[len(base) :]
        if endpoint and not endpoint.startswith("/"):
            endpoint = "/" + endpoint
        url = base + endpoint
        if isinstance(params, str):
            if params.lstrip("?"):
                url += ("&" if "?" in url else "?") + params.lstrip("?")
            params = None
        prepared = requests.models.PreparedRequest()
        prepared.prepare_url(url, {**(params or {}), **auth_query} or None)
        # The caller's own headers win over the provider's, as in Nango.
        request_headers = {"User-Agent": user_agent, **auth_headers, **(headers or {})}
        return http.send(
            http.Request(
                method,
                prepared.url,
                json=json,
                data=data,
                headers=request_headers,
                timeout=settings.PROVIDER_TIMEOUT_SECONDS,
                stream=stream,
            ),
            self.retry_policy(retries, retry_on),
            deadline=deadline,
            on_attempt=recorder.call if recorder is not None else None,
        )

    def public_credentials(self, include_refresh_token: bool = False) -> dict:
        creds = dict(self.credentials)
        if not include_refresh_token:
            creds.pop("refresh_token", None)
        return creds

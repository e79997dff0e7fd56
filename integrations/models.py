import uuid
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, URLValidator
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from integrations.credentials import expiry_of
from integrations.errors import (
    TooManyRequests,
    UnknownConnection,
    UnknownProvider,
)
from integrations.outbound import ProviderCalls
from integrations.providers import Provider, get_provider, provider_choices, render

# Deployed functions live in their own module; they are models of this app all the same.
from integrations.versions import Function, FunctionVersion, Via  # noqa: F401
from nangosite.fields import EncryptedJSONField
from nangosite.lib import metrics, sql, throttle
from nangosite.lib.cache import TTLCache
from nangosite.lib.crypto import hash_secret, new_token, same_secret

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


# Environments' names by id, as briefly: a run's log line and metrics name its environment,
# which the worker that ran it did not load.
_names = TTLCache("AUTH_CACHE_SECONDS")


class EnvironmentQuerySet(models.QuerySet):
    def name_of(self, pk: int) -> str:
        name = _names.get(pk)
        if name is None:
            name = self.filter(pk=pk).values_list("name", flat=True).first() or ""
            _names.set(pk, name)
        return name

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
        default=4,
        validators=[MinValueValidator(1)],
        help_text="Async runs of this environment that may run at once (at least 1).",
    )
    trigger_rate_limit = models.PositiveIntegerField(
        "triggers per second",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Triggers of the API (sync and async, MCP tool calls) a second, in bursts "
        "of as many; more are answered 429. Empty: no limit.",
    )
    max_queued_runs = models.PositiveIntegerField(
        "queued async runs at most",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Async triggers (and retries) past this many queued runs are answered 429. "
        "Empty: no limit.",
    )
    send_auth_creation_webhooks = models.BooleanField("connection created webhooks", default=True)
    # (Nango's on_auth_creation and on_auth_refresh_error; overrides are always announced.)
    send_auth_refresh_error_webhooks = models.BooleanField("refresh failed webhooks", default=True)

    objects = EnvironmentQuerySet.as_manager()

    class Meta:
        constraints = [
            # 0 would queue runs that never start.
            models.CheckConstraint(
                condition=Q(action_concurrency__gte=1), name="environment_concurrency_at_least_1"
            )
        ]

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

    def admit_trigger(self) -> None:
        """Count a trigger against `trigger_rate_limit` (shared by every web process
        through Redis when it is configured); TooManyRequests when over it."""
        verdict = throttle.take(f"trigger:{self.pk}", self.trigger_rate_limit)
        if not verdict.allowed:
            metrics.count_throttled(self.name, "rate")
            raise TooManyRequests(
                "rate",
                verdict.limit,
                verdict.retry_after,
                f"More than {verdict.limit} triggers a second in environment '{self.name}'; "
                f"retry in {verdict.retry_after:.2f} s.",
            )

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
    # The provider's OAuth2 endpoints, replaced (self-hosted GitLab, a sandbox, a fake).
    authorization_url = models.URLField("authorization URL override", blank=True, max_length=2048)
    token_url = models.URLField("token URL override", blank=True, max_length=2048)
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

    def oauth_url(self, which: str, connection_config: dict) -> str:
        # "authorization" | "token": the override, else the provider's (may raise TemplateError).
        template = getattr(self, f"{which}_url") or getattr(self.catalog, f"{which}_url")
        return render(template, {}, connection_config)

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
            "authorization_url": self.authorization_url or None,
            "token_url": self.token_url or None,
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


class Connection(ProviderCalls, models.Model):
    class Via(models.TextChoices):  # how its credentials came
        API, ADMIN = ("api", "imported (POST /connections)"), ("admin", "admin")
        OAUTH, API_KEY, BASIC = ("oauth", "OAuth2"), ("api_key", "API key"), ("basic", "basic")

    integration = models.ForeignKey(Integration, models.CASCADE, related_name="connections")
    connection_id = models.CharField(max_length=255)
    end_user = models.ForeignKey(
        "connect.EndUser", models.SET_NULL, null=True, blank=True, related_name="connections"
    )
    created_via = models.CharField(max_length=16, choices=Via.choices, default=Via.API)
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
    last_refreshed = models.DateTimeField(null=True, blank=True)
    # While refreshing fails: why (no secret) and since when; a success clears both.
    last_refresh_failure = models.CharField(max_length=500, blank=True)
    refresh_failed_at = models.DateTimeField(null=True, blank=True)
    refresh_lease = models.DateTimeField(null=True, editable=False)  # see credentials.py

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

    def set_credentials(self, credentials: dict) -> None:
        self.credentials = credentials
        self.credentials_expires_at = expiry_of(credentials)
        self.last_refresh_failure, self.refresh_failed_at = "", None  # new ones: not failing

    def to_api(self, include_credentials: bool = False) -> dict:
        data = {
            "id": self.pk,
            "connection_id": self.connection_id,
            "provider_config_key": self.integration.unique_key,
            "provider": self.integration.provider,
            "errors": [],
            "end_user": self.end_user.to_api() if self.end_user_id else None,
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

    def public_credentials(self, include_refresh_token: bool = False) -> dict:
        creds = dict(self.credentials)
        if not include_refresh_token:
            creds.pop("refresh_token", None)
        return creds

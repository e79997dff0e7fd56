from rest_framework import serializers

from integrations.credentials import credential_errors
from integrations.errors import DuplicateIntegration
from integrations.models import (
    CONNECTION_ID_PATTERN,
    KEY_PATTERN,
    Connection,
    Integration,
    validate_webhook_url,
)
from integrations.providers import PROVIDERS, get_provider
from nango.tree import classify
from nangosite.api import QuerySerializer


class StrictText:
    """JSON strings only: DRF's text fields take 0 as "0", where the API says string."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Text(StrictText, serializers.CharField):
    pass


class Pattern(StrictText, serializers.RegexField):
    pass


class Flag(serializers.BooleanField):
    """JSON true or false only (DRF's takes 0, 1, "yes"...)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class OAuthAppSerializer(serializers.Serializer):
    type = serializers.ChoiceField(["OAUTH2"])
    client_id = Text(max_length=255, trim_whitespace=False)
    client_secret = Text(max_length=1024, trim_whitespace=False)
    scopes = Text(
        max_length=1024, required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )


class IntegrationSerializer(serializers.Serializer):
    unique_key = Pattern(KEY_PATTERN, max_length=255, trim_whitespace=False)
    provider = serializers.ChoiceField(sorted(PROVIDERS))
    display_name = Text(max_length=255, required=False, allow_blank=True, trim_whitespace=False)
    credentials = OAuthAppSerializer(required=False, allow_null=True)
    forward_webhooks = Flag(required=False)
    # Ours: the provider's OAuth2 endpoints replaced ("" goes back to the provider's).
    authorization_url = serializers.URLField(max_length=2048, required=False, allow_blank=True)
    token_url = serializers.URLField(max_length=2048, required=False, allow_blank=True)

    def validate_unique_key(self, value: str) -> str:
        env = self.context["env"]
        taken = Integration.objects.filter(environment=env, unique_key=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise DuplicateIntegration()  # 409: the request is fine, the name is taken
        return value

    def save(self) -> Integration:
        data = self.validated_data
        integration = self.instance or Integration(environment=self.context["env"])
        for field in ("unique_key", "provider", "display_name", "authorization_url", "token_url"):
            if field in data:
                setattr(integration, field, data[field])
        if data.get("credentials"):
            integration.oauth_client_id = data["credentials"]["client_id"]
            integration.oauth_client_secret = data["credentials"]["client_secret"]
            integration.oauth_scopes = data["credentials"].get("scopes") or ""
        integration.save()
        return integration


class TagsField(serializers.DictField):
    child = Text(max_length=255, allow_blank=True, trim_whitespace=False)

    def to_internal_value(self, data):
        tags = super().to_internal_value(data)
        if len(tags) > 10:
            raise serializers.ValidationError("At most 10 tags.", code="too_many")
        return {k.lower(): v for k, v in tags.items()}


class ConnectionImportSerializer(serializers.Serializer):
    provider_config_key = Pattern(KEY_PATTERN, max_length=255, trim_whitespace=False)
    connection_id = Pattern(
        CONNECTION_ID_PATTERN, max_length=255, required=False, trim_whitespace=False
    )
    credentials = serializers.DictField()
    metadata = serializers.DictField(required=False)
    connection_config = serializers.DictField(required=False)
    tags = TagsField(required=False)

    def validate(self, data: dict) -> dict:
        integration = Integration.objects.filter(
            environment=self.context["env"], unique_key=data["provider_config_key"]
        ).first()
        if integration is None:
            raise serializers.ValidationError({"provider_config_key": ["Unknown integration."]})
        provider = get_provider(integration.provider)
        errors = credential_errors(data["credentials"], provider.auth_mode)
        if errors:
            raise serializers.ValidationError({"credentials": errors})
        config = data.get("connection_config") or {}
        missing = [k for k in provider.connection_config if not config.get(k)]
        if missing:
            raise serializers.ValidationError(
                {"connection_config": [f"{k} is required for {provider.name}" for k in missing]}
            )
        data["integration"] = integration
        return data

    def save(self) -> Connection:
        import uuid

        data = self.validated_data
        connection = Connection.objects.filter(
            integration=data["integration"], connection_id=data.get("connection_id")
        ).first() or Connection(
            integration=data["integration"],
            connection_id=data.get("connection_id") or str(uuid.uuid4()),
        )
        connection.set_credentials(data["credentials"])
        connection.created_via = Connection.Via.API
        for field in ("metadata", "connection_config", "tags"):
            if field in data:
                setattr(connection, field, data[field])
        connection.save()
        return connection


class ConnectionPatchSerializer(serializers.Serializer):
    tags = TagsField(required=False)
    webhook_url_override = serializers.URLField(
        required=False, allow_blank=True, max_length=2048, validators=[validate_webhook_url]
    )

    def save(self) -> Connection:
        connection = self.instance
        for field, value in self.validated_data.items():
            setattr(connection, field, value)
        connection.save()
        return connection


class ConnectionIdsField(serializers.Field):
    def to_internal_value(self, data) -> list[str]:
        ids = data if isinstance(data, list) else [data]
        if not ids or not all(isinstance(i, str) and i for i in ids):
            raise serializers.ValidationError("A connection id or a list of them.")
        return ids


class MetadataSerializer(serializers.Serializer):
    connection_id = ConnectionIdsField()
    provider_config_key = Pattern(KEY_PATTERN, max_length=255, trim_whitespace=False)
    metadata = serializers.DictField()


# Pages past this are refused: page x limit must stay an offset both databases take
# (SQLite's and PostgreSQL's integers are 64-bit).
MAX_PAGE = 1_000_000


class FunctionListQuery(QuerySerializer):
    type = serializers.ChoiceField(["action", "sync", "on-event"], required=False)
    search = serializers.CharField(
        required=False, max_length=255, allow_blank=True, trim_whitespace=False
    )
    page = serializers.IntegerField(required=False, min_value=0, max_value=MAX_PAGE, default=0)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)


class ConnectionQuery(QuerySerializer):
    """`GET/PATCH/DELETE /connections/<id>`'s query."""

    provider_config_key = serializers.RegexField(KEY_PATTERN, max_length=255, trim_whitespace=False)
    force_refresh = serializers.ChoiceField(["true", "false"], required=False, default="false")
    refresh_token = serializers.ChoiceField(["true", "false"], required=False, default="false")


class IntegrationQuery(QuerySerializer):
    include = serializers.ListField(child=serializers.ChoiceField(["credentials"]), required=False)


class ConnectionListQuery(QuerySerializer):
    # Blank is no filter, as it is left out.
    connectionId = serializers.CharField(
        required=False, max_length=255, allow_blank=True, trim_whitespace=False
    )
    endUserId = serializers.CharField(
        required=False, max_length=255, allow_blank=True, trim_whitespace=False
    )
    endUserOrganizationId = serializers.CharField(
        required=False, max_length=255, allow_blank=True, trim_whitespace=False
    )
    search = serializers.CharField(
        required=False, max_length=255, allow_blank=True, trim_whitespace=False
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)
    page = serializers.IntegerField(required=False, min_value=0, max_value=MAX_PAGE, default=0)


class SourceField(serializers.CharField):
    """A file's text: a JSON string, never a number DRF would turn into one."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("A source must be a string.", code="invalid")
        try:
            data.encode()
        except UnicodeEncodeError:
            raise serializers.ValidationError("A source must be UTF-8 text.", code="invalid")
        return super().to_internal_value(data)


class FunctionTreeSerializer(serializers.Serializer):
    """Function files a client posts: tree path (`functions/...`, see `nango/tree.py`) to
    source, as `nango.tree.read_tree()` reads them from a folder."""

    files = serializers.DictField(
        child=SourceField(allow_blank=True, trim_whitespace=False), allow_empty=False
    )
    # Optional: the environment the client means; refused unless it is the key's.
    environment = serializers.CharField(required=False, allow_blank=True, max_length=64)

    def validate_files(self, files: dict) -> dict:
        # As long as a version's filename and a function's name may be.
        bad = [
            path
            for path in files
            if classify(path) is None or len(path) > 512 or len(classify(path)[2]) > 255
        ]
        if bad:
            raise serializers.ValidationError(
                [
                    f"{path}: not an action file (functions/<integration>/actions/<name>.py) "
                    "or a helper module (functions/<integration>/lib/... or functions/lib/...)"
                    for path in bad[:20]
                ],
                code="invalid_path",
            )
        return files

    def validate_environment(self, value: str) -> str:
        env = self.context["env"]
        if value and value != env.name:
            raise serializers.ValidationError(
                f"This secret key belongs to environment {env.name!r}, not {value!r}.",
                code="environment_mismatch",
            )
        return value


class DeploySerializer(FunctionTreeSerializer):
    integration = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=255
    )
    action = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    prune = serializers.BooleanField(required=False, default=False)
    dry_run = serializers.BooleanField(required=False, default=False)
    commit = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    deployed_by = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=255
    )


class RollbackSerializer(serializers.Serializer):
    # A version number ("3" or "#3"), a declared version string, or none: the one before.
    version = serializers.CharField(required=False, allow_null=True, max_length=64)
    pin = serializers.BooleanField(required=False, default=True)
    by = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)


class DryRunSerializer(FunctionTreeSerializer):
    action = serializers.CharField(max_length=255)
    connection_id = serializers.CharField(max_length=255)
    integration = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=255
    )
    input = serializers.JSONField(required=False, allow_null=True, default=None)
    validation = serializers.BooleanField(required=False, default=False)
    save = serializers.BooleanField(required=False, default=False)

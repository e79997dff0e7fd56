"""The bodies of the connect endpoints, as strict as Nango's (an unknown key is an error)."""

from rest_framework import serializers

from integrations.models import Connection, Integration, validate_webhook_url
from integrations.serializers import TagsField, Text


class Strict(serializers.Serializer):
    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {key: ["Unknown field."] for key in unknown}, code="unrecognized_keys"
                )
        return super().to_internal_value(data)


class EndUserInput(Strict):
    id = Text(max_length=255)
    email = serializers.EmailField(max_length=255, required=False)
    display_name = Text(max_length=255, required=False)
    tags = TagsField(required=False)


class OrganizationInput(Strict):
    id = Text(max_length=255)
    display_name = Text(max_length=255, required=False)


class IntegrationDefaults(Strict):
    user_scopes = Text(max_length=1024, required=False, allow_blank=True)
    authorization_params = serializers.DictField(
        child=Text(max_length=1024, allow_blank=True), required=False
    )
    connection_config = serializers.DictField(required=False)

    def validate_connection_config(self, value: dict) -> dict:
        scopes = value.get("oauth_scopes_override")
        if scopes is not None and not isinstance(scopes, str):
            raise serializers.ValidationError("oauth_scopes_override must be a string.")
        return value


class OverrideInput(Strict):
    docs_connect = serializers.URLField(max_length=2048, required=False)


class SessionFields(Strict):
    end_user = EndUserInput(required=False)
    organization = OrganizationInput(required=False)
    integrations_config_defaults = serializers.DictField(
        child=IntegrationDefaults(), required=False
    )
    overrides = serializers.DictField(child=OverrideInput(), required=False)
    webhook_url_override = serializers.URLField(
        max_length=2048, required=False, allow_blank=True, validators=[validate_webhook_url]
    )
    tags = TagsField(required=False)

    def known_keys(self) -> set[str]:
        return set(
            Integration.objects.filter(environment=self.context["env"]).values_list(
                "unique_key", flat=True
            )
        )

    def check_keys(self, data: dict, known: set[str]) -> None:
        errors = {}
        for field in ("integrations_config_defaults", "overrides"):
            unknown = sorted(set(data.get(field) or {}) - known)
            if unknown:
                errors[field] = [f"Unknown integration: {key}" for key in unknown]
        if errors:
            raise serializers.ValidationError(errors)


class SessionInput(SessionFields):
    """`POST /connect/sessions`."""

    allowed_integrations = serializers.ListField(child=Text(max_length=255), required=False)

    def validate(self, data: dict) -> dict:
        if not data.get("end_user") and not data.get("tags"):
            raise serializers.ValidationError(
                {"end_user": ["end_user is required (or tags)."]}, code="required"
            )
        known = self.known_keys()
        unknown = [k for k in data.get("allowed_integrations") or [] if k not in known]
        if unknown:
            raise serializers.ValidationError(
                {"allowed_integrations": [f"Unknown integration: {key}" for key in unknown]}
            )
        self.check_keys(data, known)
        return data


class ReconnectInput(SessionFields):
    """`POST /connect/sessions/reconnect`: a session that overrides one connection."""

    connection_id = Text(max_length=255)
    integration_id = Text(max_length=255)

    def validate(self, data: dict) -> dict:
        connection = (
            Connection.objects.in_env(self.context["env"])
            .filter(
                connection_id=data["connection_id"],
                integration__unique_key=data["integration_id"],
            )
            .first()
        )
        if connection is None:
            raise serializers.ValidationError(
                {"connection_id": ["ConnectionID or IntegrationId does not exists"]}
            )
        self.check_keys(data, {data["integration_id"]})
        data["connection"] = connection
        data["allowed_integrations"] = [data["integration_id"]]
        return data


class ApiKeyInput(Strict):
    apiKey = Text(max_length=1024, trim_whitespace=False)


class BasicInput(Strict):
    username = Text(max_length=1024, allow_blank=True, trim_whitespace=False)
    password = Text(max_length=1024, allow_blank=True, trim_whitespace=False)

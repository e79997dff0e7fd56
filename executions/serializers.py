from rest_framework import serializers

from integrations.models import CONNECTION_ID_PATTERN, KEY_PATTERN

ACTION_NAME_PATTERN = r"^[a-zA-Z0-9_-]+$"


class BoolString(serializers.BooleanField):
    # Header values are strings; only the usual spellings count, anything else is an error.
    TRUE_VALUES = {"true", "True", "TRUE", "1"}
    FALSE_VALUES = {"false", "False", "FALSE", "0", ""}
    NULL_VALUES = set()


class TriggerHeaders(serializers.Serializer):
    connection_id = serializers.RegexField(CONNECTION_ID_PATTERN, max_length=255)
    provider_config_key = serializers.RegexField(KEY_PATTERN, max_length=255)
    x_async = BoolString(required=False, default=False)
    x_max_retries = serializers.IntegerField(required=False, default=0, min_value=0, max_value=5)
    idempotency_key = serializers.CharField(required=False, max_length=255, allow_blank=False)

    @classmethod
    def from_request(cls, request) -> "TriggerHeaders":
        names = {
            "HTTP_CONNECTION_ID": "connection_id",
            "HTTP_PROVIDER_CONFIG_KEY": "provider_config_key",
            "HTTP_X_ASYNC": "x_async",
            "HTTP_X_MAX_RETRIES": "x_max_retries",
            "HTTP_IDEMPOTENCY_KEY": "idempotency_key",
        }
        meta = request.META
        return cls(data={field: meta[key] for key, field in names.items() if key in meta})


class StrictRegexField(serializers.RegexField):
    """A RegexField that refuses numbers and booleans instead of turning them into text."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class TriggerBody(serializers.Serializer):
    action_name = StrictRegexField(ACTION_NAME_PATTERN, max_length=255)
    input = serializers.JSONField(required=False, allow_null=True)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["The body must be a JSON object."]}
            )
        return super().to_internal_value(data)


class ResultQuery(serializers.Serializer):
    wait = serializers.FloatField(required=False, default=0, min_value=0, max_value=30)

from django.http import HttpResponse
from rest_framework.decorators import api_view

from executions.models import Execution
from executions.serializers import TriggerBody, TriggerHeaders
from executions.tasks import run_sync
from integrations.models import Connection, FunctionVersion, Integration
from nangosite.api import ApiError, invalid, raw_json


def resolve_action(env, provider_config_key: str, connection_id: str, action_name: str):
    """The connection and active action version a trigger names, or the documented error."""
    try:
        connection = Connection.objects.lookup(env, provider_config_key, connection_id)
    except Connection.DoesNotExist:
        if not Integration.objects.filter(environment=env, unique_key=provider_config_key).exists():
            raise ApiError(400, "unknown_provider", "Failed to find provider") from None
        raise ApiError(400, "unknown_connection", "Failed to find connection") from None
    try:
        version = FunctionVersion.objects.active_action(connection.integration, action_name)
    except FunctionVersion.DoesNotExist:
        raise ApiError(404, "not_found", "Action not found") from None
    if not version.function.enabled:
        raise ApiError(404, "disabled_resource", "The action is disabled")
    return connection, version


@api_view(["POST"])
def trigger_action(request) -> HttpResponse:
    headers = TriggerHeaders.from_request(request)
    if not headers.is_valid():
        raise invalid("invalid_headers", headers.errors)
    body = TriggerBody(data=request.data)
    if not body.is_valid():
        raise invalid("invalid_body", body.errors)
    h, b = headers.validated_data, body.validated_data
    if h["x_async"]:
        raise ApiError(
            501,
            "async_not_supported",
            "Asynchronous triggers (X-Async: true) are not available in this version; "
            "trigger synchronously.",
        )
    if request.query_params:
        raise invalid("invalid_query_params", {"query": ["The query string must be empty."]})
    connection, version = resolve_action(
        request.auth, h["provider_config_key"], h["connection_id"], b["action_name"]
    )
    execution = Execution.start_sync(connection, version, b.get("input"))
    run_sync(execution, version, connection)
    status, data = execution.response()
    return raw_json(data, status, headers={"X-Execution-Id": str(execution.code)})

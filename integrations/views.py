from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils.timezone import now
from rest_framework.decorators import api_view
from rest_framework.response import Response

from integrations import serializers as s
from integrations.credentials import RefreshError, fresh_credentials
from integrations.deploy import Provenance, deploy, report
from integrations.functions import Tree
from integrations.models import Connection, Function, FunctionVersion, Integration, Via
from nangosite.api import ApiError, invalid, valid


def _integration(request, key: str) -> Integration:
    return get_object_or_404(Integration, environment=request.auth, unique_key=key)


def _connection(request, connection_id: str) -> tuple[Connection, dict]:
    """The connection the path and `?provider_config_key=` name, and the query read."""
    query = valid(s.ConnectionQuery(data=request.query_params), "invalid_query_params")
    try:
        found = Connection.objects.lookup(request.auth, query["provider_config_key"], connection_id)
        return found, query
    except Connection.DoesNotExist:
        raise ApiError(404, "not_found", "Connection not found") from None


@api_view(["GET", "POST"])
def integrations(request) -> Response:
    if request.method == "POST":
        serializer = s.IntegrationSerializer(data=request.data, context={"env": request.auth})
        valid(serializer)
        return Response({"data": serializer.save().to_api()})
    rows = Integration.objects.filter(environment=request.auth).order_by("unique_key")
    return Response({"data": [i.to_api() for i in rows]})


@api_view(["GET", "PATCH", "DELETE"])
def integration(request, key: str) -> Response:
    obj = _integration(request, key)
    if request.method == "DELETE":
        obj.delete()
        return Response({"success": True})
    if request.method == "PATCH":
        serializer = s.IntegrationSerializer(
            obj, data=request.data, partial=True, context={"env": request.auth}
        )
        valid(serializer)
        if "provider" in serializer.validated_data:
            raise invalid("invalid_body", {"provider": ["The provider cannot be changed."]})
        return Response({"data": serializer.save().to_api()})
    include = request.query_params.getlist("include") + request.query_params.getlist("include[]")
    valid(s.IntegrationQuery(data={"include": include}), "invalid_query_params")
    return Response({"data": obj.to_api(include_credentials="credentials" in include)})


def _active_versions(integration: Integration):
    return (
        FunctionVersion.objects.filter(function__integration=integration, active=True)
        .select_related("function__integration")
        .defer("modules")
    )


@api_view(["GET"])
def functions(request, key: str) -> Response:
    integration = _integration(request, key)
    query = valid(s.FunctionListQuery(data=request.query_params), "invalid_query_params")
    rows = _active_versions(integration).order_by("function__name")
    if query.get("type"):
        rows = rows.filter(function__type=query["type"])
    if query.get("search"):
        rows = rows.filter(function__name__icontains=query["search"])
    page, limit = query["page"], query["limit"]
    total = rows.count()
    data = [v.to_api() for v in rows[page * limit : (page + 1) * limit]]
    return Response({"data": data, "pagination": {"total": total, "page": page, "limit": limit}})


@api_view(["GET"])
def function(request, key: str, name: str) -> Response:
    version = get_object_or_404(_active_versions(_integration(request, key)), function__name=name)
    return Response({"data": version.to_api()})


@api_view(["GET"])
def function_code(request, key: str, name: str) -> Response:
    version = get_object_or_404(_active_versions(_integration(request, key)), function__name=name)
    return Response({"type": version.function.type, "code": version.source})


def via(request) -> str:
    """What is deploying: the `nango` CLI says so in its User-Agent; else an API client."""
    agent = request.META.get("HTTP_USER_AGENT", "")
    return Via.CLI if agent.startswith("nango-cli/") else Via.API


@api_view(["POST"])
def deploy_functions(request) -> Response:
    """`POST /functions/deploy`: what `manage.py deploy` does, with the files posted."""
    data = valid(s.DeploySerializer(data=request.data, context={"env": request.auth}))
    changes = deploy(
        request.auth,
        Tree(data["files"]),
        integration=data["integration"],
        action=data["action"],
        prune=data["prune"],
        dry_run=data["dry_run"],
        provenance=Provenance(via(request), data["deployed_by"], data["commit"]),
    )
    return Response(report(request.auth, changes, data["dry_run"]))


def _function(request, key: str, name: str) -> Function:
    found = (
        Function.objects.select_related("integration")
        .filter(integration__environment=request.auth, integration__unique_key=key, name=name)
        .first()
    )
    if found is None:
        raise ApiError(404, "not_found", f"No action {name!r} in integration {key!r}")
    return found


@api_view(["GET"])
def function_versions(request, key: str, name: str) -> Response:
    return Response(_function(request, key, name).history_api())


@api_view(["POST"])
def function_rollback(request, key: str, name: str) -> Response:
    data = valid(s.RollbackSerializer(data=request.data))
    function = _function(request, key, name)
    function.roll_back(data.get("version"), pin=data["pin"], via=via(request), by=data["by"])
    return Response(function.history_api())


@api_view(["POST"])
def function_unpin(request, key: str, name: str) -> Response:
    function = _function(request, key, name)
    function.unpin()
    return Response(function.history_api())


@api_view(["GET", "POST"])
def connections(request) -> Response:
    if request.method == "POST":
        serializer = s.ConnectionImportSerializer(data=request.data, context={"env": request.auth})
        valid(serializer)
        return Response(serializer.save().to_api(include_credentials=True))
    query = valid(s.ConnectionListQuery(data=request.query_params), "invalid_query_params")
    rows = Connection.objects.in_env(request.auth).select_related("end_user")
    rows = rows.order_by("-created", "-pk")
    if query.get("connectionId"):
        rows = rows.filter(connection_id=query["connectionId"])
    if query.get("endUserId"):
        rows = rows.filter(end_user__end_user_id=query["endUserId"])
    if query.get("endUserOrganizationId"):
        rows = rows.filter(end_user__organization_id=query["endUserOrganizationId"])
    if query.get("search"):
        # As Nango: part of the connection id, or of the end user's id, email or name.
        term = query["search"]
        rows = rows.filter(
            Q(connection_id__icontains=term)
            | Q(end_user__end_user_id__icontains=term)
            | Q(end_user__email__icontains=term)
            | Q(end_user__display_name__icontains=term)
        )
    for name, value in request.query_params.items():
        if name.startswith("tags[") and name.endswith("]"):
            rows = rows.filter(**{f"tags__{name[5:-1].lower()}": value})
    page, limit = query["page"], query["limit"]
    return Response({"connections": [c.to_api() for c in rows[page * limit : (page + 1) * limit]]})


@api_view(["GET", "PATCH", "DELETE"])
def connection(request, connection_id: str) -> Response:
    obj, query = _connection(request, connection_id)
    if request.method == "DELETE":
        obj.delete()
        return Response({"success": True})
    if request.method == "PATCH":
        serializer = s.ConnectionPatchSerializer(obj, data=request.data)
        valid(serializer)
        serializer.save()
        return Response({"success": True})
    try:
        fresh_credentials(obj, force=query["force_refresh"] == "true")
    except RefreshError as exc:
        raise ApiError(424, "refresh_failed", str(exc)) from None
    data = obj.to_api(include_credentials=True)
    if query["refresh_token"] == "true":
        data["credentials"] = obj.public_credentials(include_refresh_token=True)
    return Response(data)


@api_view(["POST", "PATCH"])
def connections_metadata(request) -> Response:
    data = valid(s.MetadataSerializer(data=request.data))
    ids = data["connection_id"]
    with transaction.atomic():
        rows = list(
            Connection.objects.in_env(request.auth)
            .select_for_update(of=("self",))
            .filter(integration__unique_key=data["provider_config_key"], connection_id__in=ids)
        )
        found = {c.connection_id for c in rows}
        missing = [i for i in ids if i not in found]
        if missing:
            # All or nothing, as Nango documents for lists of ids.
            raise ApiError(
                404, "unknown_connection", f"Unknown connection(s): {', '.join(missing)}"
            )
        for row in rows:
            if request.method == "POST":
                row.metadata = data["metadata"]
            else:
                row.metadata = {**(row.metadata or {}), **data["metadata"]}
            row.updated = now()
            row.save(update_fields=["metadata", "updated"])
    echo = {**request.data}
    return Response(echo, status=201 if request.method == "POST" else 200)


@api_view(["GET"])
def environment_variables(request) -> Response:
    rows = request.auth.variables.order_by("name")
    return Response([{"name": v.name, "value": v.value} for v in rows])

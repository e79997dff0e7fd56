"""The trigger and result endpoints: parse, one model call, answer."""

import re
import uuid

from django.http import HttpResponse
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from executions import trigger_request
from executions.dryrun import dry_run
from executions.models import Execution
from integrations.auth import lean_post_view
from integrations.functions import Tree
from integrations.serializers import DryRunSerializer
from nangosite.api import ApiError, QuerySerializer, invalid, raw_json, read_json


def accepted(execution: Execution) -> HttpResponse:
    body = {"id": str(execution.code), "statusUrl": execution.status_url}
    headers = {"Location": execution.status_url, "X-Execution-Id": str(execution.code)}
    return raw_json(body, 202, headers=headers)


def answer(execution: Execution) -> HttpResponse:
    status, data = execution.response()
    return raw_json(data, status, headers={"X-Execution-Id": str(execution.code)})


def triggered(execution: Execution) -> HttpResponse:
    return accepted(execution) if execution.is_async else answer(execution)


@lean_post_view
def trigger_action(request, env) -> HttpResponse:
    asked = trigger_request.from_trigger(request.META, request.GET, read_json(request))
    return triggered(Execution.objects.trigger(env, asked))


@lean_post_view
def trigger_named(request, env, key: str, name: str) -> HttpResponse:
    """`POST /actions/<integration>/<action>`: a trigger whose action is in the path and
    whose input is the whole body (an empty body is `null`).

    It gives every deployed action a path of its own, so the OpenAPI document can describe
    each one with its input and output schemas and OpenAPI tooling can call it. Everything
    else is `POST /action/trigger`: the same headers (Provider-Config-Key comes from the
    path), the same answers, the same execution records.
    """
    asked = trigger_request.from_action_path(
        request.META, request.GET, key, name, lambda: read_json(request)
    )
    return triggered(Execution.objects.trigger(env, asked))


# An execution's id as its URLs write it (8-4-4-4-12 hex digits), and nothing looser.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
UUID = re.compile(UUID_PATTERN)


class ResultQuery(QuerySerializer):
    wait = serializers.FloatField(required=False, default=0, min_value=0, max_value=30)


def _execution(request, id: str) -> Execution:
    if not UUID.fullmatch(id):
        raise ApiError(400, "invalid_uri_params", "The id must be a UUID.")
    code = uuid.UUID(id)
    execution = Execution.objects.in_env(request.auth).filter(code=code).first()
    if execution is None:
        raise ApiError(404, "not_found", f"No action '{id}' found")
    return execution


@api_view(["GET"])
def action_result(request, id: str) -> HttpResponse:
    query = ResultQuery(data=request.query_params)
    if not query.is_valid():
        raise invalid("invalid_query_params", query.errors)
    execution = _execution(request, id).wait(query.validated_data["wait"])
    if not execution.is_terminal:
        # Nango's contract: 404 until there is a result; the code tells pending apart.
        raise ApiError(404, "pending", f"Action '{id}' is {execution.status}; try again later")
    return answer(execution)


@api_view(["GET"])
def execution_detail(request, id: str) -> Response:
    return Response(_execution(request, id).to_api())


@api_view(["POST"])
def execution_cancel(request, id: str) -> Response:
    execution = _execution(request, id)
    if not execution.cancel():
        raise ApiError(409, "already_finished", f"The execution is already {execution.status}.")
    return Response(execution.to_api(), status=200 if execution.is_terminal else 202)


@api_view(["POST"])
def dryrun(request) -> Response:
    """`POST /functions/dryrun`: run an action of the posted files against a connection,
    with its credentials (which stay here), storing nothing; with `save`, the answer
    carries the fixture for the client to write."""
    body = DryRunSerializer(data=request.data, context={"env": request.auth})
    if not body.is_valid():
        raise invalid("invalid_body", body.errors)
    data = body.validated_data
    run = dry_run(
        request.auth,
        Tree(data["files"]),
        data["action"],
        data["connection_id"],
        data["input"],
        integration=data["integration"],
        validate=data["validation"],
        save=data["save"],
    )
    return Response(run.to_api())

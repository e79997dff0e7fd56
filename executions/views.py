import hashlib
import json
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError
from django.http import HttpResponse
from django.utils.timezone import now
from rest_framework.decorators import api_view
from rest_framework.response import Response

from executions import errors
from executions.models import Execution
from executions.queue import needs_wake
from executions.runner import input_errors
from executions.serializers import ResultQuery, trigger_body, trigger_headers
from executions.tasks import run_attempt, wake
from integrations.auth import lean_post_view
from integrations.models import Connection, FunctionVersion, Integration
from nangosite.api import ApiError, invalid, raw_json
from nangosite.lib import sql

POLL_SECONDS = 0.05


def resolve_action(
    env, provider_config_key: str, connection_id: str, action_name: str, to_run: bool = True
):
    """The connection and active action version a trigger names, or the documented error.

    Not `to_run` (a run queued for later, which loads its connection then), the connection
    comes with its id alone, its other fields deferred: no credentials decrypted.
    """
    version = FunctionVersion.objects.live(env.pk, provider_config_key, action_name)
    if version is not None:
        integration = version.function.integration
        # Every trigger looks its connection up: a prepared SELECT.
        where = {"integration_id": integration.pk, "connection_id": connection_id}
        if to_run:
            connection = sql.select_one(Connection, **where)
        else:
            pk = sql.select_pk(Connection, **where)
            connection = pk and Connection.from_db(
                "default", ["id", "integration_id", "connection_id"], [pk, *where.values()]
            )
        if connection is None:
            raise ApiError(400, "unknown_connection", "Failed to find connection")
        connection.integration = integration
        if not version.function.enabled:
            raise ApiError(404, "disabled_resource", "The action is disabled")
        return connection, version
    # No such action: find out which error comes first, as Nango orders them.
    if not Integration.objects.filter(environment=env, unique_key=provider_config_key).exists():
        raise ApiError(400, "unknown_provider", "Failed to find provider")
    if not Connection.objects.filter(
        integration__environment=env,
        integration__unique_key=provider_config_key,
        connection_id=connection_id,
    ).exists():
        raise ApiError(400, "unknown_connection", "Failed to find connection")
    raise ApiError(404, "not_found", "Action not found")


def request_hash(h: dict, b: dict) -> str:
    what = [h["provider_config_key"], h["connection_id"], b["action_name"], b.get("input")]
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def earlier_execution(env, key: str, digest: str) -> Execution | None:
    """The execution an Idempotency-Key already names, if it is younger than the TTL."""
    found = Execution.objects.in_env(env).filter(idempotency_key=key).first()
    if found is None:
        return None
    if found.created < now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS):
        # Expired: free the key for this new request.
        Execution.objects.filter(pk=found.pk).update(idempotency_key="")
        return None
    if found.request_hash != digest:
        raise ApiError(
            409,
            "idempotency_key_conflict",
            "This Idempotency-Key was used with a different request.",
        )
    return found


def wait_for_end(execution: Execution, seconds: float) -> Execution:
    deadline = time.monotonic() + seconds
    while not execution.is_terminal and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        execution.refresh_from_db()
    return execution


def accepted(execution: Execution) -> HttpResponse:
    body = {"id": str(execution.code), "statusUrl": execution.status_url}
    return raw_json(body, 202, headers={"Location": execution.status_url})


def answer(execution: Execution) -> HttpResponse:
    status, data = execution.response()
    return raw_json(data, status, headers={"X-Execution-Id": str(execution.code)})


@lean_post_view
def trigger_action(request, env, data) -> HttpResponse:
    h, problems = trigger_headers(request.META)
    if problems:
        raise invalid("invalid_headers", problems)
    b, problems = trigger_body(data)
    if problems:
        raise invalid("invalid_body", problems)
    if request.GET:
        raise invalid("invalid_query_params", {"query": ["The query string must be empty."]})
    return trigger(env, h, b)


def trigger(env, h: dict, b: dict) -> HttpResponse:
    """Run or queue the action of valid trigger headers and body (also `POST /actions/…`)."""
    connection, version = resolve_action(
        env, h["provider_config_key"], h["connection_id"], b["action_name"], not h["x_async"]
    )
    if h["x_async"]:
        # A queued run would only find this out later; refuse it now, as a sync run does.
        problems = input_errors(version, b.get("input"))
        if problems:
            raise ApiError(400, **errors.invalid_input(problems).body()["error"])
    key, digest = h["idempotency_key"], ""
    execution = None
    if key:
        digest = request_hash(h, b)
        execution = earlier_execution(env, key, digest)
    if execution is None:
        try:
            # One INSERT in autocommit mode: atomic on its own, and a unique-key clash
            # leaves no broken transaction behind.
            execution = Execution.create_for(
                connection,
                version,
                b.get("input"),
                is_async=h["x_async"],
                max_retries=h["x_max_retries"],
                idempotency_key=key,
                request_hash=digest,
            )
        except IntegrityError:
            if not key:
                raise  # not a key clash (e.g. the connection was deleted meanwhile)
            # A concurrent request with the same key won the race: answer as its replay.
            execution = earlier_execution(env, key, digest)
            if execution is None:
                raise
        else:
            if execution.is_async:
                if needs_wake(execution, env.action_concurrency):
                    wake(execution.environment_id)
                return accepted(execution)
            run_attempt(execution)
            return answer(execution)
    # A replay: the first execution's id, or its stored result.
    if execution.is_async:
        return accepted(execution)
    first = execution.function_version or version
    execution = wait_for_end(execution, first.effective_timeout() + 5)
    if not execution.is_terminal:
        raise ApiError(
            409,
            "idempotency_key_in_progress",
            "The first request with this Idempotency-Key is still running; retry later.",
        )
    return answer(execution)


def _execution(request, id: str) -> Execution:
    try:
        code = uuid.UUID(id)
    except ValueError:
        raise ApiError(400, "invalid_uri_params", "The id must be a UUID.") from None
    execution = Execution.objects.in_env(request.auth).filter(code=code).first()
    if execution is None:
        raise ApiError(404, "not_found", f"No action '{id}' found")
    return execution


@api_view(["GET"])
def action_result(request, id: str) -> HttpResponse:
    query = ResultQuery(data=request.query_params)
    if not query.is_valid():
        raise invalid("invalid_query_params", query.errors)
    execution = wait_for_end(_execution(request, id), query.validated_data["wait"])
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

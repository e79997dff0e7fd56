"""The essential work of a sync trigger, minimal and honest: read the Connection-Id and
Provider-Config-Key headers, one ORM lookup, JSON Schema validation of input and output
(validators compiled once), one provider GET through a per-thread requests.Session with
the bearer token, one INSERT of the run's record, a JSON answer. `enqueue` is the async
counterpart: the record, then a django-q2 task (tasks.py) that marks it done."""

import threading

import requests
from django.conf import settings
from django.utils.timezone import now
from django_q.tasks import async_task
from jsonschema import Draft7Validator
from rest_framework.decorators import api_view
from rest_framework.response import Response

from refsite.models import Connection, Run

INPUT = Draft7Validator({"type": "null"})
OUTPUT = Draft7Validator(
    {
        "type": "object",
        "properties": {"login": {"type": "string"}, "id": {"type": "integer"}},
        "required": ["login", "id"],
    }
)
_local = threading.local()


def session() -> requests.Session:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
        _local.session.trust_env = False
    return _local.session


def _connection(request) -> Connection | None:
    return Connection.objects.filter(
        provider_config_key=request.headers.get("Provider-Config-Key", ""),
        connection_id=request.headers.get("Connection-Id", ""),
    ).first()


@api_view(["POST"])
def trigger(request) -> Response:
    connection = _connection(request)
    if connection is None:
        return Response({"error": "unknown connection"}, status=400)
    payload = request.data.get("input")
    if errors := [e.message for e in INPUT.iter_errors(payload)]:
        return Response({"error": "invalid input", "errors": errors}, status=400)
    r = session().get(
        settings.PROVIDER_URL + "/user",
        headers={"Authorization": f"Bearer {connection.access_token}"},
        timeout=30,
    )
    if r.status_code != 200:
        return Response({"error": "provider error", "status": r.status_code}, status=424)
    user = r.json()
    output = {"login": user["login"], "id": user["id"]}
    if errors := [e.message for e in OUTPUT.iter_errors(output)]:
        return Response({"error": "invalid output", "errors": errors}, status=500)
    Run.objects.create(
        connection=connection,
        action=request.data.get("action_name", ""),
        input=payload,
        output=output,
        finished=now(),
    )
    return Response(output)


@api_view(["POST"])
def enqueue(request) -> Response:
    connection = _connection(request)
    if connection is None:
        return Response({"error": "unknown connection"}, status=400)
    run = Run.objects.create(connection=connection, action=request.data.get("action_name", ""))
    async_task("refsite.tasks.finish", run.pk)
    return Response({"id": run.pk}, status=202)

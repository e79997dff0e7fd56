"""Endpoints for the machines that run the platform: `/health` (the process is up; no
I/O), `/ready` (the database and the broker answer, every migration is applied) and
`/metrics` (Prometheus), none of them behind an environment's key.

They are answered by `ProbesMiddleware`, first in the chain: load balancers, orchestrators
and Prometheus address a process by its IP, a Host that ALLOWED_HOSTS rightly refuses for
the API, and must not be redirected to HTTPS by SECURE_SSL_REDIRECT either.
"""

import hmac
import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse
from django.utils.timezone import now

from nangosite.api import json_404, method_not_allowed, raw_json
from nangosite.lib import metrics, store

log = logging.getLogger(__name__)

# Set once every migration is applied: a process's code never gains migrations while it
# runs, so later checks skip the migration graph (tens of milliseconds to load).
_migrated = False


def health(request: HttpRequest) -> HttpResponse:
    return raw_json({"status": "ok"}, headers={"Cache-Control": "no-store"})


def _database() -> str:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        # The class only: a driver's message may name the host, user or database.
        return f"unreachable ({type(exc).__name__})"
    return "ok"


def _broker(database: str) -> str:
    client = store.client()
    if client is None:
        return database if database == "ok" else "unreachable (the ORM broker is the database)"
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"unreachable ({type(exc).__name__})"
    return "ok"


def _migrations(database: str) -> str:
    global _migrated
    if _migrated:
        return "ok"
    if database != "ok":
        return "not checked (database unreachable)"
    try:
        executor = MigrationExecutor(connections["default"])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        return f"not checked ({type(exc).__name__})"
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:5])
        return f"{len(plan)} not applied ({names}{', …' if len(plan) > 5 else ''})"
    _migrated = True
    return "ok"


def ready(request: HttpRequest) -> HttpResponse:
    database = _database()
    checks = {
        "database": database,
        "broker": _broker(database),
        "migrations": _migrations(database),
    }
    headers = {"Cache-Control": "no-store"}
    failed = [f"{name} {state}" for name, state in checks.items() if state != "ok"]
    if not failed:
        return raw_json({"status": "ok", "checks": checks}, headers=headers)
    log.warning("not ready: %s", "; ".join(failed))
    message = "Not ready: " + "; ".join(failed) + "."
    body = {
        "status": "unavailable",
        "checks": checks,
        "error": {"code": "not_ready", "message": message},
    }
    return raw_json(body, 503, headers=headers)


def metrics_page(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format, for `Authorization: Bearer <METRICS_TOKEN>`; off (404)
    while no token is set."""
    from executions.queue import depth_by_environment  # models: not at import time
    from integrations.models import Environment

    token = settings.METRICS_TOKEN
    if not token:
        return json_404(request)
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        body = {"error": {"code": "unauthorized", "message": "Send the METRICS_TOKEN."}}
        return raw_json(body, 401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    moment = now()
    names = dict(Environment.objects.values_list("pk", "name"))
    state = depth_by_environment()
    empty = {"queued": 0, "running": 0, "oldest": None}
    rows = {name: state.get(pk, empty) for pk, name in names.items()}
    gauges = [
        (
            "nangosite_queue_depth",
            "Async runs queued now",
            {env: row["queued"] for env, row in rows.items()},
        ),
        (
            "nangosite_queue_oldest_age_seconds",
            "How long the oldest queued run has waited (0 when none is queued)",
            {
                env: (moment - row["oldest"]).total_seconds() if row["oldest"] else 0.0
                for env, row in rows.items()
            },
        ),
        (
            "nangosite_runs_in_progress",
            "Runs running now (sync and async)",
            {env: row["running"] for env, row in rows.items()},
        ),
    ]
    body, content_type = metrics.exposition(gauges)
    return HttpResponse(body, content_type=content_type, headers={"Cache-Control": "no-store"})


PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/health": health,
    "/ready": ready,
    "/metrics": metrics_page,
}


class ProbesMiddleware:
    """Answers PROBES' paths before any other middleware; one dict lookup for the rest."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = PROBES.get(request.path_info)
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed("GET, HEAD")
        return view(request)

"""Endpoints for the machines that run the platform: `/health` (the process is up; no
I/O), `/ready` (the database and the broker answer, every migration is applied) and
`/metrics` (Prometheus), none of them behind an environment's key.

They are answered by `ProbesMiddleware`, first in the chain: load balancers, orchestrators
and Prometheus address a process by its IP, a Host that ALLOWED_HOSTS rightly refuses for
the API, and must not be redirected to HTTPS by SECURE_SSL_REDIRECT either.
"""

import logging
from collections.abc import Callable

import redis
from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse

from nangosite.api import raw_json
from nangosite.lib import store

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


PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/health": health,
    "/ready": ready,
}


def not_allowed(request: HttpRequest) -> HttpResponse:
    body = {"error": {"code": "method_not_allowed", "message": "Method not allowed."}}
    return raw_json(body, 405, headers={"Allow": "GET, HEAD"})


class ProbesMiddleware:
    """Answers PROBES' paths before any other middleware; one dict lookup for the rest."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = PROBES.get(request.path_info)
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return not_allowed(request)
        return view(request)

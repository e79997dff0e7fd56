"""/health and /ready, without a key, ahead of the Host check; the database-down case runs
against a real process in tests/e2e/test_e2e_ops.py."""

import re

import pytest
from django.core.management import call_command

from nangosite import ops


def test_health_answers_without_a_key_and_without_the_database(
    client, db, django_assert_num_queries
):
    with django_assert_num_queries(0):
        r = client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r["Cache-Control"] == "no-store"


def test_probes_answer_a_host_that_allowed_hosts_refuses(client, settings, db):
    settings.ALLOWED_HOSTS = ["api.example.com"]
    assert client.get("/health", HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.get("/ready", HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.get("/integrations", HTTP_HOST="10.0.0.7:8000").status_code == 400


def test_ready_checks_the_database_the_broker_and_migrations(client, db):
    r = client.get("/ready")
    assert r.status_code == 200, r.content
    assert r.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "migrations": "ok"},
    }


def test_probes_take_only_get_and_head(client, db):
    r = client.post("/ready")
    assert r.status_code == 405 and r["Allow"] == "GET, HEAD"
    assert r.json()["error"]["code"] == "method_not_allowed"
    assert client.head("/health").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_ready_is_503_naming_the_migrations_not_applied(client, monkeypatch):
    monkeypatch.setattr(ops, "_migrated", False)
    call_command("migrate", "webhooks", "0001", verbosity=0)
    try:
        r = client.get("/ready")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"] == "ok"
        # The webhooks migration and those that depend on it, named.
        state = body["checks"]["migrations"]
        assert re.fullmatch(r"\d+ not applied \(webhooks\.0002_sweep_schedule, .*\)", state)
        assert body["error"] == {"code": "not_ready", "message": f"Not ready: migrations {state}."}
    finally:
        call_command("migrate", verbosity=0)
    assert client.get("/ready").status_code == 200

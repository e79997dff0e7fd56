"""The prepared single-row statements read and write exactly what the ORM would."""

import uuid
from datetime import datetime

import pytest
from django.utils.timezone import now

from conftest import make_connection, make_env, make_integration
from executions.models import Execution
from integrations.models import Connection
from nangosite.lib import sql

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection():
    github = make_integration(make_env())
    return make_connection(
        github, "alice", metadata={"team": "core"}, credentials={"access_token": "gho_x"}
    )


def test_select_one_converts_every_column_as_the_orm_does(connection):
    found = sql.select_one(
        Connection, integration_id=connection.integration_id, connection_id="alice"
    )
    orm = Connection.objects.get(pk=connection.pk)
    assert found.pk == orm.pk
    assert found.credentials == orm.credentials == {"access_token": "gho_x"}  # decrypted
    assert found.metadata == {"team": "core"}
    assert isinstance(found.created, datetime) and found.created == orm.created
    assert found.created.tzinfo is not None
    assert not found._state.adding


def test_select_one_and_select_pk_find_nothing_as_none(connection):
    where = {"integration_id": connection.integration_id, "connection_id": "nobody"}
    assert sql.select_one(Connection, **where) is None
    assert sql.select_pk(Connection, **where) is None
    where["connection_id"] = "alice"
    assert sql.select_pk(Connection, **where) == connection.pk


def test_insert_and_guarded_update_store_what_the_orm_reads_back(connection):
    env_id = connection.integration.environment_id
    values = {
        "code": uuid.uuid4(),
        "created": now(),
        "is_async": False,
        "max_retries": 0,
        "attempts": 1,
        "cancel_requested": False,
        "idempotency_key": "",
        "request_hash": "",
        "environment_id": env_id,
        "provider_config_key": "github",
        "connection_id": "alice",
        "action_name": "act",
        "status": "running",
        "input": {"nested": [1, None, "é"]},
        "logs": [],
        "provider_calls": [],
        "attempt_log": [],
    }
    pk = sql.insert(Execution, values)
    stored = Execution.objects.get(pk=pk)
    assert stored.input == {"nested": [1, None, "é"]} and stored.status == "running"
    assert stored.code == values["code"] and stored.created == values["created"]
    # The guard decides: a stale status matches nothing and writes nothing.
    assert sql.update(Execution, {"status": "failed"}, id=pk, status="queued") == 0
    assert (
        sql.update(
            Execution,
            {"status": "succeeded", "output": None, "finished": now()},
            id=pk,
            status="running",
        )
        == 1
    )
    stored.refresh_from_db()
    assert stored.status == "succeeded" and stored.output is None

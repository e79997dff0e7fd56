"""The async engine under faults, end to end (tests/faults.py): a steady load of async runs
while a worker cluster is SIGKILLed, the Redis broker dies, or PostgreSQL stops. Each
scenario runs on servers it starts itself (a private Redis, a private PostgreSQL), never the
shared ones, and checks that nothing is lost or stuck, that no run whose result was written
is run again, that triggers during a database outage answer 503 (never 500), and that the
queue gets back to full concurrency. `bench/faults.py` replays the same scenarios at the
issue's load and prints the figures.

They run in the suite's first pass (SQLite); the PostgreSQL + Redis pass skips them: they do
not use the shared servers, so a second run would test nothing new.
"""

import os

import pytest

from tests.faults import Harness, Scenario
from tests.servers import PrivatePostgres

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL")), reason="runs once, in the SQLite pass"
    ),
]


def run(tmp_path, scenario: Scenario):
    harness = Harness(tmp_path, scenario).start()
    try:
        return harness.run()
    finally:
        harness.stop()


def check_nothing_lost(report) -> None:
    assert report.lost == 0 and report.stuck == 0, report.line()
    assert report.answers.get(500, 0) == 0 and report.answers.get(0, 0) == 0, report.line()
    assert report.extra_provider_calls == 0, report.line()  # no written result ran again
    assert report.webhooks_missing == 0, report.line()
    assert report.reached_full_concurrency, report.line()


def test_a_sigkilled_worker_cluster_loses_nothing_and_its_slots_come_back(tmp_path):
    report = run(tmp_path, Scenario("sigkill", fault="sigkill", seconds=10))
    check_nothing_lost(report)
    # The killed cluster's runs were ended (and retried) by the reaper, and the queue ran
    # at full concurrency again afterwards.
    assert report.recovery_seconds is not None, report.line()
    assert report.statuses == {"succeeded": report.triggered}, report.statuses


def test_a_broker_outage_kills_no_drain_loop(tmp_path):
    report = run(tmp_path, Scenario("redis down", fault="redis", broker="redis"))
    check_nothing_lost(report)
    assert report.crashed_attempts == 0, report.line()
    assert report.answers == {202: report.triggered}, report.line()  # queued, woken later
    assert report.recovery_seconds is not None, report.line()


def test_a_database_outage_answers_503_and_writes_every_result_once(tmp_path):
    try:
        PrivatePostgres().close()
    except RuntimeError as exc:
        pytest.skip(f"no PostgreSQL binaries to start a private server: {exc}")
    scenario = Scenario(
        "postgres down", fault="postgres", database="postgres", broker="redis", fault_seconds=5
    )
    report = run(tmp_path, scenario)
    check_nothing_lost(report)
    assert report.crashed_attempts == 0, report.line()  # nobody presumed the runs dead
    assert report.answers.get(503, 0) > 0, report.line()  # the outage was seen, as 503
    assert set(report.answers) <= {202, 503}, report.line()
    assert report.recovery_seconds is not None, report.line()

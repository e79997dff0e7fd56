"""OpenTelemetry traces of runs (the SDK's in-memory exporter here; a real OTLP/HTTP
collector in tests/e2e/test_e2e_traces.py): one trace per execution, its id the
execution's, with trigger, queue wait, run and one span per provider call."""

import pytest
import responses

from conftest import deploy_source, trigger
from executions.models import Execution
from nangosite.lib import tracing

pytestmark = pytest.mark.django_db(transaction=True)

CALLS = """
from nango import create_action
def run(nango, input):
    nango.get("/user")
    return {"login": nango.get("/user").data["login"]}
action = create_action(description="calls", input={}, output={}, exec=run)
"""


@pytest.fixture
def spans(tworld):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracing.configure(exporter)
    deploy_source(tworld.github, "calls", CALLS)
    try:
        with responses.RequestsMock() as mock:
            mock.get("https://api.github.com/user", json={"login": "octocat"})
            yield exporter
    finally:
        tracing.stop()


def by_name(exporter) -> dict[str, list]:
    found: dict[str, list] = {}
    for span in exporter.get_finished_spans():
        found.setdefault(span.name, []).append(span)
    return found


def test_a_sync_run_is_one_trace_whose_id_is_the_executions(spans, api):
    r = trigger(api, "calls", {})
    assert r.status_code == 200
    execution = Execution.objects.get(code=r["X-Execution-Id"])
    found = by_name(spans)
    assert sorted(found) == ["GET", "run", "trigger"]
    (root,), (run,) = found["trigger"], found["run"]
    assert {s.context.trace_id for s in spans.get_finished_spans()} == {execution.code.int}
    assert root.parent is None
    assert run.parent.span_id == root.context.span_id
    assert [c.parent.span_id for c in found["GET"]] == [run.context.span_id] * 2
    assert found["GET"][0].attributes["url.full"] == "https://api.github.com/user"
    assert found["GET"][0].attributes["http.response.status_code"] == 200
    assert root.attributes["nangosite.execution.id"] == str(execution.code)
    assert run.attributes["nangosite.status"] == "succeeded"
    assert root.start_time <= run.start_time <= run.end_time <= root.end_time


def test_an_async_run_adds_its_queue_wait_under_the_same_root(spans, api):
    r = trigger(api, "calls", {}, HTTP_X_ASYNC="true")  # django-q2 runs it inline here
    assert r.status_code == 202
    execution = Execution.objects.get(code=r["X-Execution-Id"])
    found = by_name(spans)
    assert sorted(found) == ["GET", "queue wait", "run", "trigger"]
    root_id = found["trigger"][0].context.span_id
    for name in ("queue wait", "run"):
        (span,) = found[name]
        assert span.context.trace_id == execution.code.int
        assert span.parent.span_id == root_id
    wait, run = found["queue wait"][0], found["run"][0]
    assert wait.end_time == run.start_time
    assert wait.start_time <= wait.end_time


def test_a_failed_run_says_so_and_tracing_off_makes_no_spans(spans, api, tworld):
    assert trigger(api, "calls", {}, key="nope").status_code == 400  # unknown_provider
    (refused,) = spans.get_finished_spans()
    assert refused.name == "trigger" and not refused.status.is_ok
    spans.clear()
    tracing.stop()
    assert trigger(api, "calls", {}).status_code == 200
    assert spans.get_finished_spans() == ()

"""Optional OpenTelemetry traces of runs, with the official packages, which are imported
only when an OTLP endpoint is configured (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or
OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces; exported over OTLP/HTTP in batches).

One trace per execution, and its trace id is the execution's id (the UUID's 128 bits), so
a tracing backend finds a run by the id an answer's X-Execution-Id gave:

- `trigger`: the root, in the web process: the trigger request (a sync run inside it);
- `queue wait`: an async attempt's wait, from the moment it was due to its claim;
- `run`: each attempt, where it ran, with its outcome;
- one client span per provider call attempt (`GET`, `POST`…), children of their run.

The worker needs no stored context to find the root: its span id derives from the
execution id too (`ExecutionIds`). Off, `active()` is one global read.
"""

import contextvars
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from django.conf import settings

_tracer = None
_provider = None
# (trace id, span id) the next span must take: the root of an execution's trace.
_forced: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "forced_trace_ids", default=None
)


def active() -> bool:
    return _tracer is not None


def configure(exporter=None) -> None:
    """Start tracing: to `exporter` (tests), else to the configured OTLP endpoint."""
    global _tracer, _provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class ExecutionIds(RandomIdGenerator):
        def generate_trace_id(self) -> int:
            forced = _forced.get()
            return forced[0] if forced else super().generate_trace_id()

        def generate_span_id(self) -> int:
            forced = _forced.get()
            return forced[1] if forced else super().generate_span_id()

    resource = Resource.create({"service.name": settings.OTEL_SERVICE_NAME})
    provider = TracerProvider(resource=resource, id_generator=ExecutionIds())
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.OTEL_TRACES_ENDPOINT)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _provider, _tracer = provider, provider.get_tracer("nangosite")


def stop() -> None:
    """Flush and stop (tests; processes flush at exit by themselves)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def _root_span_id(code: uuid.UUID) -> int:
    return (code.int & 0xFFFF_FFFF_FFFF_FFFF) or 1


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1e9)


def _root(code: uuid.UUID):
    """The context of an execution's root span, as a remote parent."""
    from opentelemetry import trace

    context = trace.SpanContext(
        code.int,
        _root_span_id(code),
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(context))


def trigger(request, run: Callable[[uuid.UUID], object]):
    """`run(code)` (the trigger, whose execution gets `code` as its id) in the root span of
    that execution's trace."""
    from opentelemetry import trace

    code = uuid.uuid4()
    attributes = {
        "nangosite.integration": request.provider_config_key,
        "nangosite.action": request.action_name,
        "nangosite.connection": request.connection_id,
        "nangosite.async": request.is_async,
    }
    forced = _forced.set((code.int, _root_span_id(code)))
    try:
        span = _tracer.start_span("trigger", attributes=attributes)
    finally:
        _forced.reset(forced)
    with trace.use_span(span, end_on_exit=True):
        execution = run(code)
        span.set_attribute("nangosite.execution.id", str(execution.code))
        if execution.code != code:  # an Idempotency-Key replay: no new run
            span.set_attribute("nangosite.replay_of", str(execution.code))
        return execution


@contextmanager
def attempt(execution) -> Iterator[object]:
    """The `run` span of an attempt, and before it the `queue wait` of an async one; yields
    the span's context for the provider calls (the run's Recorder carries it)."""
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    root = _root(execution.code)
    labels = {
        "nangosite.execution.id": str(execution.code),
        "nangosite.integration": execution.provider_config_key,
        "nangosite.action": execution.action_name,
        "nangosite.attempt": execution.attempts,
    }
    started = _ns(execution.started) if execution.started else time.time_ns()
    if execution.is_async and execution.started is not None:
        due = execution.next_attempt_at or execution.created
        wait = _tracer.start_span("queue wait", context=root, attributes=labels,
                                  start_time=min(_ns(due), started))  # fmt: skip
        wait.end(end_time=started)
    span = _tracer.start_span("run", context=root, attributes=labels, start_time=started)
    try:
        yield trace.set_span_in_context(span)
    finally:
        span.set_attribute("nangosite.status", execution.status)
        if execution.error and execution.is_terminal:
            code = (execution.error.get("error") or {}).get("code", "")
            span.set_attribute("nangosite.error_code", code)
            span.set_status(Status(StatusCode.ERROR, code))
        span.end()


def provider_call(parent, method: str, url: str, status: int | None, duration_ms: float,
                  error: str = "") -> None:  # fmt: skip
    """A client span for one provider call attempt that just ended (`url` redacted)."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    end = time.time_ns()
    attributes = {"http.request.method": method, "url.full": url}
    if status is not None:
        attributes["http.response.status_code"] = status
    span = _tracer.start_span(
        method,
        context=parent,
        kind=SpanKind.CLIENT,
        attributes=attributes,
        start_time=end - int(duration_ms * 1e6),
    )
    if error or (status is not None and status >= 400):
        span.set_attribute("error.type", error or str(status))
        span.set_status(Status(StatusCode.ERROR))
    span.end(end_time=end)

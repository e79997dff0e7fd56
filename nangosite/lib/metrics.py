"""The platform's Prometheus metrics (prometheus_client).

Off unless METRICS_TOKEN is set: nothing is counted and `/metrics` is 404. On, each process
counts what it does (runs ended, retries, timeouts, webhook deliveries and their lag,
proxy calls, provider calls, throttled triggers) and `/metrics` (nangosite/ops.py) answers
with those counts and the queues' state, read from the database at each scrape.

Several processes (gunicorn's workers, qcluster's) share their counts through
prometheus_client's multiprocess mode: PROMETHEUS_MULTIPROC_DIR names a directory of the
machine, the same for all of its processes and emptied before they start (`manage.py serve`
does both); any web process of the machine then answers for all of them.
"""

import os
import threading
from collections.abc import Callable

from django.conf import settings

RUN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
RUN_LABELS = ("environment", "integration", "action")


def enabled() -> bool:
    return bool(settings.METRICS_TOKEN)


class Metrics:
    """The metric objects, made on first use: prometheus_client is imported only when
    metrics are on, and after PROMETHEUS_MULTIPROC_DIR is set (it reads it on import)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.runs = Counter(
            "nangosite_runs",
            "Runs ended (the final attempt's outcome: succeeded, failed, cancelled)",
            [*RUN_LABELS, "outcome"],
        )
        self.run_seconds = Histogram(
            "nangosite_run_duration_seconds",
            "Run time of ended runs (their final attempt)",
            RUN_LABELS,
            buckets=RUN_BUCKETS,
        )
        self.retries = Counter(
            "nangosite_run_retries", "Failed attempts queued again for a retry", RUN_LABELS
        )
        self.timeouts = Counter(
            "nangosite_run_timeouts", "Attempts stopped at their timeout", RUN_LABELS
        )
        self.webhooks = Counter(
            "nangosite_webhook_deliveries",
            "Webhook deliveries ended (delivered, failed)",
            ["environment", "outcome"],
        )
        self.webhook_attempts = Counter(
            "nangosite_webhook_attempts",
            "Webhook attempts, by what came of them (delivered, retrying, failed)",
            ["environment", "outcome"],
        )
        self.webhook_lag = Histogram(
            "nangosite_webhook_delivery_lag_seconds",
            "From a run's end (the delivery's creation) to the webhook's delivery",
            ["environment"],
            buckets=LAG_BUCKETS,
        )
        self.proxy = Counter(
            "nangosite_proxy_requests",
            "/proxy calls, by the status answered",
            ["environment", "integration", "status"],
        )
        self.provider_seconds = Histogram(
            "nangosite_provider_call_duration_seconds",
            "Provider calls (each attempt) of actions and the proxy, by status class",
            ["provider", "status"],
            buckets=CALL_BUCKETS,
        )
        self.throttled = Counter(
            "nangosite_throttled_triggers",
            "Triggers refused with 429 (reason: rate, queue)",
            ["environment", "reason"],
        )


_metrics: Metrics | None = None
_lock = threading.Lock()


def get() -> Metrics:
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = Metrics()
    return _metrics


def status_class(status: int | None) -> str:
    return f"{status // 100}xx" if status else "error"


def provider_calls(provider: str, then: Callable | None) -> Callable:
    """An `on_attempt` callback of `http.send` that observes each attempt's latency, then
    calls `then` (the run's recorder) if given."""
    histogram = get().provider_seconds

    def observe(attempt) -> None:
        histogram.labels(provider, status_class(attempt.status)).observe(attempt.duration_ms / 1000)
        if then is not None:
            then(attempt)

    return observe


def count_proxy(environment: str, integration: str, status: int) -> None:
    if enabled():
        get().proxy.labels(environment, integration, str(status)).inc()


def count_throttled(environment: str, reason: str) -> None:
    if enabled():
        get().throttled.labels(environment, reason).inc()


def exposition(gauges: list[tuple[str, str, dict[str, float]]]) -> tuple[bytes, str]:
    """The text format of every process's counts (this process's alone outside
    multiprocess mode) and of `gauges`: (name, help, {environment: value}) read now."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    get()  # the metrics exist (with no series yet) before the first event
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY

    class Now:
        def collect(self):
            for name, help, values in gauges:
                family = GaugeMetricFamily(name, help, labels=["environment"])
                for environment, value in sorted(values.items()):
                    family.add_metric([environment], value)
                yield family

    now = CollectorRegistry(auto_describe=False)
    now.register(Now())
    return generate_latest(registry) + generate_latest(now), CONTENT_TYPE_LATEST

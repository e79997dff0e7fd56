from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class ExecutionsConfig(AppConfig):
    name = "executions"

    def ready(self) -> None:
        checks.register(check_q_cluster)
        if settings.OTEL_TRACES_ENDPOINT:
            from nangosite.lib import tracing  # imports OpenTelemetry: only when asked

            tracing.configure()


def check_q_cluster(app_configs, **kwargs) -> list:
    q = settings.Q_CLUSTER
    errors = []
    if q.get("retry", 0) <= q.get("timeout", 0):
        errors.append(
            checks.Error(
                "Q_CLUSTER retry must be larger than timeout",
                hint="Otherwise django-q2 hands a still-running task to a second worker.",
                id="executions.E001",
            )
        )
    if q.get("timeout", 0) < settings.ACTION_TIMEOUT_SECONDS:
        errors.append(
            checks.Error(
                "Q_TIMEOUT must be at least ACTION_TIMEOUT_SECONDS",
                hint="The worker would kill a run before the action's own timeout ends it.",
                id="executions.E002",
            )
        )
    return errors

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class ExecutionsConfig(AppConfig):
    name = "executions"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        checks.register(check_q_cluster)
        # A django-q2 worker process keeps its heartbeat thread for life: it reaps the runs
        # of workers that died even while it holds none (executions/heartbeat.py). The
        # signal is the only hook django-q2 offers into a new worker process.
        post_spawn.connect(_keep_heartbeat, dispatch_uid="executions.heartbeat")
        if settings.OTEL_TRACES_ENDPOINT:
            from nangosite.lib import tracing  # imports OpenTelemetry: only when asked

            tracing.configure()


def _keep_heartbeat(sender, proc_name: str, **kwargs) -> None:
    from executions.heartbeat import watch

    watch.keep_running()


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
    if q.get("timeout", 0) < settings.ACTION_TIMEOUT_SECONDS + 10:
        errors.append(
            checks.Error(
                "Q_TIMEOUT must be at least ACTION_TIMEOUT_SECONDS + 10",
                hint="The worker would kill a run before the action's own timeout ends it "
                "(a drain task hands over before Q_TIMEOUT minus the longest run).",
                id="executions.E002",
            )
        )
    return errors

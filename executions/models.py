import time
import uuid

from django.db import DatabaseError, models
from django.db.models import Q
from django.utils.timezone import now

from executions.errors import Failure
from integrations.models import Connection, Environment, FunctionVersion


class Status(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


class ExecutionQuerySet(models.QuerySet):
    def in_env(self, env: Environment) -> "ExecutionQuerySet":
        return self.filter(environment=env)


class Execution(models.Model):
    """One trigger of one action: created before anything runs, always ends terminal."""

    Status = Status

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    environment = models.ForeignKey(Environment, models.CASCADE, related_name="executions")
    # Kept as plain text too, so a record outlives a deleted connection or function.
    connection = models.ForeignKey(Connection, models.SET_NULL, null=True, blank=True)
    function_version = models.ForeignKey(FunctionVersion, models.SET_NULL, null=True, blank=True)
    provider_config_key = models.CharField(max_length=255)
    connection_ref = models.CharField("connection id", max_length=255)
    action_name = models.CharField(max_length=255)
    is_async = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    # The error body the caller receives ({"error": {...}}), and its HTTP status.
    error = models.JSONField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    created = models.DateTimeField(default=now)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    logs = models.JSONField(default=list, blank=True)
    provider_calls = models.JSONField(default=list, blank=True)
    max_retries = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)

    objects = ExecutionQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["environment", "-created"], name="execution_env_recent"),
            models.Index(fields=["status", "created"], name="execution_status_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status__in=TERMINAL) | Q(finished__isnull=False),
                name="terminal_execution_has_finished",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in Status]), name="execution_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action_name} {self.code}"

    @classmethod
    def start_sync(
        cls, connection: Connection, version: FunctionVersion, input: object
    ) -> "Execution":
        """A sync run starts at once, so its row is born running."""
        integration = connection.integration
        return cls.objects.create(
            environment_id=integration.environment_id,
            connection=connection,
            function_version=version,
            provider_config_key=integration.unique_key,
            connection_ref=connection.connection_id,
            action_name=version.function.name,
            status=Status.RUNNING,
            input=input,
            started=now(),
            attempts=1,
        )

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def finish(
        self,
        output: object = None,
        failure: Failure | None = None,
        logs: list | None = None,
        calls: list | None = None,
        duration_ms: float | None = None,
    ) -> bool:
        """Move a running execution to succeeded/failed; False if it had already ended.

        The update is filtered on status=running, so a cancel or a sweep that got there
        first is never overwritten.
        """
        fields = {
            "status": Status.FAILED if failure else Status.SUCCEEDED,
            "output": None if failure else output,
            "error": failure.body() if failure else None,
            "http_status": failure.status if failure else 200,
            "finished": now(),
            "duration_ms": duration_ms,
            "logs": logs or [],
            "provider_calls": calls or [],
        }
        changed = _retrying(
            lambda: Execution.objects.filter(pk=self.pk, status=Status.RUNNING).update(**fields)
        )
        if changed:
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(changed)

    def response(self) -> tuple[int, object]:
        """The HTTP status and body a caller gets for this (ended) execution."""
        if self.status == Status.SUCCEEDED:
            return 200, self.output
        return self.http_status or 500, self.error


def _retrying(write, attempts: int = 5):
    # A briefly unreachable or locked database must not leave a run without its outcome.
    for attempt in range(attempts):
        try:
            return write()
        except DatabaseError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * 2**attempt)

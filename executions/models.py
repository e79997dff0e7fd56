import random
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, models, transaction
from django.db import connection as db_connection
from django.db.models import F, Q
from django.utils.timezone import now

from executions import errors
from executions.errors import Failure
from integrations.models import Connection, Environment, FunctionVersion
from nangosite.lib import sql


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

    def stale(self) -> "ExecutionQuerySet":
        """Running rows whose process stopped beating: it died, or lost the database."""
        cutoff = now() - timedelta(seconds=settings.EXECUTION_STALE_SECONDS)
        return self.filter(status=Status.RUNNING, heartbeat__lt=cutoff)


def retry_backoff(attempt: int) -> float:
    """Seconds before retry number `attempt` (1, 2, …): exponential, capped, half jitter."""
    ceiling = min(
        settings.RETRY_BACKOFF_MAX_SECONDS,
        settings.RETRY_BACKOFF_BASE_SECONDS * 2 ** (attempt - 1),
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class Execution(models.Model):
    """One trigger of one action: created before anything runs, always ends terminal.

    queued → running → succeeded | failed | cancelled; a failed attempt with retries left
    goes back to queued with a later `next_attempt_at`.
    """

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
    # One entry per ended attempt: number, started, finished, duration_ms, outcome, error.
    attempt_log = models.JSONField(default=list, blank=True)
    # A queued run does not start before this (retry backoff).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Refreshed while a process runs it; a stale one means that process died.
    heartbeat = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)

    objects = ExecutionQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["environment", "-created"], name="execution_env_recent"),
            models.Index(fields=["status", "created"], name="execution_status_created"),
            # claim_next(): WHERE environment_id = ? AND status = 'queued'
            #               ORDER BY created, id LIMIT 1
            models.Index(
                fields=["environment", "created", "id"],
                condition=Q(status="queued"),
                name="execution_queue",
            ),
            # claim_next() and the sweep: running rows per environment and connection.
            models.Index(
                fields=["environment", "connection"],
                condition=Q(status="running"),
                name="execution_running",
            ),
            # The admin list (ORDER BY created DESC, id DESC) and the dashboard's windows.
            models.Index(fields=["created", "id"], name="execution_created"),
            # The admin's integration/action filters; the dashboard's durations per action.
            models.Index(
                fields=["provider_config_key", "action_name", "created"], name="execution_action"
            ),
            # The admin's search and filter by connection id.
            models.Index(fields=["connection_ref", "created"], name="execution_connection_ref"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status__in=TERMINAL) | Q(finished__isnull=False),
                name="terminal_execution_has_finished",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in Status]), name="execution_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(max_retries__lte=5), name="execution_max_retries_0_5"
            ),
            models.UniqueConstraint(
                fields=["environment", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action_name} {self.code}"

    @classmethod
    def create_for(
        cls,
        connection: Connection,
        version: FunctionVersion,
        input: object,
        is_async: bool = False,
        max_retries: int = 0,
        idempotency_key: str = "",
        request_hash: str = "",
    ) -> "Execution":
        """The row of a new trigger. A sync run starts at once, so its row is born running."""
        integration = connection.integration
        moment = now()
        values = dict(
            code=uuid.uuid4(),
            environment_id=integration.environment_id,
            connection_id=connection.pk,
            function_version_id=version.pk,
            provider_config_key=integration.unique_key,
            connection_ref=connection.connection_id,
            action_name=version.function.name,
            is_async=is_async,
            status=Status.QUEUED if is_async else Status.RUNNING,
            input=input,
            created=moment,
            started=None if is_async else moment,
            heartbeat=None if is_async else moment,
            next_attempt_at=moment if is_async else None,
            attempts=0 if is_async else 1,
            max_retries=max_retries if is_async else 0,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            logs=[],
            provider_calls=[],
            attempt_log=[],
            cancel_requested=False,
        )
        # Every trigger inserts one row: a prepared INSERT, not the ORM's per-call compile.
        execution = cls(id=sql.insert(cls, values), **values)
        execution._state.adding = False
        execution._state.db = "default"
        execution.connection, execution.function_version = connection, version
        return execution

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def status_url(self) -> str:
        return f"/action/{self.code}"

    def end_attempt(
        self,
        output: object = None,
        failure: Failure | None = None,
        logs: list | None = None,
        calls: list | None = None,
        duration_ms: float | None = None,
        outcome: str = "",
    ) -> bool:
        """End the running attempt: succeeded, failed, cancelled, or queued for a retry.

        The update is filtered on status=running, so a cancel or a sweep that got there
        first is never overwritten. Returns False if the row had already moved on.
        """
        moment = now()
        if not outcome:
            outcome = "succeeded" if failure is None else "failed"
        entry = {
            "number": self.attempts,
            "started": self.started.isoformat() if self.started else None,
            "finished": moment.isoformat(),
            "duration_ms": None if duration_ms is None else round(duration_ms, 2),
            "outcome": outcome,
        }
        if failure is not None:
            entry["error"] = failure.body()["error"]
        tag = {"attempt": self.attempts} if self.is_async else {}
        fields = {
            "attempt_log": [*self.attempt_log, entry],
            "logs": [*self.logs, *({**line, **tag} for line in logs or [])],
            "provider_calls": [*self.provider_calls, *({**c, **tag} for c in calls or [])],
            "heartbeat": None,
        }
        retry = (
            failure is not None
            and self.is_async
            and failure.retryable
            and outcome != "cancelled"
            and self.attempts <= self.max_retries
        )
        if retry:
            fields.update(
                status=Status.QUEUED,
                next_attempt_at=moment + timedelta(seconds=retry_backoff(self.attempts)),
            )
        else:
            if outcome == "cancelled":
                status = Status.CANCELLED
            else:
                status = Status.FAILED if failure else Status.SUCCEEDED
            fields.update(
                status=status,
                output=None if failure else output,
                error=failure.body() if failure else None,
                http_status=failure.status if failure else 200,
                finished=moment,
                duration_ms=duration_ms,
            )
        # Guarded on the attempt too: a process that was presumed dead must not overwrite
        # the attempt a sweep and another worker started since.
        guard = {"id": self.pk, "status": Status.RUNNING, "attempts": self.attempts}
        if retry:
            # A cancel that arrived during this attempt wins over its retry.
            changed = _retrying(
                lambda: sql.update(Execution, fields, **guard, cancel_requested=False)
            )
            if not changed and Execution.objects.filter(**guard, cancel_requested=True).exists():
                return self.end_attempt(
                    failure=errors.cancelled(),
                    logs=logs,
                    calls=calls,
                    duration_ms=duration_ms,
                    outcome="cancelled",
                )
        else:
            # Every run ends here: a prepared UPDATE, not the ORM's per-call compile.
            write = lambda: sql.update(Execution, fields, **guard)  # noqa: E731
            if self.is_async and fields["status"] in (Status.SUCCEEDED, Status.FAILED):
                from webhooks.models import webhook_urls  # imported here: webhooks imports us

                if webhook_urls(self):
                    write = lambda: self._end_announced(fields, guard)  # noqa: E731
            changed = _retrying(write)
        if changed:
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(changed)

    def _end_announced(self, fields: dict, guard: dict) -> int:
        """The final write of an async run and its webhooks' rows, in one transaction: a
        run never ends without the deliveries that announce it (the webhook sweep sends
        any whose task was lost)."""
        from webhooks.models import Delivery

        with transaction.atomic():
            changed = sql.update(Execution, fields, **guard)
            if changed:
                for name, value in fields.items():
                    setattr(self, name, value)
                Delivery.objects.announce(self)
        return changed

    def claim(self) -> bool:
        """queued → running, for the one worker whose guarded update wins."""
        moment = now()
        changed = Execution.objects.filter(pk=self.pk, status=Status.QUEUED).update(
            status=Status.RUNNING,
            started=moment,
            heartbeat=moment,
            attempts=F("attempts") + 1,
        )
        if changed:
            self.status, self.started, self.heartbeat = Status.RUNNING, moment, moment
            self.attempts += 1
        return bool(changed)

    def cancel(self) -> bool:
        """Cancel at once if queued; ask the running process to stop it if running."""
        failure = errors.cancelled()
        if Execution.objects.filter(pk=self.pk, status=Status.QUEUED).update(
            status=Status.CANCELLED,
            finished=now(),
            error=failure.body(),
            http_status=failure.status,
        ):
            self.refresh_from_db()
            return True
        changed = Execution.objects.filter(pk=self.pk, status=Status.RUNNING).update(
            cancel_requested=True
        )
        self.refresh_from_db()
        return bool(changed)

    def crash(self) -> bool:
        """End an attempt whose process died (stale heartbeat); retried if retries remain."""
        return self.end_attempt(failure=errors.crashed(), outcome="crashed")

    def response(self) -> tuple[int, object]:
        """The HTTP status and body a caller gets for this (ended) execution."""
        if self.status == Status.SUCCEEDED:
            return 200, self.output
        return self.http_status or 500, self.error

    def to_api(self) -> dict:
        return {
            "id": str(self.code),
            "status": self.status,
            "action_name": self.action_name,
            "connection_id": self.connection_ref,
            "provider_config_key": self.provider_config_key,
            "async": self.is_async,
            "created_at": self.created.isoformat(),
            "started_at": self.started.isoformat() if self.started else None,
            "finished_at": self.finished.isoformat() if self.finished else None,
            "duration_ms": self.duration_ms,
            "max_retries": self.max_retries,
            "attempts": self.attempt_log,
            "next_attempt_at": (
                self.next_attempt_at.isoformat()
                if self.status == Status.QUEUED and self.next_attempt_at
                else None
            ),
            "cancel_requested": self.cancel_requested,
            "input": self.input,
            "output": self.output,
            "error": self.error,
            "logs": self.logs,
            "provider_calls": self.provider_calls,
        }


def _retrying(write, attempts: int = 5):
    # A briefly unreachable or locked database must not leave a run without its outcome.
    for attempt in range(attempts):
        try:
            return write()
        except DatabaseError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * 2**attempt)
            if not db_connection.in_atomic_block:
                # A connection the database dropped (restart) stays broken: reconnect.
                db_connection.close_if_unusable_or_obsolete()

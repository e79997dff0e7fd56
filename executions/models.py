import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, models
from django.db.models import Q
from django.utils.timezone import now

from executions import errors
from executions.errors import (
    Failure,
    IdempotencyConflict,
    IdempotencyInProgress,
    InvalidActionInput,
)

# The locks functions take are models of this app too.
from executions.locks import Lock  # noqa: F401
from integrations.errors import ActionDisabled, ActionNotFound, TooManyRequests, UnknownConnection
from integrations.models import Connection, Environment, FunctionVersion
from nangosite.lib import metrics, sql, tracing
from nangosite.lib.backoff import backoff
from nangosite.lib.errors import DomainError

POLL_SECONDS = 0.05


class Status(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


class Outcome(models.TextChoices):
    """How one attempt ended (an entry of `attempt_log`)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    # Its process died (the sweep found its heartbeat stale).
    CRASHED = "crashed"


@dataclass(frozen=True)
class TriggerRequest:
    """What a trigger asks for, checked (`executions/trigger_request.py` parses it)."""

    provider_config_key: str
    connection_id: str
    action_name: str
    input: object = None
    is_async: bool = False
    max_retries: int = 0
    idempotency_key: str = ""

    def digest(self) -> str:
        """What a replay of an Idempotency-Key must repeat: action, connection, input."""
        what = [self.provider_config_key, self.connection_id, self.action_name, self.input]
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """The run whose function triggers another action (`nango.trigger_action`): the new
    run is its child execution and must end within its deadline."""

    # The calling run's execution; None for a dry run, whose children are not recorded.
    execution_pk: int | None
    # time.monotonic() by which the calling run must end; None for no limit.
    deadline: float | None
    # 1 for an action a triggered run calls, 2 for one that action calls…
    depth: int = 1


class RetryRefused(DomainError):
    code = "retry_refused"


# What a retry (`Execution.retry`) says when the trigger it makes is refused.
RETRY_REFUSALS = {
    ActionNotFound: "the action is no longer deployed",
    ActionDisabled: "the action is disabled",
    UnknownConnection: "its connection was deleted",
    InvalidActionInput: "its input no longer matches the action's input schema",
    TooManyRequests: "the environment's queue is full (its cap on queued runs)",
}


class ExecutionQuerySet(models.QuerySet):
    def in_env(self, env: Environment) -> "ExecutionQuerySet":
        return self.filter(environment=env)

    def stale(self) -> "ExecutionQuerySet":
        """Running rows whose process stopped beating: it died, or lost the database."""
        cutoff = now() - timedelta(seconds=settings.EXECUTION_STALE_SECONDS)
        return self.filter(status=Status.RUNNING, heartbeat__lt=cutoff)

    def expired(self) -> "ExecutionQuerySet":
        """Queued rows older than QUEUED_RUN_TTL_HOURS: they will not start any more."""
        cutoff = now() - timedelta(hours=settings.QUEUED_RUN_TTL_HOURS)
        return self.filter(status=Status.QUEUED, created__lt=cutoff)

    def trigger(
        self,
        env: Environment,
        request: TriggerRequest,
        connection: Connection | None = None,
        rate_limit: bool = True,
        caller: Caller | None = None,
    ) -> "Execution":
        """Run (sync) or queue (async) the action a trigger names; the execution, ended
        when sync. Every entrance calls this: `POST /action/trigger`,
        `POST /actions/<integration>/<action>`, MCP's `tools/call` (with its `connection`
        already loaded), the admin's retry (without `rate_limit`), and a function's
        `nango.trigger_action` (sync, with its `caller`: the run becomes its child).

        Raises TooManyRequests (over the environment's triggers a second, or its cap on
        queued runs), UnknownProvider, UnknownConnection, ActionNotFound, ActionDisabled,
        InvalidActionInput (async: a queued run would only find out later),
        IdempotencyConflict and IdempotencyInProgress.
        """
        if tracing.active():  # the trigger span is the root of the run's trace
            return tracing.trigger(
                request,
                lambda code: self._trigger(env, request, connection, rate_limit, caller, code),
            )
        return self._trigger(env, request, connection, rate_limit, caller)

    def _trigger(
        self,
        env: Environment,
        request: TriggerRequest,
        connection: Connection | None,
        rate_limit: bool,
        caller: "Caller | None",
        code: uuid.UUID | None = None,
    ) -> "Execution":
        from executions import tasks  # tasks runs what this creates, and imports this module

        if rate_limit and env.trigger_rate_limit:  # unset: not even a call
            env.admit_trigger()

        key, cid = request.provider_config_key, request.connection_id
        version = FunctionVersion.objects.live(env.pk, key, request.action_name)
        if version is None:
            # A missing integration or connection is named first, as Nango orders them.
            Connection.objects.resolve(env, key, cid, credentials=False)
            raise ActionNotFound()
        if connection is None:
            # A run queued for later loads its credentials when it starts.
            integration = version.function.integration
            connection = Connection.objects.resolve(
                env, key, cid, integration, credentials=not request.is_async
            )
        connection.integration = version.function.integration
        version.check_enabled()
        if request.is_async and (problems := version.input_errors(request.input)):
            raise InvalidActionInput(problems)
        digest = request.digest() if request.idempotency_key else ""
        if digest and (earlier := self._idempotent(env, request.idempotency_key, digest)):
            return earlier.replayed(version)
        if request.is_async and env.max_queued_runs:
            self._check_queue_room(env)
        try:
            # One INSERT in autocommit mode: atomic on its own, and a unique-key clash
            # leaves no broken transaction behind.
            execution = Execution.create_for(
                connection,
                version,
                request.input,
                is_async=request.is_async,
                max_retries=request.max_retries,
                idempotency_key=request.idempotency_key,
                request_hash=digest,
                code=code,
                # A sync run is written once, when it ends; with a key, first (the key's
                # unique constraint is what makes a concurrent replay wait for it).
                deferred=not request.is_async and not digest,
                parent_pk=caller.execution_pk if caller else None,
            )
        except IntegrityError:
            if not digest:
                raise  # not a key clash (e.g. the connection was deleted meanwhile)
            # A concurrent request with the same key won the race: answer as its replay.
            earlier = self._idempotent(env, request.idempotency_key, digest)
            if earlier is None:
                raise
            return earlier.replayed(version)
        if execution.is_async:
            tasks.wake_for(execution, env.action_concurrency)
        else:
            tasks.run_attempt(execution, caller)
        return execution

    def _check_queue_room(self, env: Environment) -> None:
        """TooManyRequests when the environment has `max_queued_runs` queued already (read
        through the queue's partial index, counting at most that many). Concurrent
        triggers may each see the last free place: the cap holds to within the number of
        triggers in flight."""
        cap = env.max_queued_runs
        if self.filter(environment=env, status=Status.QUEUED)[:cap].count() < cap:
            return
        metrics.count_throttled(env.name, "queue")
        raise TooManyRequests(
            "queue",
            cap,
            1.0,
            f"Environment '{env.name}' has {cap} queued async runs, its limit; retry later.",
        )

    def _idempotent(self, env: Environment, key: str, digest: str) -> "Execution | None":
        """The execution an Idempotency-Key already names, if it is younger than the TTL."""
        found = self.in_env(env).filter(idempotency_key=key).first()
        if found is None:
            return None
        if found.created < now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS):
            # Expired: free the key for this new request.
            Execution.objects.filter(pk=found.pk).update(idempotency_key="")
            return None
        if found.request_hash != digest:
            raise IdempotencyConflict()
        return found


class Execution(models.Model):
    """One trigger of one action: created before anything runs, always ends terminal.

    queued → running → succeeded | failed | cancelled; a failed attempt with retries left
    goes back to queued with a later `next_attempt_at`.
    """

    Status = Status

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    environment = models.ForeignKey(Environment, models.CASCADE, related_name="executions")
    # The connection's row, while it exists. Its Provider-Config-Key and connection id
    # (Nango's string, not this row's pk) are kept as plain text too, so a record
    # outlives a deleted connection or function.
    connection_record = models.ForeignKey(
        Connection, models.SET_NULL, null=True, blank=True, verbose_name="connection"
    )
    function_version = models.ForeignKey(FunctionVersion, models.SET_NULL, null=True, blank=True)
    # The run whose function triggered this one (`nango.trigger_action`); its `children`.
    # Indexed only where set (below): most runs have no parent, and every trigger inserts.
    parent = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="children", db_index=False
    )
    provider_config_key = models.CharField(max_length=255)
    connection_id = models.CharField("connection id", max_length=255)
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
                fields=["environment", "connection_record"],
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
            models.Index(fields=["connection_id", "created"], name="execution_connection_id"),
            # A run's children (`trigger_action`), and their SET NULL when a parent is pruned.
            models.Index(
                fields=["parent"], condition=Q(parent__isnull=False), name="execution_children"
            ),
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
        code: uuid.UUID | None = None,
        deferred: bool = False,
        parent_pk: int | None = None,
    ) -> "Execution":
        """The row of a new trigger. A sync run starts at once, so its row is born running.

        `deferred` (a sync run without an Idempotency-Key): the row is not written yet, but
        once, when the run ends, with its outcome (`end_attempt`), or when it runs longer
        than SYNC_RECORD_AFTER_SECONDS (`write_row`, so long runs show while they run):
        one write on a sync trigger's latency path instead of two.
        """
        integration = connection.integration
        moment = now()
        values = dict(
            code=code or uuid.uuid4(),
            environment_id=integration.environment_id,
            connection_record_id=connection.pk,
            function_version_id=version.pk,
            provider_config_key=integration.unique_key,
            connection_id=connection.connection_id,
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
        if parent_pk is not None:
            values["parent_id"] = parent_pk
        # Every trigger builds one: positional, as the ORM builds rows it reads (a third of
        # the cost of keyword arguments).
        execution = cls.from_db("default", _ATTNAMES, [values.get(name) for name in _ATTNAMES])
        execution.connection_record, execution.function_version = connection, version
        if not deferred:
            execution.write_row()
        return execution

    def write_row(self) -> None:
        """Insert this execution's row as it stands: a prepared INSERT, not the ORM's
        per-call compile (every trigger writes one)."""
        if self.status == Status.RUNNING:
            self.heartbeat = now()
        # Columns left NULL are left out: fewer values to convert on every trigger.
        values = {name: value for name in _ROW_FIELDS if (value := getattr(self, name)) is not None}
        self.id = sql.insert(Execution, values)
        self._state.adding = False
        self._state.db = "default"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def environment_name(self) -> str:
        if Execution.environment.is_cached(self):
            return self.environment.name
        return Environment.objects.name_of(self.environment_id)

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

        One guarded UPDATE, filtered on status=running and on the attempt, so a cancel or
        a sweep that got there first is never overwritten. Returns False if the row had
        already moved on. `executions.tasks.record` calls this and announces the end.
        """
        moment = now()
        if not outcome:
            outcome = Outcome.SUCCEEDED if failure is None else Outcome.FAILED
        entry = {
            "number": self.attempts,
            "started": self.started.isoformat() if self.started else None,
            "finished": moment.isoformat(),
            "duration_ms": None if duration_ms is None else round(duration_ms, 2),
            "outcome": str(outcome),
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
            and outcome != Outcome.CANCELLED
            and self.attempts <= self.max_retries
        )
        if not retry:
            if outcome == Outcome.CANCELLED:
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
        if self.pk is None:
            # A deferred sync run (never retried): its one write is the whole record.
            for name, value in fields.items():
                setattr(self, name, value)
            self.write_row()
            return True
        # Guarded on the attempt too: a process that was presumed dead must not overwrite
        # the attempt a sweep and another worker started since.
        guard = {"id": self.pk, "status": Status.RUNNING, "attempts": self.attempts}
        if retry:
            wait = backoff(
                self.attempts - 1,
                settings.RETRY_BACKOFF_BASE_SECONDS,
                settings.RETRY_BACKOFF_MAX_SECONDS,
            )
            fields.update(status=Status.QUEUED, next_attempt_at=moment + timedelta(seconds=wait))
            # A cancel that arrived during this attempt wins over its retry.
            changed = sql.update(Execution, fields, **guard, cancel_requested=False)
            if not changed and Execution.objects.filter(**guard, cancel_requested=True).exists():
                return self.end_attempt(
                    failure=errors.cancelled(),
                    logs=logs,
                    calls=calls,
                    duration_ms=duration_ms,
                    outcome=Outcome.CANCELLED,
                )
        else:
            # Every run ends here: a prepared UPDATE, not the ORM's per-call compile.
            changed = sql.update(Execution, fields, **guard)
        if changed:
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(changed)

    @property
    def is_announced(self) -> bool:
        """Whether webhooks tell of this end: an async run that succeeded, or whose final
        attempt failed (Nango's cases; not a cancel, not a retry)."""
        return self.is_async and self.status in (Status.SUCCEEDED, Status.FAILED)

    def replayed(self, version: FunctionVersion) -> "Execution":
        """This execution as the answer to a replay of its Idempotency-Key: as it is when
        async (its id), ended when sync (its stored result), waiting for the first run."""
        if self.is_async:
            return self
        first = self.function_version or version
        self.wait(first.effective_timeout() + 5)
        if not self.is_terminal:
            raise IdempotencyInProgress()
        return self

    def wait(self, seconds: float) -> "Execution":
        """Wait up to `seconds` for this run to end (a long poll)."""
        deadline = time.monotonic() + seconds
        while not self.is_terminal and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            self.refresh_from_db()
        return self

    def retry(self) -> "Execution":
        """A new async run of the same action and input on the same connection, queued
        now: a trigger, with the action's live version (a fix deployed since is what a
        retry wants). Raises RetryRefused with a reason a person can act on."""
        connection = self.connection_record
        try:
            if connection is None:
                raise UnknownConnection()
            request = TriggerRequest(
                provider_config_key=self.provider_config_key,
                connection_id=self.connection_id,
                action_name=self.action_name,
                input=self.input,
                is_async=True,
                max_retries=self.max_retries,
            )
            return Execution.objects.trigger(
                self.environment, request, connection, rate_limit=False
            )
        except tuple(RETRY_REFUSALS) as exc:
            reason = next(r for cls, r in RETRY_REFUSALS.items() if isinstance(exc, cls))
            raise RetryRefused(reason) from None

    def end_queued(self, failure: Failure, status: str = Status.FAILED) -> bool:
        """End a run that never started (cancelled, or expired in the queue); False if it
        was no longer queued. Guarded on status=queued, so a claim that got there first
        wins."""
        moment = now()
        fields = {
            "status": status,
            "finished": moment,
            "error": failure.body(),
            "http_status": failure.status,
            "next_attempt_at": None,
        }
        if not Execution.objects.filter(pk=self.pk, status=Status.QUEUED).update(**fields):
            return False
        for name, value in fields.items():
            setattr(self, name, value)
        return True

    def cancel(self) -> bool:
        """Cancel at once if queued; ask the running process to stop it if running."""
        if self.end_queued(errors.cancelled(), Status.CANCELLED):
            from executions import report  # it names this module's models

            self.refresh_from_db()
            report.ended(self, Outcome.CANCELLED)
            return True
        changed = Execution.objects.filter(pk=self.pk, status=Status.RUNNING).update(
            cancel_requested=True
        )
        self.refresh_from_db()
        return bool(changed)

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
            "connection_id": self.connection_id,
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
            "parent_id": self.parent_code(),
            "children": [
                str(c)
                for c in self.children.order_by("created", "pk").values_list("code", flat=True)
            ],
        }

    def parent_code(self) -> str | None:
        if self.parent_id is None:
            return None
        code = Execution.objects.filter(pk=self.parent_id).values_list("code", flat=True).first()
        return str(code) if code else None


# The columns an execution's INSERT writes (all but the pk): `write_row`.
_ATTNAMES = tuple(f.attname for f in Execution._meta.concrete_fields)
_ROW_FIELDS = tuple(name for name in _ATTNAMES if name != Execution._meta.pk.attname)

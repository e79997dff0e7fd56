"""The `nango` object an action's `exec(nango, input)` receives: provider calls with the
connection's credentials, metadata, logs, other actions (`trigger_action`) and locks."""

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import connections, transaction
from django.utils.timezone import now

from executions.locks import Lock
from executions.models import Caller, Execution, TriggerRequest
from integrations.credentials import fresh_credentials
from integrations.errors import IncompleteConnection, RefreshError
from integrations.models import Connection, Environment, FunctionVersion
from integrations.recorder import Recorder, secrets_of
from nango.context import NangoBase
from nango.errors import ActionError, ActionTriggerError, HttpError, NetworkError
from nango.response import Response, ready, resolved
from nangosite.lib import http, storable
from nangosite.lib.errors import DomainError

__all__ = ["ActionCancelled", "ActionContext", "ActionTimeout", "Recorder"]

LEVELS = ("debug", "info", "warn", "error")
# Actions that trigger actions that trigger actions…: each level holds a runner thread
# while it waits, so a loop (an action triggering itself) must stop somewhere.
MAX_TRIGGER_DEPTH = 5
MAX_LOCK_TTL_SECONDS = 24 * 3600


class ActionTimeout(BaseException):
    """Raised inside a run that passed its deadline.

    A BaseException so that a function's own `except Exception` cannot swallow it.
    """


class ActionCancelled(BaseException):
    """Raised inside a run that was cancelled (POST /executions/<id>/cancel)."""


class RefreshFailed(ActionError):
    """The connection's OAuth2 token could not be refreshed. Left uncaught, the run fails
    with 424 `refresh_failed` (an ActionError, so functions that catch those still do)."""

    def __init__(self, exc: RefreshError) -> None:
        super().__init__({"message": f"{exc.message} The end user has to reconnect."})


class ActionContext(NangoBase):
    """The platform's `nango`: `row()` is the pk of the run's execution (written first if
    the run has no row yet; None in a dry run, which stores nothing: its `trigger_action`
    runs the other action without a record either), `depth` how many `trigger_action`
    calls led to this run."""

    def __init__(
        self,
        connection: Connection,
        recorder: Recorder,
        deadline: float | None,
        row: Callable[[], int | None] = lambda: None,
        depth: int = 0,
    ):
        self._connection = connection
        self._recorder = recorder
        self._deadline = deadline
        # The run's execution pk, once it has a row (None in a dry run): see runner._Row.
        self._row = row
        self._depth = depth
        # This run's name as a lock holder; None until it takes a lock.
        self._lock_owner: str | None = None
        self.connection_id = connection.connection_id
        self.provider_config_key = connection.integration.unique_key
        self.provider = connection.integration.provider
        recorder.secrets |= secrets_of(connection.credentials)

    # --- provider calls -------------------------------------------------------------

    def _check_deadline(self) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise ActionTimeout()

    def _credentials(self) -> dict:
        try:
            credentials = fresh_credentials(self._connection)
        except RefreshError as exc:
            raise RefreshFailed(exc) from None
        self._recorder.secrets |= secrets_of(credentials)
        return credentials

    def proxy(
        self,
        endpoint: str = "",
        method: str = "GET",
        params: dict | str | None = None,
        data: object = None,
        headers: dict | None = None,
        retries: int = 0,
        retry_on: list[int] | None = None,
        base_url_override: str = "",
    ) -> Response:
        self._check_deadline()
        method = method.upper()
        body_json = body_data = None
        if method in ("POST", "PUT", "PATCH", "DELETE") and data is not None:
            if isinstance(data, dict | list):
                body_json = data
            else:
                body_data = data
        try:
            raw = self._connection.call(
                method,
                endpoint,
                params=params,
                json=body_json,
                data=body_data,
                headers=headers,
                retries=retries,
                retry_on=retry_on or (),
                base_url_override=base_url_override,
                deadline=self._deadline,
                recorder=self._recorder,
                user_agent="nangosite-action",
            )
        except RefreshError as exc:
            raise RefreshFailed(exc) from None
        except IncompleteConnection as exc:
            message = f"connection is missing configuration: {exc.detail}"
            raise ActionError({"message": message}) from None
        except http.DeadlineExceeded:
            raise ActionTimeout() from None
        except http.HttpError as exc:
            if exc.response is None:
                raise NetworkError(self._recorder.redact(str(exc))) from None
            raw = exc.response
            response = Response.parse(raw.status_code, dict(raw.headers), raw.content)
            self._capture(method, endpoint, params, raw.request.url, data, response)
            raise HttpError(
                f"{method} {self._recorder.redact(raw.request.url)} answered {raw.status_code}",
                response,
            ) from None
        response = Response.parse(raw.status_code, dict(raw.headers), raw.content)
        self._capture(method, endpoint, params, raw.request.url, data, response)
        return response

    def _capture(self, method, endpoint, params, url, data, response: Response) -> None:
        """`dryrun --save`: the call as the function made it (what a replay matches) and
        the provider's answer (what it replays)."""
        if not self._recorder.capture:
            return
        redact = self._recorder.redact
        keep = {k: redact(v) for k, v in response.headers.items() if k in ("content-type", "link")}
        self._recorder.captured.append(
            {
                "method": method,
                "endpoint": redact(endpoint),
                "params": self._recorder.snapshot(params),
                "url": redact(url),
                "request_body": self._recorder.snapshot(data),
                "status": response.status,
                "headers": keep,
                "body": self._recorder.snapshot(response.data),
            }
        )

    def paginate_preset(self) -> dict | None:
        preset = self._connection.provider.paginate
        return preset.as_dict() if preset else None

    # --- connection, metadata, environment -------------------------------------------

    def _note(self, method: str, args: list, result: object = None, error: object = None):
        """`dryrun --save`: a call of the SDK other than a provider call, with its answer
        (secrets redacted), for a replay to answer the same."""
        if self._recorder.capture:
            entry = {"method": method, "args": self._recorder.snapshot(args)}
            if error is None:
                entry["result"] = self._recorder.snapshot(result)
            else:
                entry["error"] = self._recorder.snapshot(error)
            self._recorder.nango_calls.append(entry)
        return result

    def get_connection(self) -> dict:
        self._credentials()
        data = self._connection.to_api(include_credentials=True)
        return ready(self._note("get_connection", [], data))

    def get_token(self) -> object:
        credentials = self._credentials()
        if credentials.get("type") == "OAUTH2":
            token = credentials["access_token"]
        elif credentials.get("type") == "BEARER":
            token = credentials["token"]
        else:
            token = dict(credentials)
        return ready(self._note("get_token", [], token))

    def get_metadata(self) -> dict:
        return ready(self._note("get_metadata", [], dict(self._connection.metadata or {})))

    def _check_metadata(self, metadata: object) -> None:
        if not isinstance(metadata, dict):
            raise ActionError({"message": "metadata must be an object"})
        # Refused here rather than by the database, naming the place.
        if found := storable.problems(metadata, ("metadata",)):
            raise ActionError({"message": "the metadata cannot be stored", "errors": found})

    def set_metadata(self, metadata: dict) -> dict:
        self._check_metadata(metadata)
        Connection.objects.filter(pk=self._connection.pk).update(metadata=metadata, updated=now())
        self._connection.metadata = metadata
        return ready(self._note("set_metadata", [metadata], dict(metadata)))

    def update_metadata(self, metadata: dict) -> dict:
        self._check_metadata(metadata)
        with transaction.atomic():
            row = (
                Connection.objects.select_for_update().only("metadata").get(pk=self._connection.pk)
            )
            merged = {**(row.metadata or {}), **metadata}
            Connection.objects.filter(pk=row.pk).update(metadata=merged, updated=now())
        self._connection.metadata = merged
        return ready(self._note("update_metadata", [metadata], dict(merged)))

    def get_environment_variables(self) -> list:
        env = self._connection.integration.environment
        variables = [{"name": v.name, "value": v.value} for v in env.variables.order_by("name")]
        self._recorder.secrets |= {v["value"] for v in variables if isinstance(v["value"], str)}
        return ready(self._note("get_environment_variables", [], variables))

    def log(self, message: object, level: str = "info") -> None:
        level = level if level in LEVELS else "info"
        if not isinstance(message, str):
            try:
                message = json.dumps(message, default=str)
            except (ValueError, RecursionError):
                message = repr(message)
        self._recorder.log(level, message)

    # --- other actions ----------------------------------------------------------------

    def trigger_action(
        self,
        action: str,
        input: object = None,
        connection_id: str | None = None,
        provider_config_key: str | None = None,
    ) -> object:
        """Run another action of this environment and wait for it: its output. The run is
        a child execution of this one, and must end within this run's deadline. It runs
        on this run's connection unless `connection_id` (and `provider_config_key`, for
        another integration's action) name another. Raises ActionTriggerError when the
        action failed or could not run."""
        self._check_deadline()
        try:
            json.dumps(input, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ActionError(
                {"message": f"trigger_action: the input is not JSON: {exc}"}
            ) from None
        args = [action, input, connection_id, provider_config_key]
        request = TriggerRequest(
            provider_config_key=provider_config_key or self.provider_config_key,
            connection_id=connection_id or self.connection_id,
            action_name=action,
            input=input,
        )
        try:
            if self._depth >= MAX_TRIGGER_DEPTH:
                raise ActionTriggerError(
                    action,
                    {
                        "code": "trigger_depth_exceeded",
                        "message": f"actions may trigger actions {MAX_TRIGGER_DEPTH} deep",
                    },
                )
            output = self._run_child(request)
        except ActionTriggerError as exc:
            self._note("trigger_action", args, error=exc.payload)
            raise
        return resolved(self._note("trigger_action", args, output))

    def _run_child(self, request: TriggerRequest) -> object:
        """Trigger the child on a thread of its own and wait for it until this run's
        deadline. On its own thread, a timeout or cancel raised into this run's thread
        cannot stop the child half-way: it ends (before this run's deadline, which nests
        its own) and is recorded whatever happens here."""
        from executions.threads import runners

        env_id = self._connection.integration.environment_id
        caller = Caller(_database(self._row), self._deadline, self._depth + 1)
        child = runners().submit(_child_run, env_id, request, caller)
        left = None if self._deadline is None else max(0.0, self._deadline - time.monotonic())
        if not child.wait(left):
            child.cancel()  # not started yet: it never will
            raise ActionTimeout()
        try:
            status, body, code = child.result()
        except DomainError as exc:  # not found, disabled, unknown connection…
            error = {"code": exc.code, "message": exc.message}
            raise ActionTriggerError(request.action_name, error) from None
        if code:
            self.log(
                f"trigger_action {request.action_name}: execution {code} "
                + ("succeeded" if status == 200 else "failed")
            )
        else:
            self.log(f"trigger_action {request.action_name}: dry run, not recorded")
        if status != 200:
            raise ActionTriggerError(request.action_name, body["error"], status, code or None)
        return body

    # --- locks ------------------------------------------------------------------------

    def try_acquire_lock(self, key: str, ttl: float) -> bool:
        """Take the environment-wide lock `key` for `ttl` seconds (True), unless another
        run holds it (False). A run's locks are released when it ends; `ttl` bounds how
        long a lock outlives a run whose process died."""
        self._check_lock_key(key)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float):
            raise ActionError({"message": "ttl must be a number of seconds"})
        if not 0 < ttl <= MAX_LOCK_TTL_SECONDS:
            raise ActionError({"message": f"ttl must be within 0-{MAX_LOCK_TTL_SECONDS} seconds"})
        self._lock_owner = self._lock_owner or uuid.uuid4().hex
        env_id = self._connection.integration.environment_id
        holder = _database(self._row)
        got = _database(Lock.objects.try_acquire, env_id, key, self._lock_owner, ttl, holder)
        return resolved(self._note("try_acquire_lock", [key, ttl], got))

    def release_lock(self, key: str) -> bool:
        """Release a lock this run holds: True, or False if it held none by that key."""
        self._check_lock_key(key)
        released = False
        if self._lock_owner is not None:
            env_id = self._connection.integration.environment_id
            released = _database(Lock.objects.release, env_id, key, self._lock_owner)
        return resolved(self._note("release_lock", [key], released))

    def release_all_locks(self) -> int:
        count = _database(self.release_locks)
        return resolved(self._note("release_all_locks", [], count))

    def release_locks(self) -> int:
        """Release every lock of this run (the runner calls this when the run ends)."""
        if self._lock_owner is None:
            return 0
        return Lock.objects.release_all(self._lock_owner)

    @staticmethod
    def _check_lock_key(key: object) -> None:
        if not isinstance(key, str) or not key or len(key) > 255:
            raise ActionError({"message": "a lock key is a string of 1-255 characters"})


def _child_run(env_id: int, request: TriggerRequest, caller: Caller) -> tuple[int, object, str]:
    """A child run, on its own pool thread: (HTTP status, body, execution id). A dry run's
    child (no caller execution) runs the action's live version without a record."""
    from executions.runner import run_version

    try:
        env = Environment.objects.get(pk=env_id)
        if caller.execution_pk is not None:
            execution = Execution.objects.trigger(env, request, caller=caller, rate_limit=False)
            return *execution.response(), str(execution.code)
        version = FunctionVersion.objects.runnable(
            env.pk, request.provider_config_key, request.action_name
        )
        connection = Connection.objects.resolve(
            env, request.provider_config_key, request.connection_id, version.function.integration
        )
        result = run_version(version, connection, request.input, caller=caller)
        if result.ok:
            return 200, result.output, ""
        return result.failure.status, result.failure.body(), ""
    finally:
        # Pool threads outlive runs: no idle connection left on this one.
        connections.close_all()


def _database(work, *args):
    """Run database work for the function. Django refuses it on a thread running an event
    loop (an `async def` exec): there it runs on a thread of its own, waited for."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work(*args)
    with ThreadPoolExecutor(1, thread_name_prefix="action-db") as one:
        return one.submit(_closing, work, *args).result()


def _closing(work, *args):
    try:
        return work(*args)
    finally:
        connections.close_all()  # the thread ends: so does its connection

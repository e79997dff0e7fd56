"""Run a function from a working tree against a real connection, storing nothing.

`manage.py dryrun` reads the tree from the functions folder; `POST /functions/dryrun`
(the `nango dryrun` CLI) posts it. Either way the server runs the action with the
connection's credentials, which never leave it; with `save`, the answer carries the
fixture (every provider call and SDK call with its answer, secrets redacted) that the
client writes to `functions/<integration>/tests/<action>.json` for tests to replay.
"""

from dataclasses import dataclass

from executions.runner import RunResult, execute
from integrations.errors import ActionNotFound, UnknownConnection
from integrations.functions import (
    Compiled,
    FunctionFileError,
    Tree,
    action_timeout,
    load_file,
    schema_errors,
)
from integrations.models import Connection, Environment
from integrations.recorder import Recorder
from nango.tree import action_path
from nangosite.lib.errors import DomainError


class AmbiguousConnection(DomainError):
    code = "ambiguous_connection"


@dataclass
class DryRun:
    action: str
    run: RunResult
    connection: Connection
    compiled: Compiled
    # Schema mismatches reported as warnings when validation was not asked for.
    warnings: list[str]
    # The file stem of the action (`create_issue`), which names its fixture.
    stem: str
    # What `save` recorded; None without it, or when the run failed.
    fixture: dict | None = None

    @property
    def integration(self) -> str:
        return self.connection.integration.unique_key

    def to_api(self) -> dict:
        failure = self.run.failure
        return {
            "integration": self.integration,
            "action": self.action,
            "connection_id": self.connection.connection_id,
            "ok": self.run.ok,
            "status": failure.status if failure else 200,
            "output": self.run.output,
            "error": failure.body()["error"] if failure else None,
            "logs": self.run.recorder.logs,
            "provider_calls": self.run.recorder.calls,
            "warnings": self.warnings,
            "duration_ms": round(self.run.duration_ms, 2),
            "fixture": self.fixture,
            "fixture_path": f"functions/{self.integration}/tests/{self.stem}.json",
        }


def find_connection(env: Environment, connection_id: str, integration: str = "") -> Connection:
    rows = Connection.objects.in_env(env).filter(connection_id=connection_id)
    if integration:
        rows = rows.filter(integration__unique_key=integration)
    found = list(rows[:2])
    if not found:
        where = f" of integration {integration!r}" if integration else ""
        raise UnknownConnection(
            f"no connection {connection_id!r}{where} in environment {env.name!r}"
        )
    if len(found) > 1:
        raise AmbiguousConnection(
            f"several integrations have a connection {connection_id!r}; pass --integration"
        )
    return found[0]


def dry_run(
    env: Environment,
    tree: Tree,
    action: str,
    connection_id: str,
    input: object,
    integration: str = "",
    validate: bool = False,
    save: bool = False,
) -> DryRun:
    """Raises UnknownConnection, AmbiguousConnection, ActionNotFound (no such file in the
    tree) and DeployError (the file does not load, as a deploy would say)."""
    from integrations.deploy import DeployError  # deploy imports the models this needs

    connection = find_connection(env, connection_id, integration)
    key = connection.integration.unique_key
    files = tree.actions(key, action)
    if not files:
        raise ActionNotFound(f"no function file {action_path(key, action)}")
    try:
        loaded = load_file(files[0], tree)
    except FunctionFileError as exc:
        raise DeployError([exc]) from None
    compiled = Compiled.of(loaded.action, {files[0].filename, *loaded.modules})
    validate = validate or save  # a recording must be of a valid run
    warnings = []
    if not validate:
        warnings = [
            f"input {e['path']}: {e['message']}"
            for e in schema_errors(compiled.input_validator, input)
        ]
    recorder = Recorder(capture=save)
    timeout = action_timeout(loaded.action.timeout)
    result = execute(compiled, connection, input, timeout, recorder, validate=validate)
    if not validate and result.ok:
        warnings += [
            f"output {e['path']}: {e['message']}"
            for e in schema_errors(compiled.output_validator, result.output)
        ]
    fixture = None
    if save and result.ok:
        preset = connection.provider.paginate
        fixture = {
            "input": input,
            "output": result.output,
            "connection": {
                "connection_id": connection.connection_id,
                "provider_config_key": key,
                "provider": connection.integration.provider,
                "paginate": preset.as_dict() if preset else None,
            },
            "calls": recorder.captured,
            "nango": recorder.nango_calls,
        }
    return DryRun(action, result, connection, compiled, warnings, files[0].stem, fixture)

"""Run a function from the working tree against a real connection, storing nothing."""

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from executions.runner import RunResult, execute
from integrations.functions import Compiled, action_timeout, compiled, schema_errors
from integrations.models import Connection, Environment
from integrations.recorder import Recorder


class DryRunError(Exception):
    pass


@dataclass
class DryRun:
    run: RunResult
    connection: Connection
    compiled: Compiled
    # Schema mismatches reported as warnings when validation was not asked for.
    warnings: list[str]
    fixture_path: Path


def find_connection(env: Environment, connection_id: str, integration: str = "") -> Connection:
    rows = Connection.objects.in_env(env).filter(connection_id=connection_id)
    if integration:
        rows = rows.filter(integration__unique_key=integration)
    found = list(rows[:2])
    if not found:
        where = f" of integration {integration!r}" if integration else ""
        raise DryRunError(f"no connection {connection_id!r}{where} in environment {env.name!r}")
    if len(found) > 1:
        raise DryRunError(
            f"several integrations have a connection {connection_id!r}; pass --integration"
        )
    return found[0]


def dry_run(
    env: Environment,
    action: str,
    connection_id: str,
    input: object,
    integration: str = "",
    validate: bool = False,
    save: bool = False,
    root: Path | None = None,
) -> DryRun:
    root = root or settings.FUNCTIONS_DIR
    connection = find_connection(env, connection_id, integration)
    key = connection.integration.unique_key
    path = root / key / "actions" / f"{action.replace('-', '_')}.py"
    if not path.exists():
        raise DryRunError(f"no function file {path}")
    filename = f"{root.name}/{key}/actions/{path.name}"
    loaded = compiled(path.read_text(), filename)
    validate = validate or save  # a recording must be of a valid run
    warnings = []
    if not validate:
        warnings = [
            f"input {e['path']}: {e['message']}"
            for e in schema_errors(loaded.input_validator, input)
        ]
    recorder = Recorder(capture=save)
    timeout = action_timeout(loaded.action.timeout)
    result = execute(loaded, connection, input, timeout, recorder, validate=validate)
    if not validate and result.ok:
        warnings += [
            f"output {e['path']}: {e['message']}"
            for e in schema_errors(loaded.output_validator, result.output)
        ]
    fixture = root / key / "tests" / f"{path.stem}.json"
    if save and result.ok:
        fixture.parent.mkdir(exist_ok=True)
        fixture.write_text(
            json.dumps(
                {"input": input, "output": result.output, "calls": recorder.captured},
                indent=2,
                sort_keys=True,
            )
            + "\n"
        )
    return DryRun(result, connection, loaded, warnings, fixture)

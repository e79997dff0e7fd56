"""Finding, loading and checking function files.

`functions/<integration-id>/actions/<name>.py` holds one action; the action name is the
file name with `_` read as `-`. The same loader serves `deploy`, `dryrun` and the runner
(which loads the source stored on a FunctionVersion, cached by checksum).
"""

import hashlib
import linecache
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

import jsonschema
from django.conf import settings
from jsonschema.validators import validator_for

from nango.action import Action
from nangosite.lib import storable


class FunctionFileError(Exception):
    """A function file that cannot be deployed; the message names the file and line."""


@dataclass(frozen=True)
class FunctionFile:
    integration: str
    name: str
    # Relative to the functions folder's parent, e.g. "functions/github/actions/create_issue.py";
    # also the filename stack traces show.
    filename: str
    source: str

    @property
    def checksum(self) -> str:
        return checksum(self.source)


def checksum(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def action_name(path: Path) -> str:
    return path.stem.replace("_", "-")


def discover(root: Path, integration: str = "", action: str = "") -> list[FunctionFile]:
    files = []
    for path in sorted(root.glob("*/actions/*.py")):
        if path.name.startswith("_"):
            continue
        integration_id = path.parent.parent.name
        name = action_name(path)
        if integration and integration_id != integration:
            continue
        if action and name != action:
            continue
        filename = f"{root.name}/{integration_id}/actions/{path.name}"
        files.append(FunctionFile(integration_id, name, filename, path.read_text()))
    return files


def _location(exc: BaseException, filename: str) -> int:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    return frames[-1].lineno if frames else 0


def load_action(source: str, filename: str) -> Action:
    """Run a function file's module code and return the Action it binds."""
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as exc:
        raise FunctionFileError(f"{filename}:{exc.lineno}: syntax error: {exc.msg}") from None
    # Registered so tracebacks of stored (not on-disk) functions show their lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(f"nango_function_{checksum(source)[:12]}")
    module.__file__ = filename
    try:
        exec(code, module.__dict__)
    except Exception as exc:
        line = _location(exc, filename)
        raise FunctionFileError(
            f"{filename}:{line}: {type(exc).__name__} while loading: {exc}"
        ) from None
    actions = [v for v in vars(module).values() if isinstance(v, Action)]
    if not actions:
        raise FunctionFileError(
            f"{filename}:1: no action found; bind `create_action(...)` at module level"
        )
    if len(actions) > 1:
        raise FunctionFileError(f"{filename}:{actions[1].lineno}: one action per file")
    check_action(actions[0], filename)
    return actions[0]


def check_action(action: Action, filename: str) -> None:
    where = f"{filename}:{action.lineno}"
    if not callable(action.exec):
        raise FunctionFileError(f"{where}: exec must be a function")
    if not isinstance(action.description, str) or not action.description.strip():
        raise FunctionFileError(f"{where}: description is required")
    if action.timeout is not None and not (
        isinstance(action.timeout, int | float) and action.timeout > 0
    ):
        raise FunctionFileError(f"{where}: timeout must be a positive number of seconds")
    # What a deploy stores must be storable: NUL, lone surrogates, 1e400 (storable.py).
    fields = ("description", "version", "input", "output")
    if found := storable.problems({name: getattr(action, name) for name in fields}):
        place = "/".join(str(p) for p in found[0]["path"])
        raise FunctionFileError(f"{where}: {place} cannot be stored: {found[0]['message']}")
    for which in ("input", "output"):
        schema = getattr(action, which)
        if schema is None:
            raise FunctionFileError(
                f"{where}: {which} schema is missing (use {{'type': 'null'}} for none)"
            )
        if not isinstance(schema, dict):
            raise FunctionFileError(f"{where}: {which} schema must be a dict (JSON Schema)")
        try:
            validator_for(schema, default=jsonschema.Draft7Validator).check_schema(schema)
        except jsonschema.SchemaError as exc:
            path = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise FunctionFileError(
                f"{where}: invalid {which} schema at {path}: {exc.message}"
            ) from None


def action_timeout(requested: float | None) -> float:
    """An action's run time limit: what it asks for, capped by ACTION_TIMEOUT_SECONDS."""
    ceiling = settings.ACTION_TIMEOUT_SECONDS
    return min(requested or ceiling, ceiling)


def make_validator(schema: dict | None):
    if schema is None:
        return None
    cls = validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@dataclass(frozen=True)
class Compiled:
    action: Action
    input_validator: object
    output_validator: object


def compiled(source: str, filename: str) -> Compiled:
    """Load a function file with its schema validators (the runner caches the result)."""
    action = load_action(source, filename)
    return Compiled(action, make_validator(action.input), make_validator(action.output))


def schema_errors(validator, value: object) -> list[dict]:
    """JSON Schema errors of `value`, in the `errors` shape of our 400 answers."""
    if validator is None:
        return []
    return [
        {"code": error.validator, "message": error.message, "path": list(error.absolute_path)}
        for error in sorted(
            validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path]
        )
    ][:50]

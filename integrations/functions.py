"""Finding, loading and checking function files.

`functions/<integration-id>/actions/<name>.py` holds one action; the action name is the
file name with `_` read as `-`. Actions may import helper modules of the tree
(`integrations/imports.py` says which). The same loader serves `deploy`, `dryrun` and the
runner, which loads the source and helpers stored on a FunctionVersion, cached by checksum.
"""

import ast
import hashlib
import linecache
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
from django.conf import settings
from jsonschema.validators import validator_for

from integrations.imports import FileRefused, Importer, TreeModules, imports_in
from nango.action import Action
from nango.tree import action_name, classify, read_tree
from nangosite.lib import storable


class FunctionFileError(Exception):
    """A function file that cannot be deployed; the message names the file and line."""

    def __init__(self, path: str, line: int, message: str):
        self.path, self.line, self.message = path, line, message
        super().__init__(f"{path}:{line}: {message}")


@dataclass(frozen=True)
class FunctionFile:
    integration: str
    name: str
    # The tree path, e.g. "functions/github/actions/create_issue.py"; also the filename
    # stack traces show.
    filename: str
    source: str

    @property
    def stem(self) -> str:
        return self.filename.rsplit("/", 1)[1].removesuffix(".py")


class Tree:
    """The files of a deploy or a dry run by tree path (`nango/tree.py`): read from a
    folder (manage.py) or posted by a client (the API)."""

    def __init__(self, files: dict[str, str]):
        self.files = dict(files)

    @classmethod
    def from_disk(cls, root: Path) -> "Tree":
        return cls(read_tree(root))

    def actions(self, integration: str = "", action: str = "") -> list[FunctionFile]:
        found = []
        for path in sorted(self.files):
            kind = classify(path)
            if kind is None or kind[0] != "action" or kind[2].startswith("_"):
                continue
            name = action_name(kind[2])
            if (integration and kind[1] != integration) or (action and name != action):
                continue
            found.append(FunctionFile(kind[1], name, path, self.files[path]))
        return found

    def without(self, integrations: set[str]) -> "Tree":
        """This tree less the files of `integrations` (actions and helpers)."""
        return Tree(
            {
                path: source
                for path, source in self.files.items()
                if (kind := classify(path)) is None or kind[1] not in integrations
            }
        )


def checksum(source: str, modules: dict[str, str] | None = None) -> str:
    """A version's identity: its source and every helper module it imports."""
    digest = hashlib.sha256(source.encode())
    for path in sorted(modules or {}):
        digest.update(b"\0" + path.encode() + b"\0" + modules[path].encode())
    return digest.hexdigest()


def discover(root: Path, integration: str = "", action: str = "") -> list[FunctionFile]:
    return Tree.from_disk(root).actions(integration, action)


def helpers_of(filename: str, source: str, files: dict[str, str]) -> dict[str, str]:
    """The helper modules of the tree `files` that a function file imports, directly or
    through other helpers; FunctionFileError (file and line) for an import it may not make
    or a helper that does not compile."""
    modules = TreeModules(files)
    found: dict[str, str] = {}
    pending = [(filename, source)]
    while pending:
        path, text = pending.pop()
        try:
            tree = ast.parse(text, path)
        except SyntaxError as exc:
            raise FunctionFileError(path, exc.lineno or 0, f"syntax error: {exc.msg}") from None
        except ValueError as exc:  # a NUL character
            raise FunctionFileError(path, 1, f"syntax error: {exc}") from None
        try:
            reached = list(imports_in(path, tree, modules))
        except FileRefused as exc:
            raise FunctionFileError(path, exc.line, str(exc.refused)) from None
        for _, name in reached:
            helper = modules.by_name.get(name)
            if helper is not None and helper not in found:
                found[helper] = files[helper]
                pending.append((helper, files[helper]))
    return dict(sorted(found.items()))


def _location(exc: BaseException, files: set[str]) -> tuple[str, int] | None:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in files]
    return (frames[-1].filename, frames[-1].lineno) if frames else None


def _register_source(path: str, source: str) -> None:
    # Registered so tracebacks of stored (not on-disk) functions show their lines.
    linecache.cache[path] = (len(source), None, source.splitlines(True), path)


def load_action(source: str, filename: str, modules: dict[str, str] | None = None) -> Action:
    """Run a function file's module code, with its helper `modules` (tree path to source)
    importable, and return the Action it binds."""
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as exc:
        raise FunctionFileError(filename, exc.lineno or 0, f"syntax error: {exc.msg}") from None
    except ValueError as exc:  # a NUL character
        raise FunctionFileError(filename, 1, f"syntax error: {exc}") from None
    modules = modules or {}
    for path, text in {filename: source, **modules}.items():
        _register_source(path, text)
    importer = Importer(modules)
    namespace = importer.namespace(filename)
    try:
        exec(code, namespace)
    except (Exception, SystemExit) as exc:  # module code that exits is a broken file too
        path, line = _location(exc, {filename, *modules}) or (filename, 0)
        raise FunctionFileError(path, line, f"{type(exc).__name__} while loading: {exc}") from None
    actions = [v for v in namespace.values() if isinstance(v, Action) and v.filename == filename]
    if not actions:
        raise FunctionFileError(
            filename, 1, "no action found; bind `create_action(...)` at module level"
        )
    if len(actions) > 1:
        raise FunctionFileError(filename, actions[1].lineno, "one action per file")
    check_action(actions[0], filename)
    return actions[0]


@dataclass(frozen=True)
class Loaded:
    """A function file loaded for a deploy or a dry run, with the helpers it imports."""

    file: FunctionFile
    action: Action
    modules: dict[str, str] = field(default_factory=dict)

    @property
    def checksum(self) -> str:
        return checksum(self.file.source, self.modules)


def load_file(file: FunctionFile, tree: Tree) -> Loaded:
    """Check a function file of `tree` as deploy does: its imports, then its code."""
    modules = helpers_of(file.filename, file.source, tree.files)
    return Loaded(file, load_action(file.source, file.filename, modules), modules)


def check_action(action: Action, filename: str) -> None:
    def refuse(message: str) -> FunctionFileError:
        return FunctionFileError(filename, action.lineno, message)

    if not callable(action.exec):
        raise refuse("exec must be a function")
    if len(action.version) > 64:
        raise refuse("version must be at most 64 characters")
    if not isinstance(action.description, str) or not action.description.strip():
        raise refuse("description is required")
    if action.timeout is not None and not (
        isinstance(action.timeout, int | float) and action.timeout > 0
    ):
        raise refuse("timeout must be a positive number of seconds")
    # What a deploy stores must be storable: NUL, lone surrogates, 1e400 (storable.py).
    fields = ("description", "version", "input", "output")
    if found := storable.problems({name: getattr(action, name) for name in fields}):
        place = "/".join(str(p) for p in found[0]["path"])
        raise refuse(f"{place} cannot be stored: {found[0]['message']}")
    for which in ("input", "output"):
        schema = getattr(action, which)
        if schema is None:
            raise refuse(f"{which} schema is missing (use {{'type': 'null'}} for none)")
        if not isinstance(schema, dict):
            raise refuse(f"{which} schema must be a dict (JSON Schema)")
        try:
            validator_for(schema, default=jsonschema.Draft7Validator).check_schema(schema)
        except jsonschema.SchemaError as exc:
            path = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise refuse(f"invalid {which} schema at {path}: {exc.message}") from None


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
    # The tree files its code comes from (the action and its helpers), for stack traces.
    files: frozenset[str] = frozenset()

    @classmethod
    def of(cls, action: Action, files: set[str]) -> "Compiled":
        return cls(
            action, make_validator(action.input), make_validator(action.output), frozenset(files)
        )


def compiled(source: str, filename: str, modules: dict[str, str] | None = None) -> Compiled:
    """Load a function file with its helper modules and schema validators (the runner
    caches the result)."""
    return Compiled.of(load_action(source, filename, modules), {filename, *(modules or {})})


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

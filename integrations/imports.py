"""What function files may import, checked at deploy with file and line, and the loader
that builds the tree's helper modules from a version's stored sources, never from disk.

A function file may import the standard library, `nango`, the packages named in
FUNCTION_ALLOWED_IMPORTS, and helper modules of the tree: an action of `github` those of
`functions/github/lib/` and `functions/lib/`, a helper of `functions/lib/` only those of
`functions/lib/`. Relative imports work as in any package (`from ..lib.issues import x`
in `functions/github/actions/create_issue.py`), as do absolute ones
(`from functions.lib.text import slug`). Anything else is a module outside the tree: its
code would not be part of the version, so the version would not store what runs.

Each loaded version gets its own `Importer`: two versions of one helper never meet in a
process, and nothing lands in `sys.modules`.
"""

import ast
import builtins
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings

from nango.tree import LIB, PACKAGE, classify, module_name

ALWAYS_ALLOWED = frozenset(sys.stdlib_module_names) | {"nango"}


@dataclass(frozen=True)
class Refused(Exception):
    """An import a function file may not make; `reason` says why, for a person."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"import of {self.name!r}: {self.reason}"


def allowed_packages() -> frozenset[str]:
    extra = {p.strip() for p in settings.FUNCTION_ALLOWED_IMPORTS.split(",") if p.strip()}
    return ALWAYS_ALLOWED | extra


def package_of(path: str) -> str:
    """The package a tree file's relative imports start from."""
    name = module_name(path)
    return name if path.endswith("/__init__.py") else name.rpartition(".")[0]


def resolve(name: str, package: str, level: int) -> str:
    """The absolute name of `from <level dots><name> import ...` in `package`."""
    if level == 0:
        return name
    parts = package.split(".")
    if level > len(parts):
        raise Refused("." * level + name, f"it climbs above the {PACKAGE}/ folder")
    base = ".".join(parts[: len(parts) - level + 1])
    return f"{base}.{name}" if name else base


def in_tree(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def check_outside(name: str) -> None:
    """Refuse an import of a module outside the tree that is not allowed."""
    top = name.partition(".")[0]
    if top not in allowed_packages():
        raise Refused(
            name,
            "a module outside the functions tree (a function may import the standard "
            f"library, nango, modules of {PACKAGE}/{LIB}/ and of its integration's {LIB}/ "
            "folder, and the packages FUNCTION_ALLOWED_IMPORTS names)",
        )


def check_reach(importer: str, target: str) -> None:
    """Refuse a tree module that the file `importer` may not import."""
    kind = classify(importer)
    integration = kind[1] if kind else ""
    shared = f"{PACKAGE}.{LIB}"
    own = f"{PACKAGE}.{integration}.{LIB}" if integration else None
    for allowed in (shared, own):
        if allowed and (target == allowed or target.startswith(allowed + ".")):
            return
        if allowed and allowed.startswith(target + "."):
            return  # a folder on the way there (`from .. import lib`)
    parts = target.split(".")
    if len(parts) > 2 and parts[2] == "actions":
        reason = (
            "an action file cannot be imported: move the shared code to a lib/ folder, or "
            "run that action with nango.trigger_action()"
        )
    elif not integration:
        reason = f"modules of {PACKAGE}/{LIB}/ may import only from {PACKAGE}/{LIB}/"
    else:
        reason = (
            f"it is outside {PACKAGE}/{integration}/{LIB}/ and {PACKAGE}/{LIB}/ (code that "
            f"several integrations share goes in {PACKAGE}/{LIB}/)"
        )
    raise Refused(target, reason)


class TreeModules:
    """The tree's files by module name, and the packages (folders) they make. (Action files
    are among them only to be refused by name: `check_reach`.)"""

    def __init__(self, files: dict[str, str]):
        self.files = files
        self.by_name = {module_name(p): p for p in files if classify(p)}
        self.packages = {PACKAGE}
        for name, path in self.by_name.items():
            parts = name.split(".")
            self.packages |= {".".join(parts[:i]) for i in range(1, len(parts))}
            if path.endswith("/__init__.py"):
                self.packages.add(name)

    def exists(self, name: str) -> bool:
        return name in self.by_name or name in self.packages


def imports_in(path: str, tree: ast.AST, modules: TreeModules) -> Iterator[tuple[int, str]]:
    """(line, tree module) for every tree module the file's import statements reach;
    raises FileRefused (line, Refused) for an import it may not make."""
    package = package_of(path)
    for node in ast.walk(tree):
        try:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield from _reach(path, node.lineno, alias.name, (), modules)
            elif isinstance(node, ast.ImportFrom):
                base = resolve(node.module or "", package, node.level)
                names = tuple(a.name for a in node.names)
                yield from _reach(path, node.lineno, base, names, modules)
        except Refused as exc:
            raise FileRefused(node.lineno, exc) from None


def _reach(path: str, line: int, name: str, names: tuple, modules: TreeModules):
    if not in_tree(name):
        check_outside(name)
        return
    if not modules.exists(name):
        raise Refused(name, "no such module in the functions tree (a module outside the tree)")
    check_reach(path, name)
    yield line, name
    for item in names:
        if modules.exists(f"{name}.{item}"):
            check_reach(path, f"{name}.{item}")
            yield line, f"{name}.{item}"


@dataclass(frozen=True)
class FileRefused(Exception):
    line: int
    refused: Refused


class Importer:
    """`__import__` for the modules of one loaded version: tree modules come from its
    stored sources (executed once each, for this version only), everything else from the
    process once checked."""

    def __init__(self, files: dict[str, str]):
        self.modules = TreeModules(files)
        self.loaded: dict[str, types.ModuleType] = {}
        self.builtins = {**builtins.__dict__, "__import__": self.import_}

    def namespace(self, path: str) -> dict:
        """The globals of the tree file `path` (an action, or a helper being loaded)."""
        name = module_name(path)
        return {
            "__name__": name,
            "__file__": path,
            "__package__": package_of(path),
            "__builtins__": self.builtins,
        }

    def import_(self, name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__file__", "")
        package = (globals or {}).get("__package__") or ""
        try:
            absolute = resolve(name, package, level)
        except Refused as exc:
            raise ImportError(str(exc)) from None
        if not in_tree(absolute):
            try:
                check_outside(absolute)
            except Refused as exc:
                raise ImportError(str(exc), name=absolute) from None
            return builtins.__import__(absolute, globals, locals, fromlist, 0)
        module = self.load(absolute, importer)
        for item in fromlist or ():
            if item != "*" and not hasattr(module, item):
                if self.modules.exists(f"{absolute}.{item}"):
                    self.load(f"{absolute}.{item}", importer)
        if fromlist or level:
            return module
        return self.loaded[PACKAGE]

    def load(self, name: str, importer: str) -> types.ModuleType:
        if name in self.loaded:
            return self.loaded[name]
        if not self.modules.exists(name):
            raise ImportError(f"no module named {name!r} in this version's files", name=name)
        try:
            check_reach(importer, name)
        except Refused as exc:
            raise ImportError(str(exc), name=name) from None
        parent, _, leaf = name.rpartition(".")
        if parent:
            self.load(parent, importer)
        module = types.ModuleType(name)
        path = self.modules.by_name.get(name)
        if path is None:  # a folder: a namespace package
            module.__path__ = []
            module.__package__ = name
        else:
            module.__dict__.update(self.namespace(path))
            if path.endswith("/__init__.py"):
                module.__path__ = []
        self.loaded[name] = module
        if parent:
            setattr(self.loaded[parent], leaf, module)
        if path is not None:
            try:
                exec(compile(self.modules.files[path], path, "exec"), module.__dict__)
            except BaseException:
                del self.loaded[name]
                raise
        return module

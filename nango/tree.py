"""The function tree, as the platform and the `nango` CLI both read it.

    functions/<integration>/actions/<name>.py   one action (`create_issue.py` is `create-issue`)
    functions/<integration>/lib/...py           helper modules of that integration's actions
    functions/lib/...py                         helper modules every action may import
    functions/<integration>/tests/<name>.json   what `dryrun --save` recorded (not deployed)

Files are named by their path from the tree's parent, always starting `functions/` whatever
the folder is called on disk: that is the package name imports use
(`from ..lib.issues import x`, `from functions.lib.text import y`) and the file name stack
traces show. Pure Python, no Django: the CLI runs where only `requests` is installed.
"""

import json
import re
import subprocess
from pathlib import Path

PACKAGE = "functions"
LIB = "lib"

# Integration ids as the platform takes them (its Provider-Config-Key rule); helper module
# names are Python identifiers; action file names what an action name can be.
_INTEGRATION = re.compile(r"^[a-zA-Z0-9~:.@ _-]+$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STEM = re.compile(r"^[A-Za-z0-9_-]+$")


# `classify`'s rule as one regular expression, for the OpenAPI document's `files`.
_DIR = r"(?!\.{1,2}/)[a-zA-Z0-9~:.@ _-]+"
# A helper's module path (after lib/) is at most 255 characters, as an action's file name.
_MODULES = r"(?=[^\n]{1,255}\.py$)([A-Za-z_][A-Za-z0-9_]*/)*[A-Za-z_][A-Za-z0-9_]*"
PATH_PATTERN = (
    rf"^{PACKAGE}/({LIB}/|{_DIR}/{LIB}/){_MODULES}\.py$"
    rf"|^{PACKAGE}/{_DIR}/actions/[A-Za-z0-9_-]{{1,255}}\.py$"
)


def action_name(stem: str) -> str:
    return stem.replace("_", "-")


def action_path(integration: str, name: str) -> str:
    return f"{PACKAGE}/{integration}/actions/{name.replace('-', '_')}.py"


def classify(path: str) -> tuple[str, str, str] | None:
    """("action", integration, file stem) or ("helper", integration or "", module path)
    for a path of the tree; None for anything else."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != PACKAGE or not path.endswith(".py"):
        return None
    if parts[1] == LIB:
        integration, module = "", parts[2:]
    elif len(parts) >= 4 and parts[2] == LIB:
        integration, module = parts[1], parts[3:]
    elif len(parts) == 4 and parts[2] == "actions":
        stem = parts[3].removesuffix(".py")
        if _integration(parts[1]) and _STEM.fullmatch(stem):
            return "action", parts[1], stem
        return None
    else:
        return None
    module[-1] = module[-1].removesuffix(".py")
    if (integration and not _integration(integration)) or not all(
        _MODULE.fullmatch(m) for m in module
    ):
        return None
    return "helper", integration, "/".join(module)


def _integration(name: str) -> bool:
    return bool(_INTEGRATION.fullmatch(name)) and name not in (".", "..", LIB)


def module_name(path: str) -> str:
    """The dotted module name of a tree file: functions/github/lib/issues.py is
    functions.github.lib.issues; a package's __init__.py names the package."""
    name = path.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def read_tree(root: Path) -> dict[str, str]:
    """Every action and helper file under the folder `root`, by tree path."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        key = f"{PACKAGE}/{relative}"
        kind = classify(key)
        if kind is None or (kind[0] == "action" and kind[2].startswith("_")):
            continue
        found[key] = path.read_text()
    return found


def fixture_path(root: Path, integration: str, stem: str) -> Path:
    """Where `dryrun --save` writes an action's fixture, and the generated tests read it."""
    return root / integration / "tests" / f"{stem}.json"


def write_fixture(root: Path, integration: str, stem: str, fixture: dict) -> Path:
    path = fixture_path(root, integration, stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fixture, indent=2, sort_keys=True) + "\n")
    return path


def git_commit(folder: Path) -> str:
    """The commit checked out where `folder` is, "+dirty" when its files differ from it;
    "" outside a git work tree (or without git)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return ""
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "."],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    dirty = "+dirty" if status.returncode == 0 and status.stdout.strip() else ""
    return head.stdout.strip() + dirty

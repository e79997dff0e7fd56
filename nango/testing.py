"""Testing functions without the platform: replaying what `dryrun --save` recorded.

A fixture (`functions/<integration>/tests/<action>.json`) holds the input, the output,
every provider call the function made with the provider's answer, and every other SDK call
(connection, token, metadata, environment variables, other actions, locks) with its
answer. `replay()` runs the action from the working tree against a `nango` that answers
from the fixture, in order, and fails as soon as the function makes a call the fixture did
not record next. No database, no server, no network: only this package.

`generate_tests()` (`nango generate-tests`, `manage.py generate_tests`) writes one pytest
module per integration with one test per fixture.
"""

import asyncio
import importlib
import inspect
import json
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from nango.action import Action
from nango.context import NangoBase
from nango.errors import ActionTriggerError, HttpError
from nango.response import Response, ready, resolved
from nango.tree import PACKAGE


class ReplayMismatch(AssertionError):
    """The function made a call other than the one the fixture recorded next."""


@dataclass
class Replayed:
    output: object
    expected_output: object
    logs: list
    # Recorded calls (provider and SDK) the function did not make.
    unused_calls: list


def _plain(value: object) -> object:
    """`value` as JSON would carry it (tuples as lists, keys as strings)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return repr(value)


def _describe(call: dict) -> str:
    if "endpoint" in call:
        extra = {k: call[k] for k in ("params", "request_body") if call.get(k) is not None}
        return f"{call['method']} {call['endpoint']}" + (f" {json.dumps(extra)}" if extra else "")
    return f"nango.{call['method']}(*{json.dumps(call['args'])})"


class ReplayNango(NangoBase):
    """The `nango` a replayed function gets: every answer comes from the fixture."""

    def __init__(self, fixture: dict):
        connection = fixture.get("connection") or {}
        self.connection_id = connection.get("connection_id", "")
        self.provider_config_key = connection.get("provider_config_key", "")
        self.provider = connection.get("provider", "")
        self._preset = connection.get("paginate")
        self._calls = list(fixture.get("calls", []))
        self._sdk = list(fixture.get("nango", []))
        self.logs: list[dict] = []

    def paginate_preset(self) -> dict | None:
        return self._preset

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
        made = {
            "method": method.upper(),
            "endpoint": endpoint,
            "params": _plain(params),
            "request_body": _plain(data),
        }
        if not self._calls:
            raise ReplayMismatch(f"unrecorded provider call: {_describe(made)}")
        expected = self._calls.pop(0)
        if "endpoint" not in expected:
            raise ReplayMismatch(
                "this fixture was recorded by an older dryrun --save: save it again"
            )
        if {k: expected.get(k) for k in made} != made:
            raise ReplayMismatch(
                f"provider call {_describe(made)}; the fixture recorded {_describe(expected)}"
            )
        headers = {k.lower(): v for k, v in (expected.get("headers") or {}).items()}
        response = Response(status=expected["status"], headers=headers, data=expected["body"])
        if response.status >= 400:
            raise HttpError(
                f"{made['method']} {expected['url']} answered {response.status}", response
            )
        return response

    def _answer(self, method: str, args: list) -> object:
        made = {"method": method, "args": _plain(args)}
        if not self._sdk:
            raise ReplayMismatch(f"unrecorded call: {_describe(made)}")
        expected = self._sdk.pop(0)
        if expected.get("method") != method or expected.get("args") != made["args"]:
            raise ReplayMismatch(
                f"call {_describe(made)}; the fixture recorded {_describe(expected)}"
            )
        if "error" in expected:
            raise ActionTriggerError.from_payload(expected["error"])
        return expected.get("result")

    def get_connection(self) -> dict:
        return ready(self._answer("get_connection", []))

    def get_token(self) -> object:
        return ready(self._answer("get_token", []))

    def get_metadata(self) -> dict:
        return ready(self._answer("get_metadata", []))

    def set_metadata(self, metadata: dict) -> dict:
        return ready(self._answer("set_metadata", [metadata]))

    def update_metadata(self, metadata: dict) -> dict:
        return ready(self._answer("update_metadata", [metadata]))

    def get_environment_variables(self) -> list:
        return ready(self._answer("get_environment_variables", []))

    def trigger_action(self, action, input=None, connection_id=None, provider_config_key=None):
        args = [action, input, connection_id, provider_config_key]
        return resolved(self._answer("trigger_action", args))

    def try_acquire_lock(self, key: str, ttl: float) -> bool:
        return resolved(self._answer("try_acquire_lock", [key, ttl]))

    def release_lock(self, key: str) -> bool:
        return resolved(self._answer("release_lock", [key]))

    def release_all_locks(self) -> int:
        return resolved(self._answer("release_all_locks", []))

    def log(self, message: object, level: str = "info") -> None:
        self.logs.append({"level": level, "message": message})

    def unused(self) -> list:
        return self._calls + self._sdk


def _mount(root: Path) -> None:
    """Make `root` the `functions` package, so the action's imports of its helpers (relative,
    or `functions.…`) resolve as they do on the platform."""
    found = sys.modules.get(PACKAGE)
    if str(root) in [str(p) for p in getattr(found, "__path__", [])]:
        return
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(root)]
    sys.modules[PACKAGE] = package


def load_action(path: Path) -> Action:
    """The Action that the action file `functions/<integration>/actions/<name>.py` binds."""
    path = Path(path).resolve()
    _mount(path.parents[2])
    module = importlib.import_module(f"{PACKAGE}.{path.parent.parent.name}.actions.{path.stem}")
    actions = [v for v in vars(module).values() if isinstance(v, Action)]
    if len(actions) != 1:
        raise AssertionError(f"{path} binds {len(actions)} actions; it must bind one")
    return actions[0]


def replay(fixture_path: Path | str) -> Replayed:
    """Run the action of `functions/<integration>/tests/<name>.json` against its recording."""
    fixture_path = Path(fixture_path).resolve()
    fixture = json.loads(fixture_path.read_text())
    folder = fixture_path.parent.parent
    action = load_action(folder / "actions" / f"{fixture_path.stem}.py")
    nango = ReplayNango(fixture)
    output = action.exec(nango, fixture["input"])
    if inspect.iscoroutine(output):
        output = asyncio.run(output)
    return Replayed(_plain(output), fixture["output"], nango.logs, nango.unused())


MODULE = '''"""Replays the fixtures `dryrun --save` recorded for the {integration} integration.

Written by `nango generate-tests`, which overwrites it: regenerate after saving fixtures.
Each test runs an action of the working tree against what its fixture recorded (provider
answers, connection, metadata, other SDK calls), checks that it makes the same calls in
the same order, and that it returns the recorded output. Run with `pytest`.
"""

from pathlib import Path

from nango.testing import replay

FIXTURES = Path(__file__).resolve().parent
'''

TEST = """

def test_{name}():
    run = replay(FIXTURES / "{fixture}")
    assert run.output == run.expected_output
    assert run.unused_calls == []
"""


def _identifier(text: str) -> str:
    return re.sub(r"\W", "_", text)


def generate_tests(root: Path, integration: str = "") -> list[Path]:
    """Write `<root>/<integration>/tests/test_<integration>.py` for each integration with
    fixtures (or only `integration`); the paths written."""
    written = []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        if integration and folder.name != integration:
            continue
        fixtures = sorted((folder / "tests").glob("*.json"))
        if not fixtures:
            continue
        text = MODULE.format(integration=folder.name)
        for fixture in fixtures:
            text += TEST.format(name=_identifier(fixture.stem), fixture=fixture.name)
        path = folder / "tests" / f"test_{_identifier(folder.name)}.py"
        path.write_text(text)
        written.append(path)
    return written

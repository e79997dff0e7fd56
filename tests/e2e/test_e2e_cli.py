"""The function developer's workflow end to end: the `nango` CLI, run as CI runs it, from
a directory that holds only `functions/`, with the host and an environment's secret key
alone, against gunicorn over HTTP.

It deploys (a helper module's change makes new versions), dry-runs (the fixture is
written), generates tests that pass with pytest there, prunes and rolls back; a parent
action calls a child, two runs contend for a lock; bad input is refused with nothing
deployed; and the package installs alone in a fresh virtualenv.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pytest

from tests.processes import ROOT, manage

pytestmark = pytest.mark.e2e

NANGO = Path(sys.executable).with_name("nango")
TIMEOUT = 120
TOKEN = "gho_cli_e2e_token"

FMT = """
def label(number):
    return f"#{number}"
"""
WHOAMI = """
from nango import create_action

from ..lib.fmt import label

def run(nango, input):
    user = nango.get("/cli/user").data
    return {"login": user["login"], "label": label(7)}

action = create_action(description="Who am I", version="1.0.0", input={"type": "null"},
                       output={"type": "object"}, exec=run)
"""
HELLO = """
from nango import create_action

action = create_action(description="Hello", input={"type": "null"}, output={"type": "string"},
                       exec=lambda nango, input: "hello")
"""
CHILD = """
from nango import create_action

action = create_action(description="Child", input={"type": "object"}, output={"type": "object"},
                       exec=lambda nango, input: {"sum": sum(input["numbers"])})
"""
PARENT = """
from nango import create_action

def run(nango, input):
    return {"child": nango.trigger_action("add", {"numbers": input}), "by": "parent"}

action = create_action(description="Parent", input={"type": "array"}, output={"type": "object"},
                       exec=run)
"""
EXCLUSIVE = """
from nango import create_action

def run(nango, input):
    if not nango.try_acquire_lock("nightly-report", 60):
        return {"acquired": False}
    nango.get("/cli/hold")  # the fake provider answers when the test lets it
    return {"acquired": True}

action = create_action(description="Exclusive", input={"type": "null"},
                       output={"type": "object"}, exec=run, timeout=30)
"""


class Team:
    """An environment of the running platform, and a function repository for it."""

    def __init__(self, platform, secret: str, repo: Path):
        self.platform, self.secret, self.repo = platform, secret, repo
        self.api = platform.client(secret)

    def write(self, path: str, source: str) -> None:
        target = self.repo / "functions" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(source))

    def remove(self, path: str) -> None:
        (self.repo / "functions" / path).unlink()

    def cli(self, *args: str, key: str | None = None, module: bool = False, **env: str):
        """The CLI as CI runs it: its own process, in the repository, the platform's code
        nowhere on its path."""
        command = [sys.executable, "-m", "nango"] if module else [str(NANGO)]
        environ = {
            k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")
        }
        environ.update(NANGO_HOST=self.platform.url, NANGO_SECRET_KEY=self.secret, **env)
        if key is not None:
            environ["NANGO_SECRET_KEY"] = key
        return subprocess.run(
            [*command, *args],
            cwd=self.repo,
            env=environ,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str, **kwargs) -> str:
        done = self.cli(*args, **kwargs)
        assert done.returncode == 0, f"nango {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def pytest_passes(self, python: str, *options: str) -> None:
        """The repository's generated tests pass with that Python's pytest, run there."""
        environ = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        done = subprocess.run(
            [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options],
            cwd=self.repo,
            env=environ,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "1 passed" in done.stdout

    def trigger(self, action: str, input=None, key: str = "gh"):
        return self.platform.trigger(action, input, connection="alice", key=key, session=self.api)

    def versions(self, action: str) -> dict:
        r = self.api.get(f"{self.platform.url}/integrations/gh/functions/{action}/versions")
        assert r.status_code == 200, r.text
        return r.json()

    def executions(self) -> int:
        code = "from executions.models import Execution; print(Execution.objects.count())"
        return int(manage(self.platform.env, "shell", "-c", code).split()[-1])


@pytest.fixture(scope="module")
def team(platform, tmp_path_factory) -> Team:
    if not NANGO.exists():
        raise AssertionError(f"{NANGO} is missing: `make install` installs the nango package")
    secret = str(uuid.uuid4())
    manage(platform.env, "create_environment", "team", "--secret-key", secret)
    team = Team(platform, secret, tmp_path_factory.mktemp("repo"))
    r = team.api.post(
        platform.url + "/integrations", json={"unique_key": "gh", "provider": "github"}
    )
    assert r.status_code == 200, r.text
    body = {
        "provider_config_key": "gh",
        "connection_id": "alice",
        "credentials": {"type": "OAUTH2", "access_token": TOKEN},
    }
    assert team.api.post(platform.url + "/connections", json=body).status_code == 200
    platform.provider.route("GET", "/cli/user", json={"login": "octocat"})
    team.write("gh/lib/fmt.py", FMT)
    team.write("gh/actions/whoami.py", WHOAMI)
    team.write("gh/actions/hello.py", HELLO)
    return team


def test_the_cli_deploys_the_tree_and_a_helper_change_makes_new_versions(team):
    assert sorted(p.name for p in team.repo.iterdir()) == ["functions"]

    out = team.ok("deploy", "team", GITHUB_SHA="c0ffee0000000000000000000000000000000001")

    assert "gh/hello   created    1 (#1)" in out
    assert "gh/whoami  created    1.0.0 (#1)  with gh/lib/fmt.py" in out
    assert out.endswith("2 created, 0 updated, 0 unchanged in team\n")
    assert team.trigger("whoami").json() == {"login": "octocat", "label": "#7"}
    assert "0 created, 0 updated, 2 unchanged" in team.ok("deploy", module=True)

    team.write("gh/lib/fmt.py", FMT.replace('f"#{number}"', 'f"No. {number}"'))
    out = team.ok("deploy", module=True, GITHUB_SHA="c0ffee0000000000000000000000000000000002")

    assert "gh/whoami  updated    1.0.0 (#2)  with gh/lib/fmt.py" in out
    assert "gh/hello   unchanged" in out
    assert team.trigger("whoami").json() == {"login": "octocat", "label": "No. 7"}
    [two, one] = team.versions("whoami")["versions"]
    assert (two["number"], two["live"], two["deployed_via"], two["modules"]) == (
        2,
        True,
        "cli",
        ["functions/gh/lib/fmt.py"],
    )
    assert (two["commit"], one["commit"]) == (
        "c0ffee0000000000000000000000000000000002",
        "c0ffee0000000000000000000000000000000001",
    )
    assert two["deployed_by"]
    lines = team.ok("versions", "whoami").splitlines()
    assert lines[0] == "gh/whoami"
    assert lines[1].split() == ["#", "VERSION", "LIVE", "DEPLOYED", "VIA", "BY", "COMMIT"]
    assert lines[2].split()[:3] == ["2", "1.0.0", "live"] and "c0ffee000000" in lines[2]
    assert lines[3].split()[:2] == ["1", "1.0.0"] and " live " not in lines[3]


def test_a_dry_run_writes_the_fixture_and_the_generated_tests_pass_there(team):
    # The working tree's version, not the deployed one.
    team.write("gh/actions/whoami.py", WHOAMI.replace('"label": label(7)', '"label": label(8)'))
    before = team.executions()

    out = team.ok("dryrun", "whoami", "alice", "--save")

    assert '"label": "No. 8"' in out
    assert "-> GET " in out and "/cli/user 200" in out
    assert "saved functions/gh/tests/whoami.json" in out
    fixture = json.loads((team.repo / "functions/gh/tests/whoami.json").read_text())
    assert fixture["output"] == {"login": "octocat", "label": "No. 8"}
    assert [(c["method"], c["endpoint"]) for c in fixture["calls"]] == [("GET", "/cli/user")]
    assert TOKEN not in json.dumps(fixture)
    assert team.executions() == before  # a dry run stores nothing
    assert team.trigger("whoami").json()["label"] == "No. 7"

    out = team.ok("generate-tests")
    assert out == "wrote functions/gh/tests/test_gh.py\n"
    # This venv has pytest-django too: not for this repository's tests.
    team.pytest_passes(sys.executable, "-p", "no:django")


def test_rollback_pins_an_earlier_version_and_prune_disables_what_left_the_tree(team):
    team.write("gh/actions/whoami.py", WHOAMI)
    out = team.ok("rollback", "whoami")
    assert "gh/whoami: #1 (1.0.0) is live (was #2)" in out
    assert "pinned: deploys leave it alone until `nango unpin whoami`" in out
    assert team.trigger("whoami").json()["label"] == "#7"  # #1 runs the helper it shipped with
    assert "gh/whoami  pinned     1.0.0 (#1)" in team.ok("deploy")

    team.ok("unpin", "whoami")
    assert "gh/whoami  updated    1.0.0 (#3)" in team.ok("deploy")
    assert team.trigger("whoami").json()["label"] == "No. 7"
    assert team.ok("rollback", "whoami", "--to", "1", "--no-pin").startswith(
        "gh/whoami: #1 (1.0.0) is live (was #3)"
    )
    assert team.versions("whoami")["pinned"] is False
    assert "gh/whoami  updated    1.0.0 (#4)" in team.ok("deploy")

    ran = team.trigger("hello")
    assert ran.json() == "hello"
    team.remove("gh/actions/hello.py")
    out = team.ok("deploy")
    assert "gh/hello   not in the tree  1 (#1)" in out
    assert team.trigger("hello").status_code == 200  # still live without --prune

    out = team.ok("deploy", "--prune")
    listed = out.index("--prune disables 1 function(s) no longer in the tree:\n  gh/hello\n")
    assert listed < out.index("gh/hello   disabled (pruned)")
    r = team.trigger("hello")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "disabled_resource")
    # Disabled, not deleted: its runs stay readable.
    old = team.api.get(f"{team.platform.url}/executions/{ran.headers['X-Execution-Id']}")
    assert (old.status_code, old.json()["output"]) == (200, "hello")
    assert team.versions("hello")["enabled"] is False


def test_a_parent_action_calls_a_child_and_both_runs_are_recorded_and_linked(team):
    team.write("gh/actions/add.py", CHILD)
    team.write("gh/actions/sum_up.py", PARENT)
    team.ok("deploy")

    r = team.trigger("sum-up", [1, 2, 3])

    assert r.json() == {"child": {"sum": 6}, "by": "parent"}
    url = f"{team.platform.url}/executions/"
    parent = team.api.get(url + r.headers["X-Execution-Id"]).json()
    [child_id] = parent["children"]
    child = team.api.get(url + child_id).json()
    assert (child["action_name"], child["status"], child["output"]) == (
        "add",
        "succeeded",
        {"sum": 6},
    )
    assert (child["parent_id"], parent["parent_id"]) == (parent["id"], None)
    assert child["input"] == {"numbers": [1, 2, 3]}


def test_two_concurrent_runs_contend_for_one_lock(team):
    entered, release = threading.Event(), threading.Event()

    def hold(request):
        entered.set()
        release.wait(20)
        return 200, {}, {"ok": True}

    team.platform.provider.route("GET", "/cli/hold", hold)
    team.write("gh/actions/exclusive.py", EXCLUSIVE)
    team.ok("deploy")
    first = {}
    thread = threading.Thread(target=lambda: first.update(r=team.trigger("exclusive")))
    thread.start()
    try:
        assert entered.wait(20), "the first run never took the lock"
        second = team.trigger("exclusive")
        assert second.json() == {"acquired": False}
    finally:
        release.set()
        thread.join(30)
    assert first["r"].json() == {"acquired": True}
    # Released when the first run ended.
    entered.clear()
    assert team.trigger("exclusive").json() == {"acquired": True}


@pytest.mark.parametrize(
    "path, source, message",
    [
        (
            "gh/actions/broken.py",
            "from nango import create_action\n\ndef run(nango, input:\n    pass\n",
            "functions/gh/actions/broken.py:3: syntax error",
        ),
        (
            "gh/actions/broken.py",
            "from nango import create_action\nimport integrations.models\n",
            "functions/gh/actions/broken.py:2: import of 'integrations.models': a module "
            "outside the functions tree",
        ),
        (
            "gh/lib/fmt.py",
            "import helpers_on_my_laptop\n",
            "functions/gh/lib/fmt.py:1: import of 'helpers_on_my_laptop': a module outside "
            "the functions tree",
        ),
    ],
)
def test_a_broken_tree_is_refused_with_file_and_line_and_nothing_deployed(
    team, path, source, message
):
    before = team.versions("whoami")["versions"]
    target = team.repo / "functions" / path
    kept = target.read_text() if target.exists() else None
    team.write(path, source)
    try:
        done = team.cli("deploy")
    finally:
        if kept is None:
            target.unlink()
        else:
            target.write_text(kept)
    assert done.returncode == 1
    assert done.stderr.startswith("error: 400 invalid_functions: Nothing was deployed")
    assert f"  {message}" in done.stderr
    assert team.versions("whoami")["versions"] == before


def test_a_rollback_to_an_unknown_version_and_a_wrong_key_are_refused(team):
    before = team.versions("whoami")
    done = team.cli("rollback", "whoami", "--to", "99")
    assert done.returncode == 1
    assert done.stderr == "error: 404 unknown_version: gh/whoami has no version '99'\n"
    assert team.versions("whoami") == before

    team.write("gh/actions/late.py", HELLO)
    try:
        done = team.cli("deploy", key="not-the-key")
        assert done.returncode == 1
        assert done.stderr.startswith("error: 401 unknown_account")
        done = team.cli("deploy", key="")
        assert (done.returncode, done.stderr) == (
            1,
            "error: no secret key: set NANGO_SECRET_KEY or pass --secret-key\n",
        )
        # Naming the environment guards against the key of another one.
        done = team.cli("deploy", "team", key=team.platform.secret)
        assert done.returncode == 1
        assert "  This secret key belongs to environment 'e2e', not 'team'." in done.stderr
    finally:
        team.remove("gh/actions/late.py")
    r = team.api.get(f"{team.platform.url}/integrations/gh/functions/late/versions")
    assert r.status_code == 404


def test_the_package_installs_alone_and_its_cli_and_tests_run_without_the_platform(team, tmp_path):
    # The distribution is pyproject.toml, the README and nango/: install from a copy of
    # them alone (which also keeps the build's files out of the repository).
    source = tmp_path / "source"
    shutil.copytree(ROOT / "nango", source / "nango", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=TIMEOUT)
    pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
    pytest_pin = next(
        line.strip()
        for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
        if line.startswith("pytest==")
    )
    done = subprocess.run(
        [*pip, str(source), pytest_pin], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    python = str(venv / "bin" / "python")
    missing = subprocess.run(
        [python, "-c", "import importlib.util as u; print(u.find_spec('django'))"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert missing.stdout.strip() == "None"  # the platform is not in this venv

    environ = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    environ.update(NANGO_HOST=team.platform.url, NANGO_SECRET_KEY=team.secret)

    def nango(*args: str) -> str:
        done = subprocess.run(
            [str(venv / "bin" / "nango"), *args],
            cwd=team.repo,
            env=environ,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "(dry run: nothing was stored)" in nango("deploy", "--dry-run")
    # The fixture recorded earlier no longer matches the tree (the earlier test changed
    # whoami back): record it again, as a developer would, and the tests pass.
    assert "saved functions/gh/tests/whoami.json" in nango("dryrun", "whoami", "alice", "--save")
    team.pytest_passes(python)

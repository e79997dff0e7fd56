"""`generate-tests`: pytest modules that replay the saved fixtures, run in a function
repository without the platform (no Django, no database, no network)."""

import json
import os
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from nango.errors import ActionTriggerError
from nango.testing import ReplayMismatch, ReplayNango, generate_tests, replay

FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"


def run_pytest(folder: Path) -> subprocess.CompletedProcess:
    """pytest in `folder` as a function repository runs it: no Django settings, no
    pytest-django, nothing of the platform on the path but the installed nango package."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:django", "-p", "no:cacheprovider"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def repo(tmp_path) -> Path:
    """A function repository: a copy of the shipped functions/ tree, nothing else."""
    shutil.copytree(FUNCTIONS, tmp_path / "functions")
    return tmp_path


def test_it_writes_a_module_per_integration_that_passes_without_the_platform(repo):
    written = generate_tests(repo / "functions")

    assert sorted(p.relative_to(repo).as_posix() for p in written) == [
        "functions/github/tests/test_github.py",
        "functions/hubspot/tests/test_hubspot.py",
        "functions/linear/tests/test_linear.py",
        "functions/notion/tests/test_notion.py",
        "functions/slack/tests/test_slack.py",
    ]
    module = (repo / "functions/github/tests/test_github.py").read_text()
    assert "def test_create_issue():" in module and "def test_list_repo_issues():" in module
    done = run_pytest(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 passed" in done.stdout


def test_a_generated_test_fails_when_the_function_changes_its_calls(repo):
    generate_tests(repo / "functions", "github")
    helper = repo / "functions/github/lib/repos.py"
    helper.write_text(helper.read_text().replace("/repos/", "/repositories/"))

    done = run_pytest(repo)

    assert done.returncode == 1
    assert "2 failed" in done.stdout
    assert "ReplayMismatch: provider call POST /repositories/octocat/Hello-World/issues" in (
        done.stdout
    )


def test_a_generated_test_fails_when_the_output_changes(repo):
    generate_tests(repo / "functions", "github")
    action = repo / "functions/github/actions/create_issue.py"
    action.write_text(action.read_text().replace('"number": r.data["number"]', '"number": 0'))
    done = run_pytest(repo)
    assert done.returncode == 1
    assert "1 failed, 1 passed" in done.stdout


def test_the_management_command_writes_the_same_modules(repo, settings):
    settings.FUNCTIONS_DIR = repo / "functions"
    out = StringIO()
    call_command("generate_tests", "--integration", "slack", stdout=out)
    assert out.getvalue() == f"wrote {repo / 'functions/slack/tests/test_slack.py'}\n"
    settings.FUNCTIONS_DIR = repo / "nothing"
    with pytest.raises(CommandError, match="no fixtures under"):
        call_command("generate_tests", stdout=StringIO())


FIXTURE = {
    "input": None,
    "output": None,
    "connection": {"connection_id": "c", "provider_config_key": "github", "provider": "github"},
    "calls": [
        {
            "method": "GET",
            "endpoint": "/user",
            "params": None,
            "url": "https://api.github.com/user",
            "request_body": None,
            "status": 403,
            "headers": {"content-type": "application/json"},
            "body": {"message": "forbidden"},
        }
    ],
    "nango": [
        {"method": "set_metadata", "args": [{"a": 1}], "result": {"a": 1}},
        {
            "method": "trigger_action",
            "args": ["child", {"n": 1}, None, None],
            "error": {
                "message": "the action 'child' failed: boom",
                "action": "child",
                "error": {"code": "action_script_runtime_error", "message": "boom"},
                "status": 500,
                "execution_id": "e-1",
            },
        },
    ],
}


def test_the_replay_answers_from_the_fixture_in_order_and_refuses_anything_else():
    nango = ReplayNango(json.loads(json.dumps(FIXTURE)))
    with pytest.raises(ReplayMismatch, match=r"nango.set_metadata\(\*\[\{\"a\": 2\}\]\)"):
        nango.set_metadata({"a": 2})

    nango = ReplayNango(json.loads(json.dumps(FIXTURE)))
    assert nango.set_metadata({"a": 1}) == {"a": 1}
    with pytest.raises(ActionTriggerError) as caught:
        nango.trigger_action("child", {"n": 1})
    assert (caught.value.status, caught.value.execution_id) == (500, "e-1")
    with pytest.raises(Exception) as http:
        nango.get("/user")
    assert http.value.response.status == 403  # recorded non-2xx answers raise as they did
    with pytest.raises(ReplayMismatch, match="unrecorded provider call: GET /user"):
        nango.get("/user")
    assert nango.unused() == []


def test_a_fixture_from_an_older_recording_says_to_record_it_again(tmp_path):
    action = tmp_path / "functions/github/actions/me.py"
    action.parent.mkdir(parents=True)
    action.write_text(
        "from nango import create_action\n"
        "action = create_action(description='me', input={}, output={},\n"
        "                       exec=lambda nango, input: nango.get('/user').data)\n"
    )
    old = {**FIXTURE, "calls": [{k: v for k, v in FIXTURE["calls"][0].items() if k != "endpoint"}]}
    fixture = tmp_path / "functions/github/tests/me.json"
    fixture.parent.mkdir()
    fixture.write_text(json.dumps(old))
    with pytest.raises(ReplayMismatch, match="older dryrun --save: save it again"):
        replay(fixture)

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from conftest import make_integration
from integrations.models import Function, FunctionVersion

pytestmark = pytest.mark.django_db

GOOD = """from nango import create_action


def run(nango, input):
    return {"ok": True}


action = create_action(
    description="Good",
    version="1.0.0",
    input={"type": "object"},
    output={"type": "object"},
    exec=run,
)
"""


def write(root, integration: str, name: str, source: str):
    folder = root / integration / "actions"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(source)


def run_deploy(*args) -> str:
    out = StringIO()
    call_command("deploy", "dev", *args, stdout=out)
    return out.getvalue()


def test_it_deploys_new_changed_and_unchanged_functions(world, settings):
    root = settings.FUNCTIONS_DIR
    write(root, "github", "create_issue", GOOD)
    out = run_deploy()
    assert "github/create-issue  created" in out
    assert "1 created, 0 updated, 0 unchanged in dev" in out

    assert "0 created, 0 updated, 1 unchanged" in run_deploy()
    assert FunctionVersion.objects.count() == 1

    write(root, "github", "create_issue", GOOD.replace("Good", "Better"))
    assert "github/create-issue  updated" in run_deploy()
    versions = FunctionVersion.objects.order_by("number")
    assert [(v.number, v.active, v.description) for v in versions] == [
        (1, False, "Good"),
        (2, True, "Better"),
    ]


def test_it_keeps_the_enabled_flag_across_deploys(world, settings):
    write(settings.FUNCTIONS_DIR, "github", "create_issue", GOOD)
    run_deploy()
    Function.objects.update(enabled=False)
    write(settings.FUNCTIONS_DIR, "github", "create_issue", GOOD.replace("Good", "Other"))
    run_deploy()
    assert Function.objects.get().enabled is False


def test_it_filters_by_action_and_integration(world, settings):
    write(settings.FUNCTIONS_DIR, "github", "one", GOOD)
    write(settings.FUNCTIONS_DIR, "github", "two", GOOD)
    assert "github/two" in run_deploy("--action", "two")
    assert list(Function.objects.values_list("name", flat=True)) == ["two"]
    with pytest.raises(CommandError, match="no function files match"):
        run_deploy("--integration", "slack")


@pytest.mark.parametrize(
    "source, message",
    [
        ("def broken(:\n    pass\n", "functions/github/actions/bad.py:1: syntax error"),
        (
            "import json\nimport nothing_here\n",
            "bad.py:2: import of 'nothing_here': a module outside the functions tree",
        ),
        ("x = 1 / 0\n", "bad.py:1: ZeroDivisionError while loading: division by zero"),
        ("x = 1\n", "bad.py:1: no action found"),
        (GOOD.replace('input={"type": "object"},', ""), "bad.py:8: input schema is missing"),
        (
            GOOD.replace('input={"type": "object"}', 'input={"type": "objekt"}'),
            "bad.py:8: invalid input schema at type",
        ),
        (GOOD.replace("exec=run", "exec=42"), "bad.py:8: exec must be a function"),
        (GOOD.replace('description="Good"', 'description=""'), "bad.py:8: description is required"),
        (
            GOOD.replace('description="Good"', 'description="a\\x00b"'),
            "bad.py:8: description cannot be stored: NUL",
        ),
        (
            GOOD.replace('input={"type": "object"}', 'input={"maximum": float("inf")}'),
            "bad.py:8: input/maximum cannot be stored: Numbers must be finite",
        ),
    ],
)
def test_it_refuses_a_broken_batch_naming_file_and_line(world, settings, source, message):
    write(settings.FUNCTIONS_DIR, "github", "good", GOOD)
    write(settings.FUNCTIONS_DIR, "github", "bad", source)
    with pytest.raises(CommandError) as caught:
        run_deploy()
    assert "nothing was deployed" in str(caught.value)
    assert message in str(caught.value)
    assert Function.objects.count() == 0  # the good file did not go out either


def test_it_refuses_functions_of_an_unknown_integration(world, settings):
    write(settings.FUNCTIONS_DIR, "notion", "create_page", GOOD)
    with pytest.raises(CommandError, match="integration 'notion' does not exist"):
        run_deploy("--integration", "notion")
    with pytest.raises(CommandError, match="none of the integrations .* exists in dev: notion"):
        run_deploy()
    assert Function.objects.count() == 0


def test_a_whole_tree_skips_integrations_the_environment_lacks_and_says_so(world, settings):
    """`deploy dev` right after the quick start: only github exists, as in the examples."""
    write(settings.FUNCTIONS_DIR, "github", "create_issue", GOOD)
    write(settings.FUNCTIONS_DIR, "slack", "post_message", GOOD)
    write(settings.FUNCTIONS_DIR, "slack", "list_channels", GOOD)
    write(settings.FUNCTIONS_DIR, "notion", "create_page", GOOD)
    out, err = StringIO(), StringIO()
    call_command("deploy", "dev", stdout=out, stderr=err)
    assert "github/create-issue  created    1.0.0 (#1)" in out.getvalue()
    assert "1 created, 0 updated, 0 unchanged in dev" in out.getvalue()
    assert err.getvalue().splitlines() == [
        "skipped notion/ (1 function): no integration 'notion' in dev (create it with "
        "POST /integrations to deploy them)",
        "skipped slack/ (2 functions): no integration 'slack' in dev (create it with "
        "POST /integrations to deploy them)",
    ]
    assert list(Function.objects.values_list("name", flat=True)) == ["create-issue"]


def test_it_refuses_an_unknown_environment(world):
    with pytest.raises(CommandError, match="no environment named 'prod'"):
        call_command("deploy", "prod", stdout=StringIO())


def test_it_creates_an_environment_and_prints_its_keys_once(db):
    out = StringIO()
    call_command("create_environment", "prod", "--secret-key", "my-secret-key-1234", stdout=out)
    assert "secret key: my-secret-key-1234" in out.getvalue()
    from integrations.models import Environment

    env = Environment.objects.get(name="prod")
    assert env.secret_key_hash != "my-secret-key-1234"
    assert Environment.objects.by_secret_key("my-secret-key-1234") == env
    assert Environment.objects.by_secret_key("my-secret-key-1235") is None
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_environment", "prod", stdout=StringIO())


def test_it_names_functions_no_longer_in_the_tree_and_prune_disables_them(world, settings):
    root = settings.FUNCTIONS_DIR
    for name in ("keep", "gone"):
        write(root, "github", name, GOOD)
    slack = make_integration(world.env, "slack", "slack")
    write(root, "slack", "other", GOOD)
    run_deploy()
    (root / "github" / "actions" / "gone.py").unlink()

    out = run_deploy("--integration", "github")
    assert "github/gone  not in the tree" in out
    assert "1 not in the tree (`--prune` disables them)" in out
    assert "slack/other" not in out  # outside the deployed scope
    assert Function.objects.get(name="gone").enabled is True

    out = run_deploy("--prune")
    # Listed before, in the table after; disabled, never deleted.
    assert out.index("--prune disables 1 function(s) no longer in the tree:\n  github/gone") < (
        out.index("github/gone  disabled (pruned)")
    )
    gone = Function.objects.get(name="gone")
    assert (gone.enabled, gone.versions.count()) == (False, 1)
    assert Function.objects.get(integration=slack).enabled is True
    assert "github/gone" not in run_deploy()  # already disabled: not listed again

    # Back in the tree: enabled again.
    write(root, "github", "gone", GOOD)
    assert "github/gone  restored" in run_deploy()
    assert Function.objects.get(name="gone").enabled is True


def test_a_dry_run_checks_and_lists_but_stores_nothing(world, settings):
    write(settings.FUNCTIONS_DIR, "github", "create_issue", GOOD)
    out = run_deploy("--dry-run")
    assert "github/create-issue  created" in out
    assert "in dev (dry run: nothing was stored)" in out
    assert Function.objects.count() == 0
    run_deploy()
    write(settings.FUNCTIONS_DIR, "github", "create_issue", GOOD.replace("Good", "Better"))
    assert "github/create-issue  updated    1.0.0 (#2)" in run_deploy("--dry-run", "--prune")
    assert FunctionVersion.objects.get().description == "Good"


def test_it_records_who_deployed_and_the_git_commit(world, settings, tmp_path):
    import subprocess

    root = settings.FUNCTIONS_DIR
    write(root, "github", "create_issue", GOOD)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", str(tmp_path)], check=True)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "first"], cwd=tmp_path, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    run_deploy()
    version = FunctionVersion.objects.get()
    assert (version.deployed_via, version.commit) == ("command", head)
    assert version.deployed_by  # the OS user

    write(root, "github", "create_issue", GOOD.replace("Good", "Dirty"))
    run_deploy()
    assert FunctionVersion.objects.get(active=True).commit == head + "+dirty"


def test_a_pinned_function_is_left_alone(world, settings):
    write(settings.FUNCTIONS_DIR, "github", "create_issue", GOOD)
    run_deploy()
    Function.objects.update(pinned=True)
    write(settings.FUNCTIONS_DIR, "github", "create_issue", GOOD.replace("Good", "Better"))
    out = run_deploy()
    assert "github/create-issue  pinned     1.0.0 (#1)" in out
    assert "1 pinned (left alone)" in out
    assert FunctionVersion.objects.count() == 1

"""Helper modules: what functions may import, how deploy versions them, and that a run
imports exactly what its version stored."""

import sys

import pytest
import responses

from conftest import trigger
from integrations.deploy import DeployError, deploy
from integrations.functions import Tree, checksum, compiled
from integrations.models import Function, FunctionVersion

ACTION = "functions/github/actions/{}.py"

USES_ISSUES = """
from nango import create_action

from ..lib.issues import title_of

def run(nango, input):
    return {"title": title_of(input)}

action = create_action(description="Title", input={"type": "object"},
                       output={"type": "object"}, exec=run)
"""

USES_TEXT = """
from nango import create_action
from functions.lib.text import shout

def run(nango, input):
    return {"said": shout(input["word"])}

action = create_action(description="Shout", input={"type": "object"},
                       output={"type": "object"}, exec=run)
"""

STANDALONE = """
import json
from nango import create_action

action = create_action(description="Alone", input={"type": "null"}, output={"type": "string"},
                       exec=lambda nango, input: json.dumps([1]))
"""

ISSUES = """
from ...lib import text

def title_of(input):
    return text.shout(input["title"])
"""

TEXT = """
def shout(word):
    return word.upper() + "!"
"""


def tree(**overrides: str) -> Tree:
    files = {
        ACTION.format("titled"): USES_ISSUES,
        ACTION.format("shouted"): USES_TEXT,
        ACTION.format("alone"): STANDALONE,
        "functions/github/lib/issues.py": ISSUES,
        "functions/lib/text.py": TEXT,
    }
    for path, source in overrides.items():
        files[path.replace("__", "/") + ".py"] = source
    return Tree(files)


def live(name: str) -> FunctionVersion:
    return FunctionVersion.objects.get(function__name=name, active=True)


def test_it_versions_each_action_with_the_helpers_it_imports(world):
    changes = {c.name: c for c in deploy(world.env, tree())}

    assert changes["titled"].modules == ["functions/github/lib/issues.py", "functions/lib/text.py"]
    assert changes["shouted"].modules == ["functions/lib/text.py"]
    assert changes["alone"].modules == []
    titled = live("titled")
    assert titled.modules == {
        "functions/github/lib/issues.py": ISSUES,
        "functions/lib/text.py": TEXT,
    }
    assert titled.checksum == checksum(titled.source, titled.modules)
    # An action without helpers keeps the checksum of its source alone.
    assert live("alone").checksum == checksum(STANDALONE)


def test_a_helper_change_is_a_new_version_of_every_action_importing_it(world):
    deploy(world.env, tree())
    changed = TEXT.replace('"!"', '"!!"')

    outcomes = {c.name: c.outcome for c in deploy(world.env, tree(functions__lib__text=changed))}

    assert outcomes == {"titled": "updated", "shouted": "updated", "alone": "unchanged"}
    assert (
        live("shouted").number == 2 and live("shouted").modules["functions/lib/text.py"] == changed
    )
    # The first version still holds what it ran with.
    first = FunctionVersion.objects.get(function__name="shouted", number=1)
    assert first.modules["functions/lib/text.py"] == TEXT
    # A helper no action imports changes nothing.
    again = deploy(world.env, tree(functions__lib__text=changed, functions__lib__unused="x = 1\n"))
    assert {c.outcome for c in again} == {"unchanged"}


@responses.activate
def test_a_run_imports_the_helpers_its_version_stored(tworld, api):
    deploy(tworld.env, tree())
    deploy(tworld.env, tree(functions__lib__text=TEXT.replace('"!"', '"?"')))
    v1, v2 = FunctionVersion.objects.filter(function__name="shouted").order_by("number")

    # Both versions loaded in one process, each with its own helper: nothing is shared
    # through sys.modules, nothing is read from disk.
    first = compiled(v1.source, v1.filename, v1.modules).action.exec(None, {"word": "hi"})
    second = compiled(v2.source, v2.filename, v2.modules).action.exec(None, {"word": "hi"})
    assert (first, second) == ({"said": "HI!"}, {"said": "HI?"})

    r = trigger(api, "titled", {"title": "bug"})
    assert r.status_code == 200, r.content
    assert r.json() == {"title": "BUG?"}
    assert "functions.lib.text" not in sys.modules


@responses.activate
def test_a_helpers_frames_are_in_the_trimmed_stack(tworld, api):
    broken = "def title_of(input):\n    return input['nope']\n"
    deploy(tworld.env, tree(functions__github__lib__issues=broken))

    r = trigger(api, "titled", {"title": "x"})

    assert r.status_code == 500
    payload = r.json()["error"]["payload"]
    assert payload["name"] == "KeyError"
    assert payload["stacktrace"][-1].startswith(
        'File "functions/github/lib/issues.py", line 2, in title_of'
    )
    assert any("functions/github/actions/titled.py" in line for line in payload["stacktrace"])


@pytest.mark.parametrize(
    "path, source, message",
    [
        (
            ACTION.format("bad"),
            "import os\nimport requests\n",
            "functions/github/actions/bad.py:2: import of 'requests': a module outside the "
            "functions tree",
        ),
        (
            ACTION.format("bad"),
            "\n\nfrom ..lib.nowhere import x\n",
            "functions/github/actions/bad.py:3: import of 'functions.github.lib.nowhere': no "
            "such module in the functions tree",
        ),
        (
            ACTION.format("bad"),
            "from .... import x\n",
            "functions/github/actions/bad.py:1: import of '....': it climbs above the "
            "functions/ folder",
        ),
        (
            ACTION.format("bad"),
            "from .titled import run\n",
            "functions/github/actions/bad.py:1: import of 'functions.github.actions.titled': an "
            "action file cannot be imported",
        ),
        (
            ACTION.format("bad"),
            "from functions.slack.lib.chat import post\n",
            "functions/github/actions/bad.py:1: import of 'functions.slack.lib.chat': it is "
            "outside functions/github/lib/ and functions/lib/",
        ),
        (
            "functions/lib/text.py",
            "from functions.github.lib import issues\n",
            "functions/lib/text.py:1: import of 'functions.github.lib': modules of "
            "functions/lib/ may import only from functions/lib/",
        ),
        (
            "functions/github/lib/issues.py",
            "def title_of(input):\n    import integrations.models\n",
            "functions/github/lib/issues.py:2: import of 'integrations.models': a module "
            "outside the functions tree",
        ),
        (
            "functions/github/lib/issues.py",
            "def title_of(input:\n",
            "functions/github/lib/issues.py:1: syntax error",
        ),
        (
            "functions/github/lib/issues.py",
            "BROKEN = 1 / 0\n",
            "functions/github/lib/issues.py:1: ZeroDivisionError while loading",
        ),
    ],
)
def test_it_refuses_a_tree_whose_imports_leave_it_naming_file_and_line(
    world, path, source, message
):
    files = dict(tree().files)
    files["functions/slack/lib/chat.py"] = "def post():\n    pass\n"
    files[path] = source

    with pytest.raises(DeployError) as caught:
        deploy(world.env, Tree(files))

    assert any(p.startswith(message) for p in caught.value.problems), caught.value.problems
    assert Function.objects.count() == 0


def test_allowed_imports_are_the_settings_packages(world, settings):
    source = STANDALONE.replace("import json", "import json\nimport jsonschema")
    with pytest.raises(DeployError) as caught:
        deploy(world.env, tree(functions__github__actions__alone=source))
    assert "import of 'jsonschema'" in caught.value.problems[0]
    settings.FUNCTION_ALLOWED_IMPORTS = "requests, jsonschema"
    assert {
        c.outcome for c in deploy(world.env, tree(functions__github__actions__alone=source))
    } == {"created"}


def test_a_package_in_lib_imports_as_a_package(world):
    action = USES_ISSUES.replace(
        "from ..lib.issues import title_of", "from ..lib.fmt import title_of"
    )
    files = {
        ACTION.format("titled"): action,
        "functions/github/lib/fmt/__init__.py": "from .core import title_of\n",
        "functions/github/lib/fmt/core.py": "def title_of(input):\n    return input['title']\n",
    }
    [change] = deploy(world.env, Tree(files))
    assert change.modules == [
        "functions/github/lib/fmt/__init__.py",
        "functions/github/lib/fmt/core.py",
    ]
    version = live("titled")
    assert compiled(version.source, version.filename, version.modules).action.exec(
        None, {"title": "t"}
    ) == {"title": "t"}


def test_a_runtime_import_of_a_module_outside_the_tree_fails_the_run(world):
    source = STANDALONE.replace(
        "exec=lambda nango, input: json.dumps([1])",
        "exec=lambda nango, input: __import__('integrations').__name__",
    )
    loaded = compiled(source, ACTION.format("alone"))
    with pytest.raises(ImportError, match="outside the functions tree"):
        loaded.action.exec(None, None)

"""POST /functions/deploy: manage.py deploy over HTTP, with the files posted."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from conftest import OTHER_SECRET, make_integration
from integrations.models import Function, FunctionVersion
from nango.tree import read_tree

GOOD = """from nango import create_action

from ..lib.fmt import ok


def run(nango, input):
    return ok()


action = create_action(
    description="Good",
    version="1.0.0",
    input={"type": "object"},
    output={"type": "object"},
    exec=run,
)
"""
FMT = "def ok():\n    return {'ok': True}\n"


def files(**extra: str) -> dict:
    found = {
        "functions/github/actions/create_issue.py": GOOD,
        "functions/github/lib/fmt.py": FMT,
    }
    found.update(extra)
    return found


def post(api, body: dict, **headers):
    return api.post("/functions/deploy", body, format="json", **headers)


def test_it_deploys_the_posted_files_and_answers_the_table(world, api):
    r = post(api, {"files": files(), "commit": "0123abcd", "deployed_by": "ci-bot"})

    assert r.status_code == 200, r.content
    assert r.json() == {
        "environment": "dev",
        "dry_run": False,
        "changes": [
            {
                "integration": "github",
                "name": "create-issue",
                "outcome": "created",
                "version": "1.0.0",
                "number": 1,
                "modules": ["functions/github/lib/fmt.py"],
            }
        ],
        "summary": {
            "created": 1,
            "updated": 0,
            "unchanged": 0,
            "restored": 0,
            "pinned": 0,
            "not_in_tree": 0,
            "disabled": 0,
        },
    }
    version = FunctionVersion.objects.get()
    assert (version.deployed_via, version.deployed_by, version.commit) == (
        "api",
        "ci-bot",
        "0123abcd",
    )
    assert version.modules == {"functions/github/lib/fmt.py": FMT}
    assert post(api, {"files": files()}).json()["summary"]["unchanged"] == 1


def test_the_cli_is_told_apart_by_its_user_agent(world, api):
    post(api, {"files": files()}, HTTP_USER_AGENT="nango-cli/1.0.0")
    assert FunctionVersion.objects.get().deployed_via == "cli"


def test_it_refuses_a_broken_bundle_as_manage_py_deploy_does(world, api, settings, tmp_path):
    broken = files(
        **{
            "functions/github/actions/bad.py": "def broken(:\n    pass\n",
            "functions/github/actions/outside.py": "import os\n\nimport integrations.models\n",
        }
    )
    r = post(api, {"files": broken})

    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_functions"
    assert error["message"] == "Nothing was deployed: 2 problems in the function files"
    assert [(e["path"], e["line"]) for e in error["errors"]] == [
        (["functions/github/actions/bad.py"], 1),
        (["functions/github/actions/outside.py"], 3),
    ]
    assert error["errors"][1]["message"].startswith(
        "functions/github/actions/outside.py:3: import of 'integrations.models': a module "
        "outside the functions tree"
    )
    assert Function.objects.count() == 0  # the good file did not go out either

    # The same tree on disk: manage.py deploy says exactly the same.
    for path, source in broken.items():
        target = settings.FUNCTIONS_DIR.parent / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)
    assert read_tree(settings.FUNCTIONS_DIR) == broken
    with pytest.raises(CommandError) as caught:
        call_command("deploy", "dev", stdout=StringIO())
    assert str(caught.value).splitlines()[1:] == [f"  {e['message']}" for e in error["errors"]]


@pytest.mark.parametrize(
    "body, path",
    [
        ({"files": {}}, ["files"]),
        ({"files": {"functions/github/tests/x.json": "{}"}}, ["files"]),
        ({"files": {"../etc/passwd.py": "x"}}, ["files"]),
        (
            {"files": {"functions/github/actions/x.py": 3}},
            ["files", "functions/github/actions/x.py"],
        ),
        ({"files": files(), "prune": "sometimes"}, ["prune"]),
        ({"files": files(), "environment": "prod"}, ["environment"]),
    ],
)
def test_it_refuses_a_malformed_body(world, api, body, path):
    r = post(api, body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_body"
    assert error["errors"][0]["path"] == path
    assert Function.objects.count() == 0


def test_a_wrong_key_deploys_nothing(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-key")
    r = post(client, {"files": files()})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unknown_account"
    assert post(APIClient(), {"files": files()}).status_code == 401
    assert Function.objects.count() == 0


def test_each_key_deploys_to_its_own_environment(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {OTHER_SECRET}")
    r = post(client, {"files": files(), "environment": "other"})
    assert r.status_code == 200, r.content
    assert Function.objects.get().integration.environment == world.other_env


def test_dry_run_and_prune_over_http(world, api):
    make_integration(world.env, "slack", "slack")
    extra = {"functions/slack/actions/post.py": GOOD.replace("..lib.fmt", "functions.lib.fmt")}
    extra["functions/lib/fmt.py"] = FMT
    assert post(api, {"files": files(**extra)}).status_code == 200

    r = post(api, {"files": files(), "dry_run": True, "prune": True})
    assert r.json()["dry_run"] is True
    assert [(c["name"], c["outcome"]) for c in r.json()["changes"]] == [
        ("create-issue", "unchanged"),
        ("post", "disabled"),
    ]
    assert Function.objects.get(name="post").enabled is True

    r = post(api, {"files": files(), "integration": "github", "prune": True})
    assert [c["outcome"] for c in r.json()["changes"]] == ["unchanged"]  # slack: out of scope
    r = post(api, {"files": files(), "prune": True})
    assert r.json()["summary"]["disabled"] == 1
    assert Function.objects.get(name="post").enabled is False


@pytest.mark.parametrize(
    "raw",
    [
        '{"files": {"functions/github/actions/x.py": "\\ud800"}}',
        '{"files": {"functions/github/actions/x.py": "\\u0000"}}',
        '{"files": {"functions/github/actions/' + "x" * 600 + '.py": ""}}',
    ],
    ids=["lone surrogate", "NUL", "long path"],
)
def test_text_that_cannot_be_stored_is_refused(world, api, raw):
    r = api.post("/functions/deploy", raw, content_type="application/json")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_body")
    assert Function.objects.count() == 0


@pytest.mark.parametrize(
    "source, message",
    [
        ("raise SystemExit(3)\n", "create_issue.py:1: SystemExit while loading: 3"),
        (GOOD.replace('version="1.0.0"', 'version="1" * 65'), "version must be at most 64"),
    ],
)
def test_a_file_that_would_break_the_server_is_a_deploy_error(world, api, source, message):
    r = post(api, {"files": files(**{"functions/github/actions/create_issue.py": source})})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_functions")
    assert message in r.json()["error"]["errors"][0]["message"]

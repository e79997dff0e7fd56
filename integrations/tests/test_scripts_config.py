import pytest

from conftest import deploy_source, make_integration
from integrations import tools
from integrations.models import Function, FunctionVersion

CREATE_ISSUE = """
from nango import create_action

action = create_action(
    description="Create an issue\\n- repo: owner/name of the repository\\n- nope: not a field",
    version="1.0.0",
    input={"type": "object", "properties": {"repo": {"type": "string"},
           "title": {"type": "string"}}, "required": ["repo", "title"]},
    output={"type": "object", "properties": {"id": {"type": "integer"}}},
    exec=lambda nango, input: {"id": 1},
)
"""

WHOAMI = """
from nango import create_action

action = create_action(description="Who am I", input={"type": "null"},
                       output={"type": "string"}, exec=lambda nango, input: "me")
"""

TAG = """
from nango import create_action

action = create_action(description="Tag things", input={"type": "array",
                       "items": {"$ref": "#/definitions/tag"},
                       "definitions": {"tag": {"type": "string"}}},
                       output={"type": "null"}, exec=lambda nango, input: None)
"""


@pytest.fixture
def deployed(world):
    deploy_source(world.github, "create-issue", CREATE_ISSUE)
    deploy_source(world.github, "whoami", WHOAMI)
    slack = make_integration(world.env, "slack-prod", "slack")
    deploy_source(slack, "tag", TAG)
    deploy_source(world.other_github, "secret-action", WHOAMI)
    return world


def test_it_lists_enabled_actions_as_openai_functions(deployed, api):
    Function.objects.filter(name="whoami").update(enabled=False)
    r = api.get("/scripts/config?format=openai")
    assert r.status_code == 200
    data = r.json()["data"]
    assert [f["name"] for f in data] == ["create-issue", "tag"]
    create = data[0]
    assert create["description"].startswith("Create an issue")
    assert create["parameters"] == {
        "type": "object",
        "properties": {
            # Nango reads `- name: text` lines of the description into the parameters.
            "repo": {"type": "string", "description": "owner/name of the repository"},
            "title": {"type": "string"},
        },
        "required": ["repo", "title"],
    }
    # A non-object input is wrapped as the one property `input`, its definitions hoisted
    # so that the $ref still resolves.
    assert data[1]["parameters"] == {
        "type": "object",
        "properties": {"input": {"type": "array", "items": {"$ref": "#/definitions/tag"}}},
        "required": ["input"],
        "additionalProperties": False,
        "definitions": {"tag": {"type": "string"}},
    }


def test_it_describes_an_action_without_description_and_a_null_input(deployed, api):
    FunctionVersion.objects.filter(function__name="whoami").update(description="")
    r = api.get("/scripts/config", {"format": "openai", "provider_config_key": "github"})
    whoami = next(f for f in r.json()["data"] if f["name"] == "whoami")
    assert whoami == {
        "name": "whoami",
        "description": "Execute the whoami action for github",
        "parameters": {
            "type": "object",
            "properties": {},
            "required": [],
            "additionalProperties": False,
        },
    }
    assert {f["name"] for f in r.json()["data"]} == {"create-issue", "whoami"}


def test_it_returns_nango_config_per_integration_by_default(deployed, api):
    Function.objects.filter(name="whoami").update(enabled=False)
    r = api.get("/scripts/config")
    assert r.status_code == 200
    configs = r.json()
    assert [(c["providerConfigKey"], c["provider"]) for c in configs] == [
        ("github", "github"),
        ("slack-prod", "slack"),
    ]
    github = configs[0]
    assert github["syncs"] == [] and github["on-events"] == []
    actions = {a["name"]: a for a in github["actions"]}
    assert actions["whoami"]["enabled"] is False
    assert actions["create-issue"]["json_schema"]["input"]["required"] == ["repo", "title"]
    assert api.get("/scripts/config?format=nango").json() == configs


def test_it_shows_nothing_of_another_environment(deployed, api):
    names = [f["name"] for f in api.get("/scripts/config?format=openai").json()["data"]]
    assert "secret-action" not in names


def test_it_refuses_an_unknown_format_or_parameter(deployed, api):
    r = api.get("/scripts/config?format=yaml")
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_query_params"
    assert error["errors"][0]["path"] == ["format"]
    r = api.get("/scripts/config?format=openai&provider=github")
    assert r.status_code == 400
    assert r.json()["error"]["errors"][0]["path"] == ["provider"]


def test_it_needs_the_secret_key(deployed, client):
    assert client.get("/scripts/config").status_code == 401


def test_it_maps_tool_arguments_and_output_both_ways():
    array = {"type": "array", "items": {"type": "string"}}
    assert tools.tool_input(array, {"input": ["a"]}) == ["a"]
    assert tools.tool_input({"type": "null"}, {}) is None
    assert tools.tool_input({"type": "object"}, None) == {}
    assert tools.tool_input(None, {"x": 1}) == {"x": 1}
    assert tools.structured_output(array, ["a"]) == {"result": ["a"]}
    assert tools.structured_output({"type": "object"}, {"a": 1}) == {"a": 1}
    assert tools.structured_output(None, [1]) == {"result": [1]}
    assert tools.structured_output(None, {"a": 1}) == {"a": 1}
    assert tools.tool_output_schema(array)["properties"] == {"result": array}

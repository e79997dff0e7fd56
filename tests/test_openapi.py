"""The OpenAPI document, its docs page, and the per-action paths it describes."""

import re

import pytest
import responses
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate
from rest_framework.exceptions import ValidationError

from conftest import deploy_source, make_integration
from executions.models import Execution
from integrations.models import Function
from integrations.serializers import FunctionTreeSerializer

pytestmark = pytest.mark.django_db(transaction=True)

CREATE_ISSUE = """
from nango import create_action

def run(nango, input):
    r = nango.post(f"/repos/{input['repo']}/issues", data={"title": input["title"]})
    return {"id": r.data["id"]}

action = create_action(
    description="Create an issue",
    version="2.1.0",
    input={"type": "object", "properties": {"repo": {"type": "string"},
           "title": {"type": "string"}}, "required": ["repo", "title"]},
    output={"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
    exec=run,
)
"""

TAGS = """
from nango import create_action

action = create_action(
    description="Tags",
    input={"type": "null"},
    output={"type": "array", "items": {"$ref": "#/definitions/tag"},
            "definitions": {"tag": {"type": "string"}}},
    exec=lambda nango, input: ["a", "b"],
)
"""


@pytest.fixture
def deployed(tworld):
    deploy_source(tworld.github, "create-issue", CREATE_ISSUE)
    deploy_source(tworld.github, "tags", TAGS)
    odd = make_integration(tworld.env, "team a:crm", "hubspot")
    deploy_source(odd, "tags", TAGS)
    deploy_source(tworld.other_github, "secret-action", TAGS)
    return tworld


def routes(patterns=None, prefix: str = "") -> list[str]:
    """Every URL pattern of the project as an OpenAPI path."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            found.append("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    # The admin is not the API; the last pattern answers every other path with a 404.
    return [r for r in found if not r.startswith(("/admin/", "/^"))]


def test_the_public_document_is_valid_and_covers_every_route(deployed, client):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    missing = set(routes()) - set(doc["paths"])
    assert missing == {"/actions/{key}/{name}"}  # documented once per deployed action
    # Without a key it shows nothing of any environment.
    assert not [p for p in doc["paths"] if p.startswith("/actions/")]
    assert "create-issue" not in r.content.decode()


def test_with_a_key_it_has_every_enabled_action_with_its_schemas(deployed, api):
    Function.objects.filter(name="tags", integration=deployed.github).update(enabled=False)
    doc = api.get("/openapi.json").json()
    validate(doc)
    actions = {p: item["post"] for p, item in doc["paths"].items() if p.startswith("/actions/")}
    assert set(actions) == {"/actions/github/create-issue", "/actions/team%20a%3Acrm/tags"}
    create = actions["/actions/github/create-issue"]
    assert create["x-action"] == {
        "integration": "github",
        "name": "create-issue",
        "version": "2.1.0",
    }
    schemas = doc["components"]["schemas"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert schemas[body["$ref"].rsplit("/", 1)[1]]["required"] == ["repo", "title"]
    ok = create["responses"]["200"]["content"]["application/json"]["schema"]
    assert schemas[ok["$ref"].rsplit("/", 1)[1]]["required"] == ["id"]
    # Local $refs of an action's schema are rebased to where the schema now lives.
    tags = schemas["ActionOutput_team_a_crm_tags"]
    assert tags["items"] == {
        "$ref": "#/components/schemas/ActionOutput_team_a_crm_tags/definitions/tag"
    }
    assert "secret-action" not in str(doc)


def test_a_wrong_key_is_401(deployed, client):
    r = client.get("/openapi.json", HTTP_AUTHORIZATION="Bearer nope")
    assert r.status_code == 401


def test_the_docs_page_lists_the_operations(deployed, client):
    r = client.get("/docs")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/html")
    page = r.content.decode()
    assert "<code>/action/trigger</code>" in page
    assert "<code>/mcp</code>" in page
    assert 'href="/openapi.json"' in page


@responses.activate
def test_an_action_path_runs_the_action_with_the_body_as_input(deployed, api):
    responses.post("https://api.github.com/repos/acme/app/issues", json={"id": 5}, status=201)
    r = api.post(
        "/actions/github/create-issue",
        {"repo": "acme/app", "title": "Hi"},
        format="json",
        HTTP_CONNECTION_ID="conn-1",
    )
    assert r.status_code == 200, r.content
    assert r.json() == {"id": 5}
    execution = Execution.objects.get(code=r["X-Execution-Id"])
    assert execution.input == {"repo": "acme/app", "title": "Hi"}
    assert execution.action_name == "create-issue"


def test_an_action_path_takes_an_empty_body_as_null_and_the_trigger_headers(deployed, api):
    r = api.post("/actions/github/tags", HTTP_CONNECTION_ID="conn-1")
    assert r.status_code == 200, r.content
    assert r.json() == ["a", "b"]
    r = api.post("/actions/github/tags", HTTP_CONNECTION_ID="conn-1", HTTP_X_ASYNC="true")
    assert r.status_code == 202
    assert r.json()["statusUrl"] == r["Location"]


def test_an_action_path_answers_the_trigger_errors(deployed, api):
    r = api.post("/actions/github/create-issue", {"repo": "x"}, format="json")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_headers"
    r = api.post(
        "/actions/github/create-issue", {"repo": "x"}, format="json", HTTP_CONNECTION_ID="conn-1"
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_action_input"
    r = api.post("/actions/github/nope", HTTP_CONNECTION_ID="conn-1")
    assert r.status_code == 404
    r = api.post("/actions/gitlab/tags", HTTP_CONNECTION_ID="conn-1")
    assert r.json()["error"]["code"] == "unknown_provider"


def test_it_documents_every_answer_of_the_operations_it_describes(deployed, client):
    paths = client.get("/openapi.json").json()["paths"]
    cancel = paths["/executions/{id}/cancel"]["post"]["responses"]
    assert {"200", "202", "404", "409"} <= set(cancel)
    mcp = paths["/mcp"]["post"]["responses"]
    assert {"200", "202", "400", "401", "413"} <= set(mcp)
    # MCP's 400 is a JSON-RPC error, not the API's error shape.
    assert "jsonrpc" in mcp["400"]["content"]["application/json"]["schema"]["properties"]
    # Every operation names the web server's own refusals.
    for item in paths.values():
        for operation in item.values():
            assert {"414", "431"} <= set(operation["responses"])
    trigger = paths["/action/trigger"]["post"]
    headers = {p["$ref"].rsplit("/", 1)[1] for p in trigger["parameters"]}
    assert headers == {
        "ConnectionId",
        "ProviderConfigKey",
        "XAsync",
        "XMaxRetries",
        "IdempotencyKey",
    }


def test_header_schemas_say_what_the_checks_take(deployed, client):
    params = client.get("/openapi.json").json()["components"]["parameters"]
    retries = params["XMaxRetries"]["schema"]
    assert [re.fullmatch(retries["pattern"][1:-1], v) is not None for v in ("0", "5", "6")] == [
        True,
        True,
        False,
    ]
    assert set(params["XAsync"]["schema"]["enum"]) >= {"true", "false", "1", "0", ""}
    assert params["ConnectionId"]["schema"]["maxLength"] == 255
    key = params["IdempotencyKey"]["schema"]["pattern"]
    assert [re.search(key, v) is not None for v in ("k-1", " ", "a\x00b")] == [True, False, False]


def test_connect_fields_that_name_integrations_list_the_environments_own(deployed, api, client):
    def session_body(doc: dict) -> dict:
        sessions = doc["paths"]["/connect/sessions"]["post"]
        return sessions["requestBody"]["content"]["application/json"]["schema"]

    body = session_body(api.get("/openapi.json").json())
    keys = ["github", "team a:crm"]  # this environment's; never another's
    assert body["properties"]["allowed_integrations"]["items"] == {"enum": keys}
    assert body["properties"]["overrides"]["propertyNames"] == {"enum": keys}
    assert body["additionalProperties"] is False  # the bodies refuse unknown keys
    # Without a key, nothing of any environment: any non-blank text.
    public = session_body(client.get("/openapi.json").json())
    assert "enum" not in public["properties"]["allowed_integrations"]["items"]


def test_the_callback_requires_its_state_and_documents_every_refusal(deployed, client):
    paths = client.get("/openapi.json").json()["paths"]
    callback = paths["/oauth/callback"]["get"]
    state = next(p for p in callback["parameters"] if p["name"] == "state")
    assert state["required"] is True
    # The request boundary refuses a NUL in the query in JSON, before the page.
    assert set(callback["responses"]["400"]["content"]) == {"text/html", "application/json"}
    assert {"302", "400", "401", "404"} <= set(paths["/oauth/connect/{key}"]["get"]["responses"])
    assert {"204", "401"} <= set(paths["/connect/session"]["delete"]["responses"])


def test_a_tree_path_is_documented_as_the_deploy_reads_it(client):
    files = client.get("/openapi.json").json()["paths"]["/functions/deploy"]["post"]
    files = files["requestBody"]["content"]["application/json"]["schema"]["properties"]["files"]
    names = files["propertyNames"]

    def documented(path: str) -> bool:
        return len(path) <= names["maxLength"] and re.search(names["pattern"], path) is not None

    def taken(path: str) -> bool:
        try:
            FunctionTreeSerializer().validate_files({path: ""})
        except ValidationError:
            return False
        return True

    paths = [
        "functions/github/actions/create_issue.py",
        "functions/team a:crm/actions/x-y.py",
        "functions/github/lib/issues/text.py",
        "functions/lib/text.py",
        "functions/lib/actions/x.py",  # a helper module named actions.x
        "functions/./actions/x.py",
        "functions/../lib/x.py",
        "functions/github/actions/a/b.py",
        "functions/github/lib/1x.py",
        "functions/github/tests/x.json",
        "functions/x.py",
        "lib/x.py",
        "functions/gh/actions/ab\n.py",
        "functions/lib/x\n/y.py",
        "functions/lib/" + "a" * 255 + ".py",  # a module path of at most 255
        "functions/lib/" + "a" * 256 + ".py",
        "functions/gh/actions/" + "a" * 256 + ".py",
    ]
    for path in paths:
        assert documented(path) == taken(path), path


@pytest.mark.parametrize(
    "path, allow",
    [
        ("/connect/", "GET, HEAD"),
        ("/connect", "GET, HEAD"),
        ("/oauth/callback", "GET"),
        ("/oauth/connect/github", "GET"),
    ],
)
def test_a_page_answers_other_methods_405_with_allow(path, allow):
    # GET-only pages: no CSRF failure page for a POST, a 405 that says what is allowed.
    client = Client(enforce_csrf_checks=True)
    for method in ("post", "put", "delete"):
        r = getattr(client, method)(path)
        assert (r.status_code, r["Allow"]) == (405, allow), method


def test_an_auth_route_answers_other_methods_405_in_the_error_shape(client):
    r = client.put("/api-auth/api-key/github?connect_session_token=x")
    assert (r.status_code, r["Allow"]) == (405, "POST")
    assert r.json()["error"]["code"] == "method_not_allowed"

import json

import pytest

from conftest import deploy_source
from integrations.models import Connection, EnvironmentVariable, Integration

pytestmark = pytest.mark.django_db

ACTION = """
from nango import create_action
action = create_action(description="Say hi", version="2.1.0", input={"type": "null"},
                       output={"type": "string"}, exec=lambda nango, input: "hi")
"""


def test_it_lists_only_our_integrations(world, api):
    make = Integration.objects.create
    make(environment=world.env, unique_key="slack-prod", provider="slack")
    r = api.get("/integrations")
    assert r.status_code == 200
    assert [i["unique_key"] for i in r.json()["data"]] == ["github", "slack-prod"]
    assert r.json()["data"][0]["display_name"] == "GitHub"


def test_it_creates_an_integration_with_an_oauth_app(world, api):
    r = api.post(
        "/integrations",
        {
            "unique_key": "hubspot",
            "provider": "hubspot",
            "credentials": {"type": "OAUTH2", "client_id": "cid", "client_secret": "csecret"},
        },
        format="json",
    )
    assert r.status_code == 200, r.json()
    assert r.json()["data"]["unique_key"] == "hubspot"
    assert "csecret" not in r.content.decode()
    stored = Integration.objects.get(unique_key="hubspot")
    assert stored.oauth_client_secret == "csecret"
    full = api.get("/integrations/hubspot?include=credentials").json()["data"]
    assert full["credentials"]["client_secret"] == "csecret"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"unique_key": "x", "provider": "myspace"}, "provider"),
        ({"unique_key": "a/b", "provider": "github"}, "unique_key"),
        ({"provider": "github"}, "unique_key"),
    ],
)
def test_it_refuses_a_bad_integration(world, api, body, field):
    r = api.post("/integrations", body, format="json")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_body"
    assert [e["path"] for e in r.json()["error"]["errors"]] == [[field]]


def test_a_taken_unique_key_is_a_conflict(world, api):
    r = api.post("/integrations", {"unique_key": "github", "provider": "github"}, format="json")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "duplicate_integration"
    r = api.post("/integrations", {"unique_key": "gh2", "provider": "github"}, format="json")
    assert (
        api.patch("/integrations/gh2", {"unique_key": "github"}, format="json").status_code == 409
    )


def test_it_patches_and_deletes_an_integration(world, api):
    r = api.patch("/integrations/github", {"display_name": "GH"}, format="json")
    assert r.status_code == 200 and r.json()["data"]["display_name"] == "GH"
    assert (
        api.patch("/integrations/github", {"provider": "slack"}, format="json").status_code == 400
    )
    assert api.delete("/integrations/github").json() == {"success": True}
    assert not Connection.objects.filter(pk=world.connection.pk).exists()
    assert api.get("/integrations/github").status_code == 404


def test_it_hides_other_environments_integrations(world, api):
    world.other_github.unique_key = "theirs"
    world.other_github.save()
    assert api.get("/integrations/theirs").status_code == 404
    assert api.delete("/integrations/theirs").status_code == 404


def test_it_lists_and_shows_deployed_functions(world, api):
    deploy_source(world.github, "say-hi", ACTION)
    r = api.get("/integrations/github/functions")
    assert r.status_code == 200
    body = r.json()
    assert body["pagination"] == {"total": 1, "page": 0, "limit": 20}
    (fn,) = body["data"]
    assert fn["name"] == "say-hi" and fn["type"] == "action" and fn["version"] == "2.1.0"
    assert fn["json_schema"] == {"input": {"type": "null"}, "output": {"type": "string"}}
    assert fn["enabled"] is True
    assert api.get("/integrations/github/functions/say-hi").json()["data"]["name"] == "say-hi"
    code = api.get("/integrations/github/functions/say-hi/code").json()
    assert code["type"] == "action" and "create_action" in code["code"]
    assert api.get("/integrations/github/functions/nope").status_code == 404
    assert api.get("/integrations/github/functions?limit=0").status_code == 400


def test_it_imports_a_connection_and_returns_it_with_credentials(world, api):
    body = {
        "provider_config_key": "github",
        "connection_id": "user-42",
        "credentials": {"type": "OAUTH2", "access_token": "tok", "refresh_token": "ref"},
        "metadata": {"plan": "pro"},
        "tags": {"End_User_Id": "42"},
    }
    r = api.post("/connections", body, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["credentials"]["access_token"] == "tok"
    assert "refresh_token" not in r.json()["credentials"]
    connection = Connection.objects.get(connection_id="user-42")
    assert connection.tags == {"end_user_id": "42"}
    # Encrypted at rest: the raw column holds no token.
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute(
            "SELECT credentials FROM integrations_connection WHERE id = %s", [connection.pk]
        )
        assert "tok" not in cursor.fetchone()[0]

    got = api.get("/connections/user-42?provider_config_key=github").json()
    assert got["credentials"]["access_token"] == "tok" and got["metadata"] == {"plan": "pro"}
    with_refresh = api.get("/connections/user-42?provider_config_key=github&refresh_token=true")
    assert with_refresh.json()["credentials"]["refresh_token"] == "ref"

    listed = api.get("/connections?tags[end_user_id]=42").json()["connections"]
    assert [c["connection_id"] for c in listed] == ["user-42"]
    assert "credentials" not in listed[0]


@pytest.mark.parametrize(
    "credentials",
    [{"type": "OAUTH2"}, {"type": "BASIC", "username": "u", "password": "p"}, "token", {}],
)
def test_it_refuses_credentials_of_the_wrong_shape(world, api, credentials):
    body = {"provider_config_key": "github", "credentials": credentials}
    r = api.post("/connections", body, format="json")
    assert r.status_code == 400
    assert r.json()["error"]["errors"][0]["path"][0] == "credentials"


def test_it_requires_connection_config_the_provider_needs(world, api):
    Integration.objects.create(environment=world.env, unique_key="shop", provider="shopify")
    body = {"provider_config_key": "shop", "credentials": {"type": "OAUTH2", "access_token": "t"}}
    r = api.post("/connections", body, format="json")
    assert r.status_code == 400
    assert "subdomain" in r.json()["error"]["errors"][0]["message"]


def test_it_patches_and_deletes_a_connection(world, api):
    url = "/connections/conn-1?provider_config_key=github"
    assert api.patch(url, {"tags": {"Team": "a"}}, format="json").json() == {"success": True}
    world.connection.refresh_from_db()
    assert world.connection.tags == {"team": "a"}
    assert api.patch(url, {"webhook_url_override": "ftp://x"}, format="json").status_code == 400
    assert api.get("/connections/conn-1").status_code == 400  # provider_config_key missing
    assert api.delete(url).json() == {"success": True}
    assert api.get(url).status_code == 404


def test_it_sets_and_merges_metadata_all_or_nothing(world, api):
    world.connection.metadata = {"a": 1, "b": 2}
    world.connection.save()
    body = {"connection_id": "conn-1", "provider_config_key": "github", "metadata": {"b": 3}}
    r = api.patch("/connections/metadata", body, format="json")
    assert r.status_code == 200
    world.connection.refresh_from_db()
    assert world.connection.metadata == {"a": 1, "b": 3}

    r = api.post("/connections/metadata", body, format="json")
    assert r.status_code == 201
    world.connection.refresh_from_db()
    assert world.connection.metadata == {"b": 3}

    body = {"connection_id": ["conn-1", "ghost"], "provider_config_key": "github", "metadata": {}}
    r = api.post("/connections/metadata", body, format="json")
    assert r.status_code == 404 and "ghost" in r.json()["error"]["message"]
    world.connection.refresh_from_db()
    assert world.connection.metadata == {"b": 3}


def test_it_lists_environment_variables(world, api):
    EnvironmentVariable.objects.create(environment=world.env, name="API_BASE", value="https://x")
    EnvironmentVariable.objects.create(environment=world.other_env, name="THEIRS", value="no")
    assert api.get("/environment-variables").json() == [{"name": "API_BASE", "value": "https://x"}]


def test_it_answers_unknown_paths_with_a_json_404(world, api):
    r = api.get("/nothing/here")
    assert r.status_code == 404
    assert json.loads(r.content) == {"error": {"code": "not_found", "message": "Not found."}}

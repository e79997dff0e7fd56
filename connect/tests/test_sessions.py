import re
from datetime import timedelta

import pytest
from django.utils.timezone import now
from rest_framework.test import APIClient

from conftest import OTHER_SECRET, make_connection, make_integration
from connect.models import ConnectSession, EndUser
from nangosite.lib.crypto import hash_secret

TOKEN = re.compile(r"^nango_connect_session_[a-f0-9]{64}$")
BODY = {
    "end_user": {"id": "u-42", "email": "ada@example.com", "display_name": "Ada"},
    "organization": {"id": "org-7", "display_name": "Analytical Engines"},
    "allowed_integrations": ["github"],
    "integrations_config_defaults": {"github": {"connection_config": {"team": "core"}}},
    "tags": {"plan": "pro"},
}


def session_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_it_creates_a_session_with_a_hashed_token_and_the_end_user(world, api, settings):
    settings.PUBLIC_URL = "https://connect.example.com"
    r = api.post("/connect/sessions", BODY, format="json")
    assert r.status_code == 201, r.json()
    data = r.json()["data"]
    assert TOKEN.match(data["token"])
    assert data["connect_link"] == (
        "https://connect.example.com/connect/#session_token=" + data["token"]
    )
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", data["expires_at"])
    session = ConnectSession.objects.get()
    # Only the hash is stored, and the session lives 30 minutes.
    assert session.token_hash == hash_secret(data["token"])
    assert data["token"] not in str(ConnectSession.objects.values().get())
    assert timedelta(minutes=29) < session.expires_at - now() <= timedelta(minutes=30)
    assert session.allowed_integrations == ["github"]
    user = EndUser.objects.get()
    assert (user.end_user_id, user.email, user.organization_id) == (
        "u-42",
        "ada@example.com",
        "org-7",
    )
    # Nango derives tags from the end user; the explicit ones are kept.
    assert session.tags == {
        "end_user_id": "u-42",
        "end_user_email": "ada@example.com",
        "end_user_display_name": "Ada",
        "organization_id": "org-7",
        "organization_display_name": "Analytical Engines",
        "plan": "pro",
    }


@pytest.mark.parametrize(
    "body, path",
    [
        ({}, ["end_user"]),
        ({"end_user": {"id": "u"}, "colour": "blue"}, ["colour"]),
        ({"end_user": {"id": "u", "age": 3}}, ["end_user", "age"]),
        ({"end_user": {"id": ""}}, ["end_user", "id"]),
        ({"end_user": {"id": "u"}, "allowed_integrations": ["nope"]}, ["allowed_integrations"]),
        ({"end_user": {"id": "u"}, "integrations_config_defaults": {"nope": {}}}, None),
        ({"end_user": {"id": "u"}, "webhook_url_override": "ftp://x"}, ["webhook_url_override"]),
        (
            {"end_user": {"id": "u"}, "integrations_config_defaults": {"github": {"x": 1}}},
            None,
        ),
    ],
)
def test_it_refuses_bad_bodies_and_stores_nothing(world, api, body, path):
    r = api.post("/connect/sessions", body, format="json")
    assert r.status_code == 400, r.json()
    error = r.json()["error"]
    assert error["code"] == "invalid_body"
    if path is not None:
        assert path in [e["path"] for e in error["errors"]]
    assert not ConnectSession.objects.exists() and not EndUser.objects.exists()


def test_it_needs_the_secret_key(world):
    r = APIClient().post("/connect/sessions", BODY, format="json")
    assert r.status_code == 401
    assert not ConnectSession.objects.exists()


def test_the_connect_page_reads_its_session_with_the_token(world, api):
    make_integration(world.env, "slack", "slack")
    token = api.post("/connect/sessions", BODY, format="json").json()["data"]["token"]
    r = session_client(token).get("/connect/session")
    assert r.status_code == 200, r.json()
    data = r.json()["data"]
    assert data["endUser"]["id"] == "u-42" and data["endUser"]["organization"]["id"] == "org-7"
    assert data["allowed_integrations"] == ["github"]
    assert data["isReconnecting"] is False
    assert data["integrations_config_defaults"]["github"]["connection_config"] == {"team": "core"}
    # Only the allowed integrations are listed, with what the page needs to show them.
    assert data["integrations"] == [
        {
            "unique_key": "github",
            "provider": "github",
            "display_name": "GitHub",
            "auth_mode": "OAUTH2",
            "connection_config": [],
        }
    ]


def test_it_refuses_unknown_malformed_and_expired_tokens(world, api):
    token = api.post("/connect/sessions", BODY, format="json").json()["data"]["token"]
    r = session_client("nango_connect_session_" + "0" * 64).get("/connect/session")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unknown_connect_session_token"
    r = session_client("not-a-token").get("/connect/session")
    assert r.json()["error"]["code"] == "invalid_connect_session_token_format"
    # A secret key is not a session token.
    r = session_client(world.env and "5a0e2b4c-1111-4222-8333-444455556666").get("/connect/session")
    assert r.status_code == 401
    ConnectSession.objects.update(expires_at=now() - timedelta(seconds=1))
    r = session_client(token).get("/connect/session")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unknown_connect_session_token"
    assert token not in r.content.decode()


def test_a_deleted_session_is_gone(world, api):
    token = api.post("/connect/sessions", BODY, format="json").json()["data"]["token"]
    assert session_client(token).delete("/connect/session").status_code == 204
    assert not ConnectSession.objects.exists()
    assert session_client(token).get("/connect/session").status_code == 401


def test_a_reconnect_session_names_one_connection(world, api):
    r = api.post(
        "/connect/sessions/reconnect",
        {"connection_id": "conn-1", "integration_id": "github", "end_user": {"id": "u-42"}},
        format="json",
    )
    assert r.status_code == 201, r.json()
    session = ConnectSession.objects.get()
    assert session.connection == world.connection
    assert session.allowed_integrations == ["github"]
    data = session_client(r.json()["data"]["token"]).get("/connect/session").json()["data"]
    assert data["isReconnecting"] is True


def test_a_reconnect_session_needs_a_connection_of_this_environment(world, api):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {OTHER_SECRET}")
    make_connection(world.other_github, "theirs")
    for client, body in [
        (api, {"connection_id": "nope", "integration_id": "github"}),
        (api, {"connection_id": "theirs", "integration_id": "github"}),
        (api, {"connection_id": "conn-1", "integration_id": "github", "allowed_integrations": []}),
    ]:
        r = client.post("/connect/sessions/reconnect", body, format="json")
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_body"
    assert not ConnectSession.objects.exists()


def test_connections_are_listed_by_end_user(world, api):
    user = EndUser.objects.create(environment=world.env, end_user_id="u-42", organization_id="o")
    make_connection(world.github, "mine", end_user=user)

    def listed(query: str) -> list[str]:
        rows = api.get("/connections" + query).json()["connections"]
        return [c["connection_id"] for c in rows]

    assert listed("?endUserId=u-42") == ["mine"]
    assert listed("?endUserOrganizationId=o") == ["mine"]
    assert listed("?endUserId=someone-else") == []
    assert sorted(listed("")) == ["conn-1", "mine"]
    item = api.get("/connections?endUserId=u-42").json()["connections"][0]
    assert item["end_user"]["id"] == "u-42" and item["end_user"]["organization"]["id"] == "o"

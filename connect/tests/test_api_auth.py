"""API key and basic auth, as the Connect page sends them (Nango's /api-auth routes)."""

import json

import pytest

from conftest import make_integration
from connect.models import ConnectSession
from integrations.models import Connection
from webhooks.models import Delivery


@pytest.fixture
def token(world, api):
    make_integration(world.env, "stripe", "stripe")
    make_integration(world.env, "twilio", "twilio")
    make_integration(world.env, "discord", "discord")
    world.env.webhook_primary_url = "https://hooks.example.com/nango"
    world.env.save()
    body = {
        "end_user": {"id": "u-1"},
        "integrations_config_defaults": {"twilio": {"connection_config": {"region": "eu"}}},
    }
    return api.post("/connect/sessions", body, format="json").json()["data"]["token"]


def post(client, route: str, key: str, token: str, body, **kw):
    return client.post(
        f"/api-auth/{route}/{key}?connect_session_token={token}",
        json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
        **kw,
    )


def test_an_api_key_makes_a_connection(world, client, token):
    r = post(client, "api-key", "stripe", token, {"apiKey": "sk_live_abc"})
    assert r.status_code == 200, r.json()
    answer = r.json()
    assert set(answer) == {"connectionId", "providerConfigKey"}
    assert answer["providerConfigKey"] == "stripe"
    conn = Connection.objects.get(connection_id=answer["connectionId"])
    assert conn.credentials == {"type": "API_KEY", "apiKey": "sk_live_abc"}
    assert conn.created_via == Connection.Via.API_KEY
    assert conn.end_user.end_user_id == "u-1"
    body = json.loads(Delivery.objects.get(type="auth").body)
    assert body["operation"] == "creation" and body["authMode"] == "API_KEY"
    assert "sk_live_abc" not in Delivery.objects.get(type="auth").body


def test_a_token_provider_takes_the_key_as_its_token(client, token):
    r = post(client, "api-key", "discord", token, {"apiKey": "bot-token"})
    assert r.status_code == 200
    conn = Connection.objects.get(connection_id=r.json()["connectionId"])
    assert conn.credentials == {"type": "BEARER", "token": "bot-token"}


def test_basic_auth_makes_a_connection_with_the_session_s_config(client, token):
    r = post(client, "basic", "twilio", token, {"username": "AC1", "password": "pw"})
    assert r.status_code == 200, r.json()
    conn = Connection.objects.get(connection_id=r.json()["connectionId"])
    assert conn.credentials == {"type": "BASIC", "username": "AC1", "password": "pw"}
    assert conn.connection_config == {"region": "eu"}
    assert conn.created_via == Connection.Via.BASIC


@pytest.mark.parametrize(
    "route, key, body, status, code",
    [
        ("api-key", "stripe", {}, 400, "invalid_body"),
        ("api-key", "stripe", {"apiKey": "k", "extra": 1}, 400, "invalid_body"),
        ("api-key", "stripe", {"apiKey": ""}, 400, "invalid_body"),
        ("api-key", "stripe", {"apiKey": "k" * 1025}, 400, "invalid_body"),
        ("api-key", "stripe", "not json", 400, "invalid_body"),
        ("api-key", "twilio", {"apiKey": "k"}, 400, "invalid_auth_mode"),
        ("api-key", "github", {"apiKey": "k"}, 400, "invalid_auth_mode"),
        ("basic", "stripe", {"username": "u", "password": "p"}, 400, "invalid_auth_mode"),
        ("basic", "twilio", {"username": "u"}, 400, "invalid_body"),
        ("api-key", "nope", {"apiKey": "k"}, 404, "unknown_provider_config"),
    ],
)
def test_bad_input_is_refused_and_stores_nothing(client, token, route, key, body, status, code):
    before = Connection.objects.count()
    r = post(client, route, key, token, body)
    assert r.status_code == status, r.content
    assert r.json()["error"]["code"] == code
    assert Connection.objects.count() == before
    assert not Delivery.objects.exists()
    assert "k" * 20 not in r.content.decode()


def test_the_session_token_is_checked(world, client, token):
    for bad, code in [
        ("garbage", "invalid_connect_session_token_format"),
        ("nango_connect_session_" + "b" * 64, "unknown_connect_session_token"),
    ]:
        r = post(client, "api-key", "stripe", bad, {"apiKey": "k"})
        assert r.status_code == 401 and r.json()["error"]["code"] == code
    ConnectSession.objects.update(allowed_integrations=["twilio"])
    r = post(client, "api-key", "stripe", token, {"apiKey": "k"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "integration_not_allowed"
    r = client.get(f"/api-auth/api-key/stripe?connect_session_token={token}")
    assert r.status_code == 405
    assert Connection.objects.filter(end_user__isnull=False).count() == 0

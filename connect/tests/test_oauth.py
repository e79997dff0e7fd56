"""The OAuth2 authorization code flow: /oauth/connect → the provider → /oauth/callback,
with the provider's token endpoint mocked at the HTTP seam."""

import base64
import hashlib
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.db import connection as db_connection
from django.utils.timezone import now

from conftest import make_integration
from connect.models import ConnectSession, OAuthState
from integrations.models import Connection
from webhooks.models import Delivery

GITHUB_TOKEN = "https://github.com/login/oauth/access_token"
SLACK_TOKEN = "https://slack.com/api/oauth.v2.access"


@pytest.fixture
def github(world):
    world.github.oauth_client_id = "gh-client"
    world.github.oauth_client_secret = "gh-client-secret"
    world.github.oauth_scopes = "repo,read:user"
    world.github.save()
    world.env.webhook_primary_url = "https://hooks.example.com/nango"
    world.env.save()
    return world.github


def new_session(api, **body) -> str:
    body = {"end_user": {"id": "u-42", "email": "ada@example.com"}, **body}
    r = api.post("/connect/sessions", body, format="json")
    assert r.status_code == 201, r.json()
    return r.json()["data"]["token"]


def start(client, token: str, key: str = "github", **query):
    return client.get(f"/oauth/connect/{key}", {"connect_session_token": token, **query})


def authorize(client, token: str, key: str = "github", **query) -> dict:
    """Start a flow; the query the provider's authorization page receives."""
    r = start(client, token, key, **query)
    assert r.status_code == 302, r.content
    assert r["Referrer-Policy"] == "no-referrer" and r["Cache-Control"] == "no-store"
    assert r["Cross-Origin-Opener-Policy"] == "unsafe-none"  # the popup keeps its opener
    parts = urlsplit(r["Location"])
    return {"url": f"{parts.scheme}://{parts.netloc}{parts.path}"} | {
        k: v[0] for k, v in parse_qs(parts.query).items()
    }


def callback(client, **query):
    return client.get("/oauth/callback", query)


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


@responses.activate
def test_the_whole_flow_stores_an_encrypted_connection_for_the_end_user(
    github, api, client, settings
):
    settings.PUBLIC_URL = "https://platform.example.com"
    token = new_session(api, tags={"plan": "pro"})
    sent = authorize(client, token)
    assert sent["url"] == "https://github.com/login/oauth/authorize"
    assert sent["client_id"] == "gh-client" and sent["response_type"] == "code"
    assert sent["redirect_uri"] == "https://platform.example.com/oauth/callback"
    assert sent["scope"] == "repo read:user"  # GitHub joins scopes with spaces
    assert sent["code_challenge_method"] == "S256"
    state_row = OAuthState.objects.get()
    # PKCE: the challenge is S256 of the verifier, which is kept encrypted; the state hashed.
    assert sent["code_challenge"] == s256(state_row.code_verifier)
    assert sent["state"] not in json.dumps(list(OAuthState.objects.values()), default=str)

    responses.post(
        GITHUB_TOKEN,
        json={"access_token": "gho_new", "refresh_token": "ghr_new", "expires_in": 28800},
    )
    r = callback(client, code="the-code", state=sent["state"])
    assert r.status_code == 200, r.content
    page = r.content.decode()
    assert "nango_oauth_callback_success" in page
    # The token request: the code, the same redirect_uri, the verifier, the client in the body.
    (call,) = responses.calls
    form = parse_qs(call.request.body)
    assert form["grant_type"] == ["authorization_code"] and form["code"] == ["the-code"]
    assert form["redirect_uri"] == ["https://platform.example.com/oauth/callback"]
    assert form["code_verifier"] == [state_row.code_verifier]
    assert form["client_id"] == ["gh-client"] and form["client_secret"] == ["gh-client-secret"]
    assert call.request.headers["Accept"] == "application/json"

    connection = Connection.objects.get(end_user__end_user_id="u-42")
    assert connection.connection_id in page
    assert connection.created_via == Connection.Via.OAUTH
    assert connection.credentials["access_token"] == "gho_new"
    assert connection.credentials["refresh_token"] == "ghr_new"
    assert connection.credentials["raw"]["expires_in"] == 28800
    assert connection.credentials_expires_at > now() + timedelta(hours=7)
    assert connection.tags["plan"] == "pro" and connection.tags["end_user_id"] == "u-42"
    # Encrypted at rest, and nothing secret on the page.
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT credentials FROM integrations_connection WHERE id = %s", [connection.pk]
        )
        assert "gho_new" not in cursor.fetchone()[0]
    for secret in ("gho_new", "ghr_new", "the-code", "gh-client-secret", token):
        assert secret not in page
    # The state was used: a replay is refused, and stores nothing more.
    assert not OAuthState.objects.exists()
    r = callback(client, code="the-code", state=sent["state"])
    assert r.status_code == 400 and "invalid_state" in r.content.decode()
    assert Connection.objects.filter(end_user__isnull=False).count() == 1
    assert len(responses.calls) == 1
    # The auth webhook: creation, with the end user.
    (delivery,) = Delivery.objects.filter(type="auth")
    body = json.loads(delivery.body)
    assert delivery.connection == connection and delivery.execution is None
    assert body["type"] == "auth" and body["operation"] == "creation" and body["success"] is True
    assert body["connectionId"] == connection.connection_id
    assert body["providerConfigKey"] == "github" and body["provider"] == "github"
    assert body["authMode"] == "OAUTH2" and body["environment"] == "dev"
    assert body["endUser"]["endUserId"] == "u-42"
    assert "gho_new" not in delivery.body


@responses.activate
def test_a_reconnect_session_overrides_the_connection(github, api, client):
    r = api.post(
        "/connect/sessions/reconnect",
        {"connection_id": "conn-1", "integration_id": "github"},
        format="json",
    )
    sent = authorize(client, r.json()["data"]["token"])
    responses.post(GITHUB_TOKEN, json={"access_token": "gho_again"})
    assert callback(client, code="c", state=sent["state"]).status_code == 200
    conn = Connection.objects.get(connection_id="conn-1", integration=github)
    assert conn.credentials["access_token"] == "gho_again"
    assert Connection.objects.filter(integration=github).count() == 1
    body = json.loads(Delivery.objects.get(type="auth").body)
    assert body["operation"] == "override" and body["connectionId"] == "conn-1"


@responses.activate
def test_slack_scopes_user_scopes_nested_token_and_team_config(world, api, client):
    slack = make_integration(
        world.env,
        "slack",
        "slack",
        oauth_client_id="sl",
        oauth_client_secret="sl-secret",
        oauth_scopes="chat:write,channels:read",
    )
    token = new_session(
        api,
        integrations_config_defaults={
            "slack": {"user_scopes": "search:read", "authorization_params": {"team": "T1"}}
        },
    )
    sent = authorize(client, token, "slack", **{"authorization_params[team]": "ignored"})
    assert sent["scope"] == "chat:write,channels:read"  # Slack's separator
    assert sent["user_scope"] == "search:read"
    assert sent["team"] == "T1"  # the session's params win over the request's
    assert "code_challenge" not in sent  # Slack takes no PKCE
    responses.post(
        SLACK_TOKEN,
        json={
            "ok": True,
            "authed_user": {"id": "U1", "access_token": "xoxp-user", "token_type": "user"},
            "team": {"id": "T1", "name": "Acme"},
        },
    )
    assert callback(client, code="c", state=sent["state"]).status_code == 200
    conn = Connection.objects.get(integration=slack)
    assert conn.credentials["access_token"] == "xoxp-user"
    assert conn.connection_config == {"team.id": "T1"}


@responses.activate
def test_client_credentials_go_as_http_basic_when_the_provider_says_so(world, api, client):
    make_integration(
        world.env, "notion", "notion", oauth_client_id="no", oauth_client_secret="no-secret"
    )
    sent = authorize(client, new_session(api), "notion")
    assert sent["owner"] == "user"  # the provider's own authorization params
    responses.post(
        "https://api.notion.com/v1/oauth/token",
        json={"access_token": "secret_n", "workspace_id": "w1"},
    )
    assert callback(client, code="c", state=sent["state"]).status_code == 200
    (call,) = responses.calls
    expected = base64.b64encode(b"no:no-secret").decode()
    assert call.request.headers["Authorization"] == f"Basic {expected}"
    body = json.loads(call.request.body)  # Notion takes JSON
    assert body["code"] == "c" and "client_secret" not in body
    conn = Connection.objects.get(integration__unique_key="notion")
    assert conn.connection_config == {"workspace_id": "w1"}


@responses.activate
def test_the_integration_s_url_overrides_and_typed_connection_config(world, api, client):
    make_integration(
        world.env,
        "shop",
        "shopify",
        oauth_client_id="sh",
        oauth_client_secret="sh-secret",
    )
    token = new_session(api)
    # Shopify's URLs need the shop's subdomain, which the end user types in.
    r = start(client, token, "shop")
    assert r.status_code == 400 and "subdomain is required" in r.content.decode()
    r = start(client, token, "shop", **{"params[subdomain]": "evil.com/x?"})
    assert r.status_code == 400 and "invalid_connection_config" in r.content.decode()
    sent = authorize(client, token, "shop", **{"params[subdomain]": "acme"})
    assert sent["url"] == "https://acme.myshopify.com/admin/oauth/authorize"
    responses.post(
        "https://acme.myshopify.com/admin/oauth/access_token", json={"access_token": "a"}
    )
    assert callback(client, code="c", state=sent["state"]).status_code == 200
    assert parse_qs(responses.calls[0].request.body)["expiring"] == ["1"]
    assert Connection.objects.get(integration__unique_key="shop").connection_config == {
        "subdomain": "acme"
    }


def test_an_integration_can_point_at_its_own_oauth_endpoints(github, api, client):
    r = api.patch(
        "/integrations/github",
        {
            "authorization_url": "https://gitlab.example.com/oauth/authorize",
            "token_url": "https://gitlab.example.com/oauth/token",
        },
        format="json",
    )
    assert r.status_code == 200, r.json()
    assert r.json()["data"]["token_url"] == "https://gitlab.example.com/oauth/token"
    sent = authorize(client, new_session(api))
    assert sent["url"] == "https://gitlab.example.com/oauth/authorize"
    r = api.patch("/integrations/github", {"token_url": "not a url"}, format="json")
    assert r.status_code == 400


@pytest.mark.parametrize(
    "answer, code",
    [
        ({"status": 500, "body": "oops"}, "token_error"),
        ({"status": 200, "body": "<html>not json</html>"}, "unable_to_parse_token_response"),
        ({"status": 400, "json": {"error": "invalid_grant"}}, "token_error"),
        ({"status": 200, "json": {"token_type": "bearer"}}, "unable_to_parse_token_response"),
        (
            {"status": 302, "headers": {"Location": "https://evil.example.com"}},
            "unable_to_parse_token_response",
        ),
    ],
)
@responses.activate
def test_a_token_endpoint_that_gives_no_token_stores_nothing(
    github, api, client, answer, code, caplog
):
    caplog.set_level("DEBUG")
    sent = authorize(client, new_session(api))
    responses.post(GITHUB_TOKEN, **answer)
    r = callback(client, code="the-code", state=sent["state"])
    assert r.status_code == 502
    page = r.content.decode()
    assert code in page and "nango_oauth_callback_error" in page
    for secret in ("the-code", "gh-client-secret", sent["state"]):
        assert secret not in page and secret not in caplog.text
    assert not Connection.objects.filter(end_user__isnull=False).exists()
    assert not Delivery.objects.exists()
    assert len(responses.calls) == 1  # redirects are not followed


def test_a_provider_error_on_the_redirect_stores_nothing(github, api, client):
    sent = authorize(client, new_session(api))
    r = callback(client, state=sent["state"], error="access_denied", error_description="No")
    assert r.status_code == 400
    page = r.content.decode()
    assert "callback_err" in page and "access_denied" in page
    assert not Connection.objects.filter(end_user__isnull=False).exists()
    assert not OAuthState.objects.exists()  # used up


def test_forged_and_expired_states_are_refused(github, api, client):
    r = callback(client, code="c", state="forged")
    assert r.status_code == 400 and "invalid_state" in r.content.decode()
    sent = authorize(client, new_session(api))
    OAuthState.objects.update(expires_at=now() - timedelta(seconds=1))
    with responses.RequestsMock():  # no token request is made
        r = callback(client, code="c", state=sent["state"])
    assert r.status_code == 400 and "invalid_state" in r.content.decode()
    assert not Connection.objects.filter(end_user__isnull=False).exists()


def test_it_refuses_what_the_session_does_not_allow(github, world, api, client):
    make_integration(world.env, "slack", "slack", oauth_client_id="s", oauth_client_secret="x")
    token = new_session(api, allowed_integrations=["github"])
    cases = [
        (start(client, token, "slack"), 400, "integration_not_allowed"),
        (start(client, token, "nope"), 404, "unknown_provider_config"),
        (start(client, "nango_connect_session_" + "a" * 64), 401, "unknown_connect_session_token"),
        (start(client, "garbage"), 401, "invalid_connect_session_token_format"),
        (start(client, token, connection_id="mine"), 400, "invalid_query_params"),
    ]
    ConnectSession.objects.filter(allowed_integrations=None).delete()
    for response, status, code in cases:
        assert response.status_code == status, response.content
        assert code in response.content.decode()
        assert token not in response.content.decode()
    ConnectSession.objects.update(expires_at=now() - timedelta(minutes=1))
    r = start(client, token)
    assert r.status_code == 401 and "unknown_connect_session_token" in r.content.decode()
    assert not OAuthState.objects.exists()


def test_it_needs_the_integration_s_oauth_app(world, api, client):
    token = new_session(api)  # world.github has no client id or secret
    r = start(client, token)
    assert r.status_code == 400 and "provider_config_err" in r.content.decode()
    assert not OAuthState.objects.exists()


def test_the_pages_can_be_embedded_and_keep_their_opener(github, api, client):
    page = client.get("/connect/")
    assert page.status_code == 200
    assert "X-Frame-Options" not in page
    assert "frame-ancestors *" in page["Content-Security-Policy"]
    assert page["Cross-Origin-Opener-Policy"] == "same-origin-allow-popups"
    nonce = page["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in page.content.decode()
    done = callback(client, code="c", state="forged")
    assert done["Cross-Origin-Opener-Policy"] == "unsafe-none"
    assert "frame-ancestors 'none'" in done["Content-Security-Policy"]


def test_scopes_are_the_app_s_to_choose_not_the_end_user_s(github, api, client):
    token = new_session(api)
    sent = authorize(
        client,
        token,
        **{"authorization_params[scope]": "admin:org", "params[oauth_scopes_override]": "admin"},
    )
    assert sent["scope"] == "repo read:user"  # the integration's, untouched
    token = new_session(
        api,
        integrations_config_defaults={
            "github": {"connection_config": {"oauth_scopes_override": "gist,user:email"}}
        },
    )
    assert authorize(client, token)["scope"] == "gist user:email"

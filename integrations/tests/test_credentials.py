import threading
from datetime import timedelta

import pytest
import responses
from django.utils.timezone import now

from conftest import deploy_source, expiring_credentials, make_connection, trigger
from integrations.credentials import RefreshError, fresh_credentials
from integrations.models import Connection

TOKEN_URL = "https://github.com/login/oauth/access_token"


@pytest.fixture
def expiring(tworld):
    tworld.github.oauth_client_id = "cid"
    tworld.github.oauth_client_secret = "csecret"
    tworld.github.save()
    return make_connection(tworld.github, "exp", credentials=expiring_credentials())


@responses.activate
def test_it_refreshes_an_expired_token_before_calling(expiring, api):
    responses.post(TOKEN_URL, json={"access_token": "new-token", "expires_in": 3600})
    responses.get("https://api.github.com/user", json={"login": "octo"})
    deploy_source(
        expiring.integration,
        "me",
        """
        from nango import create_action
        action = create_action(description="me", input={"type": "null"}, output={},
                               exec=lambda nango, input: nango.get("/user").data)
        """,
    )
    r = trigger(api, "me", connection="exp")
    assert r.status_code == 200, r.json()
    token_call, user_call = responses.calls
    assert "grant_type=refresh_token" in token_call.request.body
    assert "client_secret=csecret" in token_call.request.body
    assert user_call.request.headers["Authorization"] == "Bearer new-token"
    expiring.refresh_from_db()
    assert expiring.credentials["access_token"] == "new-token"
    assert expiring.credentials["refresh_token"] == "refresh-me"  # kept when not rotated
    assert expiring.credentials_expires_at > now() + timedelta(minutes=59)


@responses.activate
def test_it_refreshes_once_under_concurrent_runs(expiring):
    responses.post(TOKEN_URL, json={"access_token": "new-token", "expires_in": 3600})
    results, barrier = [], threading.Barrier(8)

    def use_connection():
        # Each run loads its own copy of the connection, as separate triggers do.
        connection = Connection.objects.select_related("integration").get(pk=expiring.pk)
        barrier.wait()
        results.append(fresh_credentials(connection)["access_token"])

    threads = [threading.Thread(target=use_connection) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["new-token"] * 8
    assert len(responses.calls) == 1


@responses.activate
def test_it_reports_a_failed_refresh_and_keeps_the_old_credentials(expiring):
    responses.post(TOKEN_URL, json={"error": "invalid_grant"}, status=400)
    with pytest.raises(RefreshError, match="refused the token request \\(invalid_grant\\)"):
        fresh_credentials(expiring)
    expiring.refresh_from_db()
    assert expiring.credentials["access_token"] == "old-token"
    assert "invalid_grant" in expiring.last_refresh_failure and expiring.refresh_failed_at


def test_it_does_not_refresh_a_token_that_is_still_fresh(expiring):
    expiring.set_credentials(expiring_credentials(minutes=60, token="fresh"))
    expiring.save()
    with responses.RequestsMock():  # no call allowed
        assert fresh_credentials(expiring)["access_token"] == "fresh"

import json
import threading
from datetime import timedelta

import pytest
import responses
from django.db import connection as db_connection
from django.utils.timezone import now

from conftest import deploy_source, expiring_credentials, make_connection, trigger
from integrations.credentials import RefreshError, fresh_credentials
from integrations.models import Connection
from nangosite.lib import http
from webhooks.models import Delivery

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


USER_URL = "https://api.github.com/user"
ME = """
from nango import create_action
action = create_action(description="me", input={"type": "null"}, output={},
                       exec=lambda nango, input: nango.get("/user").data)
"""


def github_user(valid: str):
    """The provider's API: 200 for the `valid` token, 401 for any other."""

    def answer(request):
        if request.headers["Authorization"] == f"Bearer {valid}":
            return 200, {}, json.dumps({"login": "octo"})
        return 401, {}, json.dumps({"message": "Bad credentials"})

    responses.add_callback(responses.GET, USER_URL, callback=answer)


def token_answer(calls: list, token: str = "new-token"):
    """The token endpoint; it checks that no transaction is open while it is called."""

    def answer(request):
        calls.append(db_connection.in_atomic_block)
        return 200, {}, json.dumps({"access_token": token, "expires_in": 3600})

    responses.add_callback(responses.POST, TOKEN_URL, callback=answer)


@responses.activate
def test_a_401_refreshes_the_token_once_and_retries_the_action_s_call(expiring, api):
    expiring.set_credentials(expiring_credentials(minutes=120))  # not expiring: revoked early
    expiring.save()
    github_user(valid="new-token")
    in_transaction = []
    token_answer(in_transaction)
    deploy_source(expiring.integration, "me", ME)
    r = trigger(api, "me", connection="exp")
    assert r.status_code == 200, r.json()
    assert r.json() == {"login": "octo"}
    assert in_transaction == [False]  # one refresh, made outside any transaction
    assert [c.request.url for c in responses.calls] == [USER_URL, TOKEN_URL, USER_URL]
    expiring.refresh_from_db()
    assert expiring.credentials["access_token"] == "new-token" and expiring.last_refreshed
    assert expiring.refresh_lease is None


@responses.activate
def test_a_401_through_the_proxy_refreshes_too_and_a_second_401_is_the_answer(expiring, api):
    expiring.set_credentials(expiring_credentials(minutes=120))
    expiring.save()
    headers = {"HTTP_CONNECTION_ID": "exp", "HTTP_PROVIDER_CONFIG_KEY": "github"}
    github_user(valid="new-token")
    token_answer([])
    r = api.get("/proxy/user", **headers)
    assert r.status_code == 200 and json.loads(b"".join(r.streaming_content)) == {"login": "octo"}
    responses.calls.reset()
    responses.remove(responses.GET, USER_URL)
    github_user(valid="a-token-it-never-gets")
    r = api.get("/proxy/user", **headers)
    assert r.status_code == 401  # the provider's answer, after one refresh
    assert [c.request.url for c in responses.calls] == [USER_URL, TOKEN_URL, USER_URL]


@responses.activate
def test_a_401_without_a_refresh_token_is_just_the_answer(tworld, api):
    github_user(valid="something-else")
    deploy_source(tworld.github, "me", ME)
    r = trigger(api, "me")
    assert r.status_code == 424 and r.json()["error"]["code"] == "script_http_error"
    assert len(responses.calls) == 1


def test_a_refresh_another_process_holds_is_waited_for_not_repeated(expiring, clock):
    Connection.objects.filter(pk=expiring.pk).update(refresh_lease=now() + timedelta(minutes=1))

    def other_process_finishes():
        fresh = expiring_credentials(minutes=60, token="theirs")
        row = Connection.objects.get(pk=expiring.pk)
        row.set_credentials(fresh)
        row.refresh_lease = None
        row.save()

    clock("integrations.credentials").at(0.2, other_process_finishes)
    with responses.RequestsMock():  # no token request from us
        assert fresh_credentials(expiring)["access_token"] == "theirs"


def test_a_lease_that_never_ends_gives_up_with_a_clear_error(expiring, clock):
    clock("integrations.credentials")
    Connection.objects.filter(pk=expiring.pk).update(refresh_lease=now() + timedelta(hours=1))
    with responses.RequestsMock(), pytest.raises(RefreshError, match="did not finish"):
        fresh_credentials(expiring)


@responses.activate
def test_a_failed_refresh_marks_the_connection_tells_the_webhooks_once_and_fails_triggers(
    expiring, api
):
    expiring.integration.environment.webhook_primary_url = "https://hooks.example.com/n"
    expiring.integration.environment.save()
    responses.post(TOKEN_URL, json={"error": "invalid_grant"}, status=400)
    deploy_source(expiring.integration, "me", ME)
    for _ in range(2):
        r = trigger(api, "me", connection="exp")
        assert r.status_code == 424, r.json()
        error = r.json()["error"]
        assert error["code"] == "refresh_failed"
        assert "invalid_grant" in error["message"] and "reconnect" in error["message"]
        assert "refresh-me" not in r.content.decode()
    expiring.refresh_from_db()
    assert "invalid_grant" in expiring.last_refresh_failure and expiring.refresh_failed_at
    (delivery,) = Delivery.objects.filter(type="auth")  # on the first failure only
    body = json.loads(delivery.body)
    assert body["operation"] == "refresh" and body["success"] is False
    assert body["error"]["type"] == "refresh_token_external_error"
    assert "invalid_grant" in body["error"]["description"]
    assert "refresh-me" not in delivery.body
    # A later success clears the mark.
    responses.replace(responses.POST, TOKEN_URL, json={"access_token": "ok", "expires_in": 60})
    fresh_credentials(Connection.objects.select_related("integration").get(pk=expiring.pk))
    expiring.refresh_from_db()
    assert expiring.last_refresh_failure == "" and expiring.refresh_failed_at is None


def test_a_refresh_cut_short_by_the_run_s_deadline_is_not_a_failure(expiring):
    import time

    with responses.RequestsMock(), pytest.raises(http.DeadlineExceeded):
        fresh_credentials(expiring, deadline=time.monotonic() - 1)
    expiring.refresh_from_db()
    assert expiring.last_refresh_failure == "" and expiring.refresh_lease is None
    assert not Delivery.objects.exists()

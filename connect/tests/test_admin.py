"""The admin of end users, connect sessions, and what Connect adds to connections and
webhook deliveries: read-only records, no token or credential ever rendered."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils.timezone import now

from connect.models import ConnectSession, EndUser
from webhooks.models import Delivery


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


@pytest.fixture
def connected(world, api):
    world.env.webhook_primary_url = "https://hooks.example.com/n"
    world.env.save()
    body = {"end_user": {"id": "u-42", "email": "ada@example.com", "display_name": "Ada"}}
    token = api.post("/connect/sessions", body, format="json").json()["data"]["token"]
    connection = world.connection
    connection.end_user = EndUser.objects.get()
    connection.created_via = "oauth"
    connection.last_refreshed = now() - timedelta(hours=1)
    connection.refresh_failed_at = now()
    connection.last_refresh_failure = "Could not refresh the access token: invalid_grant"
    connection.save()
    Delivery.objects.announce_auth(connection, "override")
    return token


def test_staff_see_sessions_end_users_and_a_connection_s_origin_and_refresh(
    world, staff, connected
):
    session = ConnectSession.objects.get()
    pages = {
        "/admin/connect/connectsession/": ["Ada", "live"],
        f"/admin/connect/connectsession/{session.pk}/change/": [str(session.code), "Ada"],
        "/admin/connect/enduser/": ["u-42", "ada@example.com"],
        f"/admin/connect/enduser/{session.end_user.pk}/change/": ["github / conn-1"],
        "/admin/integrations/connection/": ["OAuth2", "failing since", "invalid_grant"],
        f"/admin/integrations/connection/{world.connection.pk}/change/": [
            "OAuth2",
            "Ada",
            "failing since",
        ],
        "/admin/integrations/connection/?refresh=failing": ["conn-1"],
        "/admin/webhooks/delivery/?type=auth": ["connection conn-1"],
    }
    for url, expected in pages.items():
        r = staff.get(url)
        assert r.status_code == 200, url
        html = r.content.decode()
        for text in expected:
            assert text in html, (url, text)
        for secret in (connected, session.token_hash, "gho_secret_token"):
            assert secret not in html, (url, secret)
    ok = staff.get("/admin/integrations/connection/?refresh=ok").content.decode()
    assert f"/connection/{world.connection.pk}/change/" not in ok
    assert f"/connection/{world.other_connection.pk}/change/" in ok
    assert staff.get("/admin/connect/connectsession/add/").status_code == 403


def test_an_auth_webhook_can_be_resent(world, staff, connected):
    original = Delivery.objects.get(type="auth")
    r = staff.post(
        "/admin/webhooks/delivery/",
        {"action": "resend", "_selected_action": [original.pk]},
    )
    assert r.status_code == 302
    copy = Delivery.objects.exclude(pk=original.pk).get()
    assert copy.type == "auth" and copy.connection == world.connection and copy.resent_from
    old, new = json.loads(original.body), json.loads(copy.body)
    assert {k: v for k, v in new.items() if k != "sentAt"} == {
        k: v for k, v in old.items() if k != "sentAt"
    }


def test_the_operator_group_may_view_connect_records(db):
    codenames = set(
        Group.objects.get(name="operator").permissions.values_list("codename", flat=True)
    )
    assert {"view_enduser", "view_connectsession"} <= codenames
    assert "change_connectsession" not in codenames

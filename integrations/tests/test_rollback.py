"""Rolling back and pinning: the HTTP API, the model and the admin's button."""

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from conftest import OTHER_SECRET, deploy_source, trigger
from integrations.models import Function, FunctionVersion

SAYS = """
from nango import create_action

action = create_action(description="Says {word}", version="{version}", input={{"type": "null"}},
                       output={{"type": "string"}}, exec=lambda nango, input: "{word}")
"""


def says(word: str, version: str = "1.0.0") -> str:
    return SAYS.format(word=word, version=version)


def deploy_three(world):
    """`say` deployed three times: #1 one, #2 two, #3 three (live)."""
    for number, word in enumerate(("one", "two", "three"), 1):
        deploy_source(world.github, "say", says(word, f"1.0.{number}"))
    return world


@pytest.fixture
def three(tworld):
    return deploy_three(tworld)


def versions(api, name: str = "say") -> dict:
    r = api.get(f"/integrations/github/functions/{name}/versions")
    assert r.status_code == 200, r.content
    return r.json()


def live_number(history: dict) -> int:
    [live] = [v["number"] for v in history["versions"] if v["live"]]
    return live


def test_the_version_list_shows_the_live_one_and_who_deployed_each(three, api):
    history = versions(api)
    assert [v["number"] for v in history["versions"]] == [3, 2, 1]
    assert live_number(history) == 3
    assert history["pinned"] is False and history["enabled"] is True
    newest = history["versions"][0]
    assert (newest["version"], newest["deployed_via"], newest["modules"]) == (
        "1.0.3",
        "command",
        [],
    )


def test_a_rollback_makes_the_version_before_live_and_pins_it(three, api):
    r = api.post("/integrations/github/functions/say/rollback", {}, format="json")
    assert r.status_code == 200, r.content
    history = r.json()
    assert (live_number(history), history["pinned"]) == (2, True)
    two = next(v for v in history["versions"] if v["number"] == 2)
    assert (two["made_live_via"], two["live_since"] is not None) == ("api", True)
    assert trigger(api, "say").json() == "two"

    # Pinned: a deploy of the tree's (newer) code leaves it alone.
    [change] = deploy_source(three.github, "say", says("four", "1.0.4"))
    assert (change.outcome, change.number) == ("pinned", 2)
    assert trigger(api, "say").json() == "two"

    r = api.post("/integrations/github/functions/say/unpin")
    assert r.json()["pinned"] is False
    [change] = deploy_source(three.github, "say", says("four", "1.0.4"))
    assert (change.outcome, change.number) == ("updated", 4)
    assert trigger(api, "say").json() == "four"


@pytest.mark.parametrize("to, number", [(1, 1), ("1", 1), ("#1", 1), ("1.0.1", 1), ("3", 3)])
def test_a_rollback_goes_to_the_version_asked_for(three, api, to, number):
    r = api.post(
        "/integrations/github/functions/say/rollback", {"version": to, "pin": False}, format="json"
    )
    assert r.status_code == 200, r.content
    assert (live_number(r.json()), r.json()["pinned"]) == (number, False)
    assert trigger(api, "say").json() == {1: "one", 3: "three"}[number]


def test_a_rollback_to_an_unknown_version_changes_nothing(three, api):
    r = api.post("/integrations/github/functions/say/rollback", {"version": 9}, format="json")
    assert r.status_code == 404
    assert r.json()["error"] == {
        "code": "unknown_version",
        "message": "github/say has no version '9'",
    }
    assert live_number(versions(api)) == 3
    assert Function.objects.get().pinned is False


def test_a_rollback_with_nothing_earlier_is_refused(tworld, api):
    deploy_source(tworld.github, "say", says("one"))
    r = api.post("/integrations/github/functions/say/rollback")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "no_earlier_version"


def test_unknown_functions_and_other_environments_are_404(three, api):
    r = api.post("/integrations/github/functions/nope/rollback")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {OTHER_SECRET}")
    assert other.get("/integrations/github/functions/say/versions").status_code == 404
    assert other.post("/integrations/github/functions/say/rollback").status_code == 404
    assert APIClient().post("/integrations/github/functions/say/rollback").status_code == 401
    r = api.post("/integrations/github/functions/say/rollback", {"pin": "maybe"}, format="json")
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_body")
    assert live_number(versions(api)) == 3


def test_the_admin_makes_a_version_live(three, client):
    staff = User.objects.create_user("ada", password="pw", is_staff=True, is_superuser=True)
    client.force_login(staff)
    one = FunctionVersion.objects.get(number=1)
    page = client.get(f"/admin/integrations/functionversion/{one.pk}/change/")
    assert b"Make this version live" in page.content

    assert client.get(f"/admin/integrations/functionversion/{one.pk}/make-live/").status_code == 405
    r = client.post(f"/admin/integrations/functionversion/{one.pk}/make-live/")
    assert r.status_code == 302
    one.refresh_from_db()
    assert (one.active, one.made_live_via, one.made_live_by) == (True, "admin", "ada")
    assert Function.objects.get().pinned is True
    page = client.get(r["Location"])
    assert b"is live, and pinned" in page.content
    assert b"admin (ada)" in page.content  # who made it live, in the version list


def test_a_read_only_operator_cannot_roll_back(world, client):
    deploy_three(world)
    operator = User.objects.create_user("op", password="pw", is_staff=True)
    operator.groups.add(Group.objects.get(name="operator"))
    client.force_login(operator)
    one = FunctionVersion.objects.get(number=1)
    page = client.get(f"/admin/integrations/functionversion/{one.pk}/change/")
    assert page.status_code == 200
    assert b"Make this version live" not in page.content
    r = client.post(f"/admin/integrations/functionversion/{one.pk}/make-live/")
    assert r.status_code == 403
    assert FunctionVersion.objects.get(active=True).number == 3

"""Admin of environments, integrations, connections and functions: keys shown once,
credentials write-only, JSON validated, actions enabled and disabled, versions diffed."""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User

from conftest import SECRET, deploy_source, trigger
from integrations.models import Connection, Environment, EnvironmentVariable, Function
from nangosite.lib.crypto import hash_secret

ECHO = """
from nango import create_action
action = create_action(description="echo", input={}, output={}, exec=lambda nango, input: 1)
"""
ECHO_V2 = ECHO.replace("input: 1", "input: 2")


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


def history(obj) -> str:
    return " ".join(e.get_change_message() for e in LogEntry.objects.filter(object_id=obj.pk))


def shown_keys(html: str) -> list[str]:
    return re.findall(r'<code class="nango-key">([^<]+)</code>', html)


def test_it_creates_an_environment_and_shows_its_keys_once(db, staff):
    r = staff.post(
        "/admin/integrations/environment/add/",
        {
            "name": "prod",
            "action_concurrency": "2",
            "send_async_action_webhooks": "on",
            "variables-TOTAL_FORMS": "0",
            "variables-INITIAL_FORMS": "0",
        },
    )
    assert r.status_code == 200 and "no-store" in r["Cache-Control"]
    secret, signing = shown_keys(r.content.decode())
    env = Environment.objects.get(name="prod")
    assert env.secret_key_hash == hash_secret(secret) and env.webhook_signing_key == signing
    for page in [
        "/admin/integrations/environment/",
        f"/admin/integrations/environment/{env.pk}/change/",
    ]:
        html = staff.get(page).content.decode()
        assert secret not in html and signing not in html
        assert f"…{secret[-4:]}" in html
    assert secret not in history(env) and signing not in history(env)


def test_it_rotates_the_secret_key_showing_the_new_one_once(world, staff, api):
    url = f"/admin/integrations/environment/{world.env.pk}/rotate/secret-key/"
    assert "Rotate the secret key" in staff.get(url).content.decode()
    assert Environment.objects.get(pk=world.env.pk).secret_key_hash == hash_secret(SECRET)
    (key,) = shown_keys(staff.post(url).content.decode())
    assert api.get("/integrations").status_code == 401  # the old key
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/integrations").status_code == 200
    html = staff.get(f"/admin/integrations/environment/{world.env.pk}/change/").content.decode()
    assert key not in html
    html = staff.get(f"/admin/integrations/environment/{world.env.pk}/history/").content.decode()
    assert "Rotated the secret key" in html and key not in html


def test_it_rotates_the_webhook_signing_key(world, staff):
    url = f"/admin/integrations/environment/{world.env.pk}/rotate/webhook-signing-key/"
    (key,) = shown_keys(staff.post(url).content.decode())
    world.env.refresh_from_db()
    assert world.env.webhook_signing_key == key != "whsec-dev"
    assert staff.post(url.replace("webhook-signing-key", "nope")).status_code == 404


def test_environment_variables_are_write_only(world, staff):
    var = EnvironmentVariable.objects.create(environment=world.env, name="TOKEN", value="s3cr3t")
    url = f"/admin/integrations/environmentvariable/{var.pk}/change/"
    html = staff.get(url).content.decode()
    assert "s3cr3t" not in html
    staff.post(url, {"environment": world.env.pk, "name": "TOKEN2", "new_value": ""})
    var.refresh_from_db()
    assert (var.name, var.value) == ("TOKEN2", "s3cr3t")  # empty keeps the value
    staff.post(url, {"environment": world.env.pk, "name": "TOKEN2", "new_value": "n3w"})
    var.refresh_from_db()
    assert var.value == "n3w" and "n3w" not in history(var)
    r = staff.post(
        "/admin/integrations/environmentvariable/add/",
        {"environment": world.env.pk, "name": "EMPTY", "new_value": ""},
    )
    assert "A new variable needs a value." in r.content.decode()


def test_connection_credentials_are_write_only(world, staff):
    url = f"/admin/integrations/connection/{world.connection.pk}/change/"
    form = {
        "metadata": '{"team": "a"}',
        "tags": "{}",
        "connection_config": "{}",
        "webhook_url_override": "",
        "new_credentials": "",
    }
    assert staff.post(url, form).status_code == 302
    world.connection.refresh_from_db()
    assert world.connection.credentials["access_token"] == "gho_secret_token"
    assert world.connection.metadata == {"team": "a"}

    new = '{"type": "OAUTH2", "access_token": "gho_brand_new"}'
    assert staff.post(url, {**form, "new_credentials": new}).status_code == 302
    world.connection.refresh_from_db()
    assert world.connection.credentials["access_token"] == "gho_brand_new"
    assert "gho_brand_new" not in staff.get(url).content.decode()
    assert "gho_brand_new" not in history(world.connection)
    assert "Replace credentials" in history(world.connection)

    # A refused form does not send the typed secret back.
    for bad, message in [
        ('{"type": "OAUTH2", "access_tokn": "gho_typo_secret"}', "credentials.access_token is"),
        ('{"type": "BASIC", "username": "gho_typo_secret"}', "credentials.type must be one of"),
        ("gho_typo_secret not json", "Enter a valid JSON."),
    ]:
        r = staff.post(url, {**form, "new_credentials": bad})
        html = r.content.decode()
        assert r.status_code == 200 and message in html and "gho_typo_secret" not in html


def test_connection_json_fields_are_validated(world, staff):
    url = f"/admin/integrations/connection/{world.connection.pk}/change/"
    form = {"tags": "{}", "connection_config": "{}", "webhook_url_override": ""}
    r = staff.post(url, {**form, "metadata": "[1, 2]"})
    assert "Must be a JSON object." in r.content.decode()
    r = staff.post(url, {**form, "metadata": "{not json"})
    assert "Enter a valid JSON." in r.content.decode()
    r = staff.post(url, {**form, "metadata": "{}", "tags": '{"a": 1}'})
    assert "At most 10 tags, each a string." in r.content.decode()
    # What cannot be stored and read back (storable.py) is refused, naming the place.
    for bad, message in (
        ('{"a": "\\u0000"}', "NUL characters"),
        ('{"a": ["\\ud800"]}', "lone UTF-16 surrogate"),
        ('{"a": 1e400}', "Numbers must be finite"),
    ):
        r = staff.post(url, {**form, "metadata": bad})
        assert r.status_code == 200 and message in r.content.decode(), bad
    world.connection.refresh_from_db()
    assert world.connection.metadata == {}


def test_it_adds_a_connection_with_credentials(world, staff):
    form = {
        "integration": world.github.pk,
        "connection_id": "bob",
        "metadata": "{}",
        "tags": "{}",
        "connection_config": "{}",
        "webhook_url_override": "",
    }
    r = staff.post("/admin/integrations/connection/add/", form)
    assert "A new connection needs credentials." in r.content.decode()
    creds = '{"type": "OAUTH2", "access_token": "gho_bob"}'
    r = staff.post("/admin/integrations/connection/add/", {**form, "new_credentials": creds})
    assert r.status_code == 302
    bob = Connection.objects.get(connection_id="bob")
    assert bob.credentials == {"type": "OAUTH2", "access_token": "gho_bob"}
    html = staff.get("/admin/integrations/connection/").content.decode()
    assert "gho_bob" not in html and "gho_secret_token" not in html
    assert "dev / github" in staff.get("/admin/integrations/connection/add/").content.decode()


def test_the_connection_list_shows_runs_and_the_last_error(tworld, api, staff):
    deploy_source(tworld.github, "fails", ECHO.replace("input: 1", "input: 1 / 0"))
    trigger(api, "fails", {})
    trigger(api, "fails", {})
    html = staff.get("/admin/integrations/connection/").content.decode()
    assert re.search(r'<td class="field-runs"><a href="[^"]+">2</a>', html)
    assert "script_internal_error" in html


def test_integration_client_secrets_are_write_only(world, staff):
    url = f"/admin/integrations/integration/{world.github.pk}/change/"
    form = {
        "unique_key": "github",
        "provider": "github",
        "display_name": "",
        "oauth_client_id": "id-1",
        "oauth_scopes": "",
    }
    assert staff.post(url, {**form, "new_client_secret": "cs-very-secret"}).status_code == 302
    world.github.refresh_from_db()
    assert world.github.oauth_client_secret == "cs-very-secret"
    assert staff.post(url, {**form, "new_client_secret": ""}).status_code == 302
    world.github.refresh_from_db()
    assert world.github.oauth_client_secret == "cs-very-secret"
    html = staff.get(url).content.decode()
    assert "cs-very-secret" not in html and "cs-very-secret" not in history(world.github)
    r = staff.post(url, {**form, "unique_key": "bad/key", "new_client_secret": "cs-typed"})
    assert r.status_code == 200 and "cs-typed" not in r.content.decode()
    # The provider comes from the catalog.
    r = staff.post(url, {**form, "provider": "myspace"})
    assert "Select a valid choice" in r.content.decode()


def test_a_disabled_action_answers_disabled_resource(tworld, staff, api):
    deploy_source(tworld.github, "echo", ECHO)
    function = Function.objects.get()
    r = staff.post(
        "/admin/integrations/function/",
        {"action": "disable", "index": "0", "_selected_action": [function.pk]},
    )
    assert r.status_code == 302
    r = trigger(api, "echo", {})
    assert r.status_code == 404 and r.json()["error"]["code"] == "disabled_resource"
    url = f"/admin/integrations/function/{function.pk}/change/"
    version = function.versions.get()
    inline = {"versions-TOTAL_FORMS": "1", "versions-INITIAL_FORMS": "1"}
    inline |= {"versions-0-id": version.pk, "versions-0-function": function.pk}
    assert staff.post(url, {"enabled": "on", **inline}).status_code == 302
    assert trigger(api, "echo", {}).status_code == 200


def test_it_shows_versions_source_and_a_diff(world, staff):
    deploy_source(world.github, "echo", ECHO)
    deploy_source(world.github, "echo", ECHO_V2)
    function = Function.objects.get()
    html = staff.get(f"/admin/integrations/function/{function.pk}/change/").content.decode()
    assert "Every version" in html and "Compare two versions" in html
    assert "create_action" in html and "<span style=" in html  # highlighted source
    html = staff.get(f"/admin/integrations/function/{function.pk}/diff/?a=1&b=2").content.decode()
    assert "input: 1" in html and "input: 2" in html
    assert "The two versions are identical." in html  # the schemas did not change
    html = staff.get(f"/admin/integrations/function/{function.pk}/diff/?a=x&b=99").content.decode()
    assert "between #1 and #2" in html

"""The staff admin: every page renders, stays secret-free, and the execution list stays
cheap; retry, cancel, bulk retry; the dashboard; the read-only operator group."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils.timezone import now

from conftest import SECRET, deploy_source, trigger
from executions import admin as execution_admin
from executions import dashboard
from executions.models import Execution, Status
from integrations.models import EnvironmentVariable, Function
from webhooks.models import Delivery

ECHO = """
from nango import create_action
action = create_action(description="echo", input={}, output={},
                       exec=lambda nango, input: {"token": nango.get_token()[:3], "in": input})
"""
ECHO_V2 = ECHO.replace('"echo"', '"echo, second version"')
FAILING = """
from nango import ActionError, create_action
def run(nango, input):
    nango.log("about to fail")
    raise ActionError({"why": "because"})
action = create_action(description="fails", input={}, output={}, exec=run)
"""
# Values that must never reach an admin page.
SECRETS = ("gho_secret_token", SECRET, "whsec-dev", "client-secret-value", "var-secret-value")


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


def make_execution(world, status=Status.SUCCEEDED, **kw) -> Execution:
    moment = kw.pop("created", now())
    finished = moment if status in (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED) else None
    fields = dict(
        environment=world.env,
        connection_record=world.connection,
        provider_config_key="github",
        connection_id="conn-1",
        action_name="echo",
        status=status,
        input={"n": 1},
        created=moment,
        finished=finished,
        duration_ms=12.5 if finished else None,
    )
    fields.update(kw)
    return Execution(**fields)


def populate(tworld, api) -> dict:
    """One of everything the admin shows, with secrets set everywhere they can be."""
    deploy_source(tworld.github, "echo", ECHO)
    deploy_source(tworld.github, "echo", ECHO_V2)
    deploy_source(tworld.github, "fails", FAILING)
    tworld.github.oauth_client_id = "client-id"
    tworld.github.oauth_client_secret = "client-secret-value"
    tworld.github.save()
    EnvironmentVariable.objects.create(
        environment=tworld.env, name="TOKEN", value="var-secret-value"
    )
    assert trigger(api, "echo", {"a": 1}).status_code == 200
    assert trigger(api, "fails", {}).status_code == 500
    ok = Execution.objects.get(action_name="echo")
    Delivery.objects.create(
        execution=ok, environment=tworld.env, url="http://127.0.0.1:9/hook", body="{}"
    )
    return {
        "ok": ok,
        "failed": Execution.objects.get(action_name="fails"),
        "function": Function.objects.get(name="echo"),
    }


def every_page(tworld, objs) -> list[str]:
    from django.contrib import admin

    pages = ["/admin/"]
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        base = f"/admin/{opts.app_label}/{opts.model_name}/"
        pages.append(base)
        if model_admin.has_add_permission(_Superuser()):
            pages.append(base + "add/")
        first = model.objects.order_by("pk").first()
        if first is not None:
            pages.append(f"{base}{first.pk}/change/")
            pages.append(f"{base}{first.pk}/history/")
    env = tworld.env.pk
    return pages + [
        "/admin/executions/execution/dashboard/",
        f"/admin/executions/execution/dashboard/?environment={env}",
        f"/admin/executions/execution/{objs['ok'].pk}/change/",
        f"/admin/executions/execution/{objs['failed'].pk}/change/",
        f"/admin/integrations/function/{objs['function'].pk}/diff/",
        f"/admin/integrations/function/{objs['function'].pk}/diff/?a=1&b=2",
        f"/admin/integrations/environment/{env}/rotate/secret-key/",
        f"/admin/integrations/environment/{env}/rotate/webhook-signing-key/",
        "/admin/executions/execution/?status__exact=failed",
        f"/admin/executions/execution/?environment__id__exact={env}&integration=github",
        "/admin/executions/execution/?function=github/echo&connection=conn-1",
        "/admin/executions/execution/?since=2020-01-01T00:00&until=2999-01-01T00:00",
        "/admin/executions/execution/?since=garbage",
        f"/admin/executions/execution/?q={objs['ok'].code}",
        "/admin/executions/execution/?q=conn-1",
        "/admin/executions/execution/?q=not-a-uuid",
        f"/admin/integrations/connection/?integration__id__exact={tworld.github.pk}",
    ]


class _Superuser:
    class user:
        is_active = is_staff = is_superuser = True

        @staticmethod
        def has_perm(perm, obj=None):
            return True


def test_it_renders_every_admin_page_for_staff_without_any_secret(tworld, api, staff):
    objs = populate(tworld, api)
    pages = every_page(tworld, objs)
    assert len(pages) > 30
    for page in pages:
        r = staff.get(page)
        assert r.status_code == 200, page
        html = r.content.decode()
        for secret in SECRETS:
            assert secret not in html, (page, secret)


def test_it_refuses_every_admin_page_to_non_staff_and_staff_without_permissions(
    tworld, api, client
):
    objs = populate(tworld, api)
    pages = every_page(tworld, objs)
    client.force_login(User.objects.create_user("joe", password="pw"))
    for page in pages:
        r = client.get(page)
        assert r.status_code == 302 and "/admin/login/" in r["Location"], page
    client.force_login(User.objects.create_user("staff", password="pw", is_staff=True))
    for page in pages[1:]:
        assert client.get(page).status_code == 403, page
    r = client.post(f"/admin/executions/execution/{objs['failed'].pk}/retry/")
    assert r.status_code == 403 and Execution.objects.count() == 2


def test_the_execution_list_makes_as_many_queries_for_50_rows_as_for_5(world, staff):
    def rows(n):
        Execution.objects.bulk_create(
            make_execution(world, status=Status.FAILED, error={"error": {"code": "x"}})
            for _ in range(n)
        )

    def count():
        with CaptureQueriesContext(db) as ctx:
            r = staff.get("/admin/executions/execution/?status__exact=failed")
        assert r.status_code == 200
        return len(ctx.captured_queries), r.content.decode()

    rows(5)
    few, html = count()
    assert html.count('class="action-checkbox"') == 5
    rows(45)
    many, html = count()
    assert html.count('class="action-checkbox"') == 50
    assert few == many


def test_the_execution_list_never_counts_the_whole_table(world, staff, monkeypatch):
    monkeypatch.setattr(execution_admin, "CAP", 3)
    Execution.objects.bulk_create(make_execution(world) for _ in range(8))
    with CaptureQueriesContext(db) as ctx:
        r = staff.get("/admin/executions/execution/")
    html = r.content.decode()
    assert "More than 3 executions match" in html
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 4" in q for q in counts), counts
    # The list loads only the columns it shows.
    page = [q["sql"] for q in ctx.captured_queries if '"executions_execution"."code"' in q["sql"]]
    assert page and all('"executions_execution"."logs"' not in q for q in page)


def test_it_filters_and_searches_executions(world, staff):
    old = make_execution(world, created=now() - timedelta(days=3), action_name="old")
    other = make_execution(world, connection_id="conn-2", action_name="echo")
    failed = make_execution(world, status=Status.FAILED, action_name="boom")
    Execution.objects.bulk_create([old, other, failed])
    Function.objects.create(integration=world.github, name="boom")

    def shown(query):
        html = staff.get("/admin/executions/execution/?" + query).content.decode()
        return {e.action_name for e in Execution.objects.all() if str(e.code)[:8] in html}

    assert shown("status__exact=failed") == {"boom"}
    assert shown("function=github/boom") == {"boom"}
    assert shown("connection=conn-2") == {"echo"}
    assert shown("q=conn-2") == {"echo"}
    assert shown(f"q={Execution.objects.get(action_name='old').code}") == {"old"}
    since = (now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert shown(f"since={since}") == {"echo", "boom"}
    assert shown(f"until={since}") == {"old"}
    assert shown("integration=nope") == set()


def test_it_shows_everything_a_run_did_on_its_detail_page(tworld, api, staff):
    objs = populate(tworld, api)
    html = staff.get(f"/admin/executions/execution/{objs['failed'].pk}/change/").content.decode()
    assert "action_script_runtime_error" in html and "about to fail" in html
    assert "because" in html  # the ActionError payload
    assert "Retry with the same input" in html
    html = staff.get(f"/admin/executions/execution/{objs['ok'].pk}/change/").content.decode()
    assert "http://127.0.0.1:9/hook" in html  # its webhook delivery
    assert "Webhook deliveries (1)" in html
    assert "Provider calls" in html and "Attempts (1)" in html


def test_it_shows_the_upstream_response_of_an_http_error(world, staff):
    error = {
        "error": {
            "code": "script_http_error",
            "message": "The provider said no",
            "upstream": {"status": 422, "headers": {"content-type": "x"}, "body": {"bad": "f"}},
        }
    }
    e = make_execution(world, status=Status.FAILED, error=error, http_status=424)
    e.save()
    html = staff.get(f"/admin/executions/execution/{e.pk}/change/").content.decode()
    assert "Upstream response: HTTP 422" in html and "HTTP 424" in html
    assert "The provider said no" in html


def test_it_retries_a_run_as_a_new_execution_with_the_same_input(tworld, api, staff):
    objs = populate(tworld, api)
    ok = objs["ok"]
    r = staff.post(f"/admin/executions/execution/{ok.pk}/retry/")
    new = Execution.objects.exclude(pk__in=[ok.pk, objs["failed"].pk]).get()
    assert r.status_code == 302 and r["Location"].endswith(f"/{new.pk}/change/")
    assert new.input == ok.input and new.is_async and new.action_name == "echo"
    new.refresh_from_db()
    assert new.status == Status.SUCCEEDED  # django-q2 runs inline in tests
    assert new.output == {"token": "gho", "in": {"a": 1}}
    assert staff.get(f"/admin/executions/execution/{ok.pk}/retry/").status_code == 405


def test_it_refuses_to_retry_a_disabled_action(tworld, api, staff):
    objs = populate(tworld, api)
    Function.objects.filter(name="echo").update(enabled=False)
    r = staff.post(f"/admin/executions/execution/{objs['ok'].pk}/retry/", follow=True)
    assert "the action is disabled" in r.content.decode()
    assert Execution.objects.count() == 2


def test_it_cancels_a_queued_run(world, staff):
    e = make_execution(world, status=Status.QUEUED, is_async=True)
    e.save()
    staff.post(f"/admin/executions/execution/{e.pk}/cancel/")
    e.refresh_from_db()
    assert e.status == Status.CANCELLED
    r = staff.post(f"/admin/executions/execution/{e.pk}/cancel/", follow=True)
    assert "already cancelled" in r.content.decode()


def test_it_retries_every_failure_of_a_filtered_set_in_bulk(tworld, api, staff):
    deploy_source(tworld.github, "echo", ECHO)
    failed = [make_execution(tworld, status=Status.FAILED, input={"n": i}) for i in range(3)]
    Execution.objects.bulk_create([*failed, make_execution(tworld, input={"n": 99})])
    r = staff.post(
        "/admin/executions/execution/?function=github/echo",
        # As the page sends it after "Select all": this page's rows, and select_across.
        {
            "action": "retry_selected",
            "select_across": "1",
            "index": "0",
            "_selected_action": [Execution.objects.first().pk],
        },
    )
    assert r.status_code == 302
    retried = Execution.objects.filter(is_async=True)
    assert sorted(e.input["n"] for e in retried) == [0, 1, 2]
    assert all(e.status == Status.SUCCEEDED for e in retried)


def test_the_dashboard_charts_runs_per_hour_and_percentiles(world, staff):
    rows = [make_execution(world, duration_ms=float(ms)) for ms in range(1, 101)]
    rows += [make_execution(world, status=Status.FAILED, duration_ms=1e3) for _ in range(3)]
    rows.append(make_execution(world, created=now() - timedelta(days=3), duration_ms=5000.0))
    queued_at = now() - timedelta(minutes=7)
    rows.append(make_execution(world, status=Status.QUEUED, created=queued_at, is_async=True))
    rows.append(make_execution(world, status=Status.RUNNING))
    Execution.objects.bulk_create(rows)
    html = staff.get("/admin/executions/execution/dashboard/").content.decode()
    assert html.count('class="nango-chart"') == 4
    assert re.search(r'id="nango-queued">1<', html) and re.search(r'id="nango-running">1<', html)
    assert re.search(r'id="nango-oldest">7 min<', html)
    day = dashboard.action_durations(Execution.objects.all(), now() - timedelta(hours=24))
    assert day[0]["runs"] == 105 and day[0]["failed"] == 3
    assert day[0]["p50"] == 52.0 and day[0]["p95"] == pytest.approx(97.9)
    assert day[0]["sample"] == 103
    week = dashboard.action_durations(Execution.objects.all(), now() - timedelta(days=7))
    assert week[0]["runs"] == 106 and week[0]["p95"] > 95
    buckets = dashboard.hourly_outcomes(Execution.objects.all(), now() - timedelta(hours=24), 24)
    assert len(buckets) == 25 and sum(b["succeeded"] for b in buckets) == 100
    assert sum(b["failed"] for b in buckets) == 3


def test_percentiles_interpolate_as_postgresql_does():
    assert dashboard.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert dashboard.percentile(list(map(float, range(1, 101))), 0.95) == pytest.approx(95.05)
    assert dashboard.percentile([], 0.5) is None


def test_the_operator_group_views_everything_and_changes_nothing(world, client):
    # `world`, not `tworld`: the group comes from a migration, which a flush would undo.
    deploy_source(world.github, "echo", ECHO)
    failed = make_execution(world, status=Status.FAILED, error={"error": {"code": "x"}})
    failed.save()
    function = Function.objects.get()
    operator = User.objects.create_user("op", password="pw", is_staff=True)
    operator.groups.add(Group.objects.get(name="operator"))
    client.force_login(operator)
    for page in [
        "/admin/",
        "/admin/executions/execution/",
        f"/admin/executions/execution/{failed.pk}/change/",
        "/admin/executions/execution/dashboard/",
        f"/admin/integrations/environment/{world.env.pk}/change/",
        f"/admin/integrations/connection/{world.connection.pk}/change/",
        f"/admin/integrations/function/{function.pk}/change/",
        f"/admin/integrations/function/{function.pk}/diff/",
        "/admin/webhooks/delivery/",
    ]:
        r = client.get(page)
        assert r.status_code == 200, page
        html = r.content.decode()
        assert "Retry with the same input" not in html and "Rotate secret key" not in html
        assert 'name="_save"' not in html, page
    env_url = f"/admin/integrations/environment/{world.env.pk}"
    assert client.post(f"{env_url}/rotate/secret-key/").status_code == 403
    assert client.post(f"/admin/executions/execution/{failed.pk}/retry/").status_code == 403
    assert client.post(f"/admin/executions/execution/{failed.pk}/cancel/").status_code == 403
    assert client.post(f"{env_url}/change/", {"name": "x"}).status_code == 403
    assert client.get("/admin/integrations/connection/add/").status_code == 403
    client.post(
        "/admin/executions/execution/",
        {"action": "retry_selected", "index": "0", "_selected_action": [failed.pk]},
    )
    assert Execution.objects.count() == 1
    delivery = Delivery.objects.create(
        execution=failed, environment=world.env, url="http://a.test/h", body="{}"
    )
    client.post(
        "/admin/webhooks/delivery/",
        {"action": "resend", "index": "0", "_selected_action": [delivery.pk]},
    )
    assert Delivery.objects.count() == 1


def test_it_cancels_selected_runs_in_bulk_and_never_deletes_records(world, staff):
    rows = [make_execution(world, status=Status.QUEUED, is_async=True) for _ in range(2)]
    Execution.objects.bulk_create([*rows, make_execution(world)])
    r = staff.post(
        "/admin/executions/execution/",
        {
            "action": "cancel_selected",
            "index": "0",
            "_selected_action": list(Execution.objects.values_list("pk", flat=True)),
        },
    )
    assert r.status_code == 302
    statuses = sorted(Execution.objects.values_list("status", flat=True))
    assert statuses == ["cancelled", "cancelled", "succeeded"]
    html = staff.get("/admin/executions/execution/").content.decode()
    assert "delete_selected" not in html


def test_an_execution_id_in_the_admin_url_leads_to_its_page(world, staff):
    execution = make_execution(world)
    execution.save()
    for suffix in ("", "change/"):
        r = staff.get(f"/admin/executions/execution/{execution.code}/{suffix}", follow=True)
        assert r.status_code == 200
        assert r.redirect_chain[-1][0] == f"/admin/executions/execution/{execution.pk}/change/"
        assert str(execution.code) in r.content.decode()
    r = staff.get("/admin/executions/execution/00000000-0000-4000-8000-000000000000/change/")
    assert r.status_code == 302 and r["Location"] == "/admin/"  # Django's "doesn't exist"

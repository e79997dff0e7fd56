"""The admin in a real browser: headless Chromium (Debian's package, driven through its own
chromedriver, so nothing is downloaded) logs in, opens the dashboard and an execution's
detail page, and saves screenshots under tests/output/."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils.timezone import now

from executions.models import Execution, Status
from tests.browser import OUTPUT, needs_chromium

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium]


def runs(world) -> Execution:
    """A day of runs of two actions, a few failures, one queued: something to chart."""
    moment = now()
    rows = []
    for i in range(120):
        status = Status.FAILED if i % 9 == 0 else Status.SUCCEEDED
        created = moment - timedelta(minutes=11 * i)
        rows.append(
            Execution(
                environment=world.env,
                connection_record=world.connection,
                provider_config_key="github",
                connection_id="conn-1",
                action_name="create-issue" if i % 3 else "list-repos",
                status=status,
                input={"owner": "octocat", "repo": "hello", "title": f"Issue {i}"},
                output={"id": i} if status == Status.SUCCEEDED else None,
                error=None
                if status == Status.SUCCEEDED
                else {"error": {"code": "script_http_error", "message": "Not Found"}},
                created=created,
                finished=created + timedelta(seconds=1),
                duration_ms=80 + (i * 37) % 400 + (900 if i % 3 == 0 else 0),
            )
        )
    rows.append(
        Execution(
            environment=world.env,
            connection_record=world.connection,
            provider_config_key="github",
            connection_id="conn-1",
            action_name="create-issue",
            status=Status.QUEUED,
            is_async=True,
            input={},
            created=moment - timedelta(seconds=95),
        )
    )
    Execution.objects.bulk_create(rows)
    failed = Execution.objects.filter(status=Status.FAILED).first()
    failed.error = {
        "error": {
            "code": "script_http_error",
            "message": "The provider answered 404",
            "upstream": {
                "status": 404,
                "headers": {"content-type": "application/json"},
                "body": {"message": "Not Found", "documentation_url": "https://docs.github.com"},
            },
        }
    }
    failed.http_status = 424
    failed.logs = [{"at": now().isoformat(), "level": "info", "message": "creating the issue"}]
    failed.provider_calls = [
        {
            "method": "POST",
            "url": "https://api.github.com/repos/octocat/hello/issues",
            "status": 404,
            "duration_ms": 84.2,
        }
    ]
    failed.attempt_log = [
        {"number": 1, "outcome": "failed", "duration_ms": 120.5, "error": failed.error["error"]}
    ]
    failed.save()
    return failed


def test_staff_see_the_dashboard_and_a_run_in_a_browser(world, live_server, browser):
    from selenium.webdriver.common.by import By

    failed = runs(world)
    User.objects.create_superuser("admin", "a@example.com", "pw")

    browser.get(live_server.url + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("pw")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert "Site administration" in browser.title or "nangosite" in browser.title

    browser.get(live_server.url + "/admin/executions/execution/dashboard/")
    assert browser.find_element(By.ID, "nango-queued").text == "1"
    assert browser.find_element(By.ID, "nango-oldest").text.endswith("s")
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.nango-chart")
    assert len(charts) == 4 and all(c.size["height"] > 50 for c in charts)
    assert "github / create-issue" in browser.page_source
    # The admin's own stylesheet loaded (served by the live server), so the page is styled.
    header = browser.find_element(By.ID, "header")
    assert header.value_of_css_property("background-color") not in ("rgba(0, 0, 0, 0)", "")
    browser.save_screenshot(str(OUTPUT / "admin-dashboard.png"))

    browser.get(f"{live_server.url}/admin/executions/execution/{failed.pk}/change/")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "script_http_error" in body and "Upstream response: HTTP 404" in body
    assert "creating the issue" in body and "api.github.com/repos/octocat/hello" in body
    assert browser.find_element(By.XPATH, "//button[contains(., 'Retry')]").is_displayed()
    browser.save_screenshot(str(OUTPUT / "admin-execution.png"))

    browser.get(live_server.url + "/admin/executions/execution/?status__exact=failed")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == Execution.objects.filter(status=Status.FAILED).count()
    browser.save_screenshot(str(OUTPUT / "admin-executions.png"))

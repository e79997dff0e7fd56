"""The admin in a real browser, served as `make run` serves it: `migrate`, then
`manage.py serve` (collectstatic, gunicorn, WhiteNoise) with DEBUG off, on a fresh SQLite
database. Headless Chromium (Debian's package, driven through its own chromedriver, so
nothing is downloaded) logs in, opens the dashboard, an execution and the list, checks
that the admin's stylesheets and icons were served (computed styles, not only text), and
saves screenshots under tests/output/."""

import re
import sys
from datetime import timedelta

import pytest
import requests

from tests.browser import OUTPUT, needs_chromium
from tests.processes import (
    ROOT,
    free_port,
    manage,
    platform_env,
    spawn,
    stop_group,
    wait_serving,
)

# The Django admin's header colour (--header-bg, light theme): rgb(65, 118, 144).
HEADER_RGB = (65, 118, 144)

pytestmark = needs_chromium


def seed() -> None:
    """A day of runs of two actions, a few failures, one queued, and a superuser: run in
    the server's database by `manage.py shell` (see `server`)."""
    from django.contrib.auth.models import User
    from django.utils.timezone import now

    from executions.models import Execution, Status
    from integrations.models import Connection, Environment, Integration

    env, _, _ = Environment.create_with_keys("dev")
    github = Integration.objects.create(environment=env, unique_key="github", provider="github")
    connection = Connection(integration=github, connection_id="conn-1")
    connection.set_credentials({"type": "OAUTH2", "access_token": "gho_secret_token"})
    connection.save()
    moment = now()
    rows = []
    for i in range(120):
        status = Status.FAILED if i % 9 == 0 else Status.SUCCEEDED
        created = moment - timedelta(minutes=11 * i)
        rows.append(
            Execution(
                environment=env,
                connection_record=connection,
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
            environment=env,
            connection_record=connection,
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
    failed = Execution.objects.filter(status=Status.FAILED).order_by("created").first()
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
    User.objects.create_superuser("admin", "a@example.com", "pw")
    print(f"failed={failed.pk} code={failed.code}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`make run`'s server (`migrate`, then `serve`) on a free port, without the worker."""
    workdir = tmp_path_factory.mktemp("admin")
    env = platform_env(workdir, {}, STATIC_ROOT=str(workdir / "static"))
    manage(env, "migrate", "--no-input", "-v0")
    seeded = manage(env, "shell", "-c", "from tests.test_admin_browser import seed; seed()")
    pk, code = re.search(r"failed=(\d+) code=(\S+)", seeded).groups()
    url = f"http://127.0.0.1:{free_port()}"
    bind = url.removeprefix("http://")
    command = [
        sys.executable,
        str(ROOT / "manage.py"),
        "serve",
        "--no-worker",
        "--bind",
        bind,
        "--workers",
        "1",
    ]
    proc = spawn(command, env, workdir / "serve.log")
    try:
        if not wait_serving(proc, url + "/health", timeout=90):
            log = (workdir / "serve.log").read_text(errors="replace")
            raise AssertionError(f"manage.py serve did not start:\n{log[-5000:]}")
        yield {"url": url, "failed_pk": pk, "failed_code": code}
    finally:
        stop_group(proc, grace=10)


def rgb(value: str) -> tuple[int, ...]:
    """'rgba(65, 118, 144, 1)' or 'rgb(65, 118, 144)' as (65, 118, 144)."""
    return tuple(int(float(n)) for n in re.findall(r"[\d.]+", value)[:3])


def assert_styled(browser) -> None:
    """Every stylesheet of the page loaded with its rules, and the admin's look applies."""
    from selenium.webdriver.common.by import By

    sheets = browser.execute_script(
        "return Array.from(document.styleSheets)"
        ".filter(s => s.href).map(s => [s.href, s.cssRules.length])"
    )
    assert sheets and all(rules > 0 for _, rules in sheets), sheets
    header = browser.find_element(By.ID, "header")
    assert rgb(header.value_of_css_property("background-color")) == HEADER_RGB
    # Unstyled, the header is a huge block of plain text; styled, it is one slim bar.
    assert header.size["height"] < 120
    assert "Roboto" in browser.find_element(By.TAG_NAME, "body").value_of_css_property(
        "font-family"
    )


def test_staff_see_a_styled_admin_served_by_make_runs_server(server, browser):
    from selenium.webdriver.common.by import By

    url = server["url"]
    OUTPUT.mkdir(exist_ok=True)
    browser.get(url + "/admin/login/")
    # collectstatic's copies, named by their content's hash: cached forever, busted by a change.
    css = browser.find_element(By.CSS_SELECTOR, "link[rel=stylesheet][href*='base.']")
    href = css.get_attribute("href")
    assert re.search(r"/static/admin/css/base\.[0-9a-f]{12}\.css$", href), href
    answer = requests.get(href, headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Encoding"] == "gzip"
    assert "immutable" in answer.headers["Cache-Control"]
    assert_styled(browser)
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("pw")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert "Site administration" in browser.title or "nangosite" in browser.title

    browser.get(url + "/admin/executions/execution/dashboard/")
    assert browser.find_element(By.ID, "nango-queued").text == "1"
    assert browser.find_element(By.ID, "nango-oldest").text.endswith("s")
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.nango-chart")
    assert len(charts) == 4 and all(c.size["height"] > 50 for c in charts)
    assert "github / create-issue" in browser.page_source
    assert_styled(browser)
    browser.save_screenshot(str(OUTPUT / "admin-dashboard.png"))

    # An execution's id (the X-Execution-Id of its answer) leads to its page.
    browser.get(f"{url}/admin/executions/execution/{server['failed_code']}/")
    assert browser.current_url.endswith(
        f"/admin/executions/execution/{server['failed_pk']}/change/"
    )
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "script_http_error" in body and "Upstream response: HTTP 404" in body
    assert "creating the issue" in body and "api.github.com/repos/octocat/hello" in body
    assert browser.find_element(By.XPATH, "//button[contains(., 'Retry')]").is_displayed()
    assert_styled(browser)
    browser.save_screenshot(str(OUTPUT / "admin-execution.png"))

    browser.get(url + "/admin/executions/execution/?status__exact=failed")
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 14  # i % 9 == 0 for i in 0..119
    # The icons are images that loaded, not black squares.
    icon = browser.find_element(By.CSS_SELECTOR, "#changelist-search img")
    assert browser.execute_script("return arguments[0].naturalWidth", icon) > 0
    assert_styled(browser)
    browser.save_screenshot(str(OUTPUT / "admin-executions.png"))

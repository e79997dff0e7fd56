"""Connect end to end: gunicorn + a qcluster worker + the fake OAuth2 provider + a webhook
receiver on 127.0.0.1, driven by the official clients.

- `@nangohq/node` creates connect sessions and reads the connection;
- an app page on its own loopback origin loads the official `@nangohq/frontend` (from
  npm, served by the test) and calls `openConnectUI` against the platform; headless
  Chromium clicks through the Connect page and the provider's consent page; the app page
  receives `connect`; a trigger with that connection then reaches the provider with the
  token; the auth webhook arrives signed;
- the token is revoked (a 401 refreshes it), then the refresh token too (the refresh
  fails: 424 and an auth webhook).
"""

import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.actions import CREATE_ISSUE
from tests.browser import OUTPUT, needs_chromium
from tests.e2e.conftest import NODE_DIR, Platform, run_node
from tests.e2e.test_e2e_async import Worker
from tests.fakeoauth import FakeOAuthProvider
from tests.processes import manage, scratch_postgres
from webhooks.tests.receiver import Receiver

pytestmark = pytest.mark.e2e

FRONTEND = NODE_DIR / "node_modules" / "@nangohq" / "frontend" / "dist"
APP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>The app</title></head>
<body>
<h1>The app</h1>
<button type="button" id="connect">Connect your accounts</button>
<script type="module">
import Nango from '/nango/index.js';
const given = new URLSearchParams(location.search);
window.events = [];
document.getElementById('connect').addEventListener('click', () => {
  const nango = new Nango({ connectSessionToken: given.get('token') });
  nango.openConnectUI({
    baseURL: given.get('platform') + '/connect',
    apiURL: given.get('platform'),
    onEvent: (event) => { window.events.push(event); },
  });
});
</script>
</body></html>
"""


class AppServer:
    """The app's own web server, on another loopback origin than the platform: its page
    and the official @nangohq/frontend files, as the app's bundler would serve them."""

    def __init__(self) -> None:
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> "AppServer":
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path == "/":
                    body, kind = APP_PAGE.encode(), "text/html; charset=utf-8"
                elif path.startswith("/nango/") and ".." not in path:
                    file = FRONTEND / path.removeprefix("/nango/")
                    if not file.is_file():
                        self.send_error(404)
                        return
                    body, kind = file.read_bytes(), "text/javascript"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture(scope="module")
def cplat(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e-connect")
    provider = FakeOAuthProvider().start()
    platform = Platform(workdir, provider)
    platform.env.update(Q_POLL="0.05", Q_WORKERS="1", Q_NAME=f"e2e-connect-{uuid.uuid4().hex[:8]}")
    drop = None
    if os.environ.get("DATABASE_URL"):
        platform.env["DATABASE_URL"], drop = scratch_postgres(os.environ["DATABASE_URL"], "e2ecn")
    if os.environ.get("REDIS_URL"):
        platform.env["REDIS_URL"] = os.environ["REDIS_URL"]
    platform.worker = None
    receiver = None
    try:
        platform.start()
        out = manage(platform.env, "rotate_webhook_key", "e2e")
        receiver = Receiver(out.split("webhook signing key: ")[1].split()[0]).start()
        platform.receiver = receiver
        http = platform.client()
        r = http.post(
            platform.url + "/integrations",
            json={
                "unique_key": "github",
                "provider": "github",
                "credentials": {
                    "type": "OAUTH2",
                    "client_id": provider.client_id,
                    "client_secret": provider.client_secret,
                    "scopes": "repo,read:user",
                },
                "authorization_url": provider.authorize_url,
                "token_url": provider.token_url,
            },
        )
        assert r.status_code == 200, r.text
        r = http.post(
            platform.url + "/integrations", json={"unique_key": "stripe", "provider": "stripe"}
        )
        assert r.status_code == 200, r.text
        platform.write_function("github", "create-issue", CREATE_ISSUE)
        platform.deploy()
        platform.worker = Worker(platform.env, workdir / "worker.log").start()
        yield platform
    finally:
        if platform.worker is not None:
            platform.worker.kill()
        platform.stop()
        provider.stop()
        if receiver is not None:
            receiver.stop()
        if drop:
            drop()


def node(platform, method: str, *args):
    """One @nangohq/node call against the platform: {"ok", "value"} or {"ok": False, ...}."""
    return run_node(["client.mjs", platform.url, platform.secret, method, json.dumps(args)])


def hooks_for(platform, connection_id: str, count: int) -> list:
    """The webhooks received about one connection, once there are `count` (20 s at most)."""
    deadline = time.monotonic() + 20
    while True:
        found = [h for h in platform.receiver.received if h.json["connectionId"] == connection_id]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def new_session(platform, **extra) -> dict:
    body = {
        "end_user": {"id": "user-7", "email": "ada@example.com", "display_name": "Ada"},
        "organization": {"id": "org-1"},
        "allowed_integrations": ["github", "stripe"],
        "webhook_url_override": platform.receiver.url,
        **extra,
    }
    answer = node(platform, "createConnectSession", body)
    assert answer["ok"], answer
    return answer["value"]["data"]


def test_the_node_client_opens_sessions_and_they_are_nango_shaped(cplat):
    data = new_session(cplat)
    assert data["token"].startswith("nango_connect_session_") and len(data["token"]) == 86
    assert data["connect_link"] == f"{cplat.url}/connect/#session_token={data['token']}"
    r = cplat.client().get(
        cplat.url + "/connect/session", headers={"Authorization": f"Bearer {data['token']}"}
    )
    assert r.status_code == 200, r.text
    assert [i["unique_key"] for i in r.json()["data"]["integrations"]] == ["github", "stripe"]
    bad = node(
        cplat, "createConnectSession", {"end_user": {"id": "x"}, "allowed_integrations": ["nope"]}
    )
    assert not bad["ok"] and bad["status"] == 400
    assert bad["data"]["error"]["code"] == "invalid_body"


def test_an_api_key_connection_through_the_connect_routes(cplat):
    token = new_session(cplat)["token"]
    r = cplat.client().post(
        f"{cplat.url}/api-auth/api-key/stripe?connect_session_token={token}",
        json={"apiKey": "sk_test_123"},
    )
    assert r.status_code == 200, r.text
    found = node(cplat, "getConnection", "stripe", r.json()["connectionId"])
    assert found["ok"], found
    assert found["value"]["credentials"] == {"type": "API_KEY", "apiKey": "sk_test_123"}
    assert found["value"]["end_user"]["id"] == "user-7"


@needs_chromium
def test_an_end_user_connects_in_the_browser_and_the_connection_works(cplat, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    if not FRONTEND.is_dir():
        if os.environ.get("REQUIRE_NODE_CLIENT"):
            raise AssertionError("@nangohq/frontend missing (npm ci in tests/e2e/node)")
        pytest.skip("@nangohq/frontend is not installed (npm ci in tests/e2e/node)")
    provider = cplat.provider
    token = new_session(cplat)["token"]
    app = AppServer().start()
    wait = WebDriverWait(browser, 20)
    try:
        browser.get(f"{app.url}/?token={token}&platform={cplat.url}")
        browser.find_element(By.ID, "connect").click()
        wait.until(ec.frame_to_be_available_and_switch_to_it((By.ID, "connect-ui")))
        github = wait.until(
            ec.element_to_be_clickable((By.XPATH, "//button[.//span[text()='GitHub']]"))
        )
        browser.save_screenshot(str(OUTPUT / "connect-list.png"))
        github.click()
        go = wait.until(ec.element_to_be_clickable((By.ID, "oauth-go")))
        assert browser.switch_to.active_element == go  # focus moved to the next step
        app_window = browser.current_window_handle
        go.click()
        wait.until(lambda b: len(b.window_handles) == 2)
        browser.switch_to.window([h for h in browser.window_handles if h != app_window][0])
        allow = wait.until(ec.element_to_be_clickable((By.ID, "allow")))
        assert "repo read:user" in browser.page_source  # the scopes, space-separated
        allow.click()
        # The callback page reports to the Connect page, which closes it.
        try:
            wait.until(lambda b: len(b.window_handles) == 1)
        except Exception:
            browser.save_screenshot(str(OUTPUT / "connect-popup-stuck.png"))
            raise
        browser.switch_to.window(app_window)
        browser.switch_to.frame("connect-ui")
        done = wait.until(ec.visibility_of_element_located((By.ID, "done-text")))
        assert done.text == "GitHub is connected."
        browser.save_screenshot(str(OUTPUT / "connect-done.png"))
        browser.switch_to.default_content()
        events = wait.until(
            lambda b: [
                e for e in b.execute_script("return window.events") if e["type"] == "connect"
            ]
        )
        (connected,) = events
        assert connected["payload"]["providerConfigKey"] == "github"
        connection_id = connected["payload"]["connectionId"]
        assert [e["type"] for e in browser.execute_script("return window.events")][0] == "ready"
        # "Done" closes the Connect UI: the app's iframe goes away.
        browser.switch_to.frame("connect-ui")
        browser.find_element(By.ID, "finish").click()
        browser.switch_to.default_content()
        wait.until(lambda b: not b.find_elements(By.ID, "connect-ui"))
        assert "close" in [e["type"] for e in browser.execute_script("return window.events")]
    finally:
        app.stop()

    # The provider checked PKCE and the client; the platform holds the token it issued.
    (exchange,) = [
        t for t in provider.token_requests if t["form"]["grant_type"] == "authorization_code"
    ]
    assert exchange["form"]["code_verifier"] and exchange["form"]["redirect_uri"] == (
        cplat.url + "/oauth/callback"
    )
    found = node(cplat, "getConnection", "github", connection_id)
    assert found["ok"], found
    access_token = found["value"]["credentials"]["access_token"]
    assert access_token in provider.access_tokens
    assert found["value"]["end_user"]["id"] == "user-7"

    # A trigger with that connection reaches the provider with the token.
    r = cplat.trigger("create-issue", {"repo": "acme/app", "title": "Hi"}, connection=connection_id)
    assert r.status_code == 200, r.text
    assert provider.api_tokens[-1] == access_token

    # The auth webhook arrived, signed with the environment's key.
    (hook,) = hooks_for(cplat, connection_id, 1)
    assert hook.verified
    body = hook.json
    assert (body["type"], body["operation"], body["success"]) == ("auth", "creation", True)
    assert body["connectionId"] == connection_id and body["endUser"]["endUserId"] == "user-7"

    # The provider revokes the token: the next call gets 401, refreshes once, succeeds.
    provider.revoke(access_token)
    r = cplat.trigger(
        "create-issue", {"repo": "acme/app", "title": "Again"}, connection=connection_id
    )
    assert r.status_code == 200, r.text
    assert provider.api_tokens[-2:] == [access_token, provider.api_tokens[-1]]
    assert provider.api_tokens[-1] != access_token

    # Then the refresh token too: the trigger says so, and so does an auth webhook.
    provider.revoke(provider.api_tokens[-1])
    provider.revoke_refresh_tokens()
    r = cplat.trigger("create-issue", {"repo": "acme/app", "title": "No"}, connection=connection_id)
    assert r.status_code == 424, r.text
    assert r.json()["error"]["code"] == "refresh_failed"
    hooks = hooks_for(cplat, connection_id, 2)
    assert len(hooks) == 2 and hooks[1].verified
    failure = hooks[1].json
    assert (failure["operation"], failure["success"]) == ("refresh", False)
    assert "invalid_grant" in failure["error"]["description"]


def test_a_reconnect_session_from_the_node_client_overrides_the_connection(cplat):
    token = new_session(cplat)["token"]
    r = cplat.client().post(
        f"{cplat.url}/api-auth/api-key/stripe?connect_session_token={token}",
        json={"apiKey": "sk_first"},
    )
    connection_id = r.json()["connectionId"]
    answer = node(
        cplat,
        "createReconnectSession",
        {"connection_id": connection_id, "integration_id": "stripe"},
    )
    assert answer["ok"], answer
    again = answer["value"]["data"]["token"]
    r = cplat.client().post(
        f"{cplat.url}/api-auth/api-key/stripe?connect_session_token={again}",
        json={"apiKey": "sk_second"},
    )
    assert r.status_code == 200 and r.json()["connectionId"] == connection_id
    found = node(cplat, "getConnection", "stripe", connection_id)
    assert found["value"]["credentials"]["apiKey"] == "sk_second"
    hooks = hooks_for(cplat, connection_id, 2)
    assert [h.json["operation"] for h in hooks] == ["creation", "override"]
    assert all(h.verified for h in hooks)


@needs_chromium
def test_a_connect_link_opens_the_page_which_works_from_the_keyboard(cplat, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    data = new_session(cplat, allowed_integrations=["stripe"])
    wait = WebDriverWait(browser, 20)
    browser.get(data["connect_link"])
    # One integration: straight to its form, the key field focused and labelled.
    field = wait.until(ec.visibility_of_element_located((By.ID, "api-key")))
    assert browser.switch_to.active_element == field
    assert browser.find_element(By.CSS_SELECTOR, "label[for=api-key]").text == "API key"
    assert data["token"] not in browser.current_url  # taken out of the address bar
    browser.switch_to.active_element.send_keys("sk_typed", Keys.ENTER)
    done = wait.until(ec.visibility_of_element_located((By.ID, "done-text")))
    assert done.text == "Stripe is connected."
    assert browser.switch_to.active_element == browser.find_element(By.ID, "finish")
    browser.save_screenshot(str(OUTPUT / "connect-link-done.png"))
    found = cplat.client().get(cplat.url + "/connections?endUserId=user-7&search=").json()
    assert "stripe" in [c["provider_config_key"] for c in found["connections"]]
    # An unknown link (here in Nango's ?session_token= form) says so, in words.
    browser.get(cplat.url + "/connect/?session_token=nango_connect_session_" + "0" * 64)
    error = wait.until(ec.visibility_of_element_located((By.ID, "error")))
    assert "no longer valid" in error.text

"""The Python client (`from nango import Nango`) end to end: gunicorn, a django-q2 worker,
the fake provider, and a webhook receiver, every method and the error type."""

import textwrap
import time
import uuid

import pytest

from nango import Nango, NangoError
from tests.fakeprovider import FakeProvider, Stream
from tests.processes import free_port, manage, qcluster, stop_group

pytestmark = pytest.mark.e2e

KEY = "client-github"
TOKEN = "gho_client_token_8642"
SIGNING_KEY = "whsec-client-e2e-0123456789"

FUNCTIONS = {
    "whoami": """
        from nango import create_action

        def run(nango, input):
            return nango.get("/client/user").data

        action = create_action(description="Who am I", input={"type": "null"},
                               output={"type": "object"}, exec=run)
    """,
    "refuse": """
        from nango import ActionError, create_action

        def run(nango, input):
            raise ActionError({"message": "refused", "reason": input["reason"]})

        action = create_action(description="Always fails", input={"type": "object"},
                               output={"type": "object"}, exec=run)
    """,
    "slow": """
        import time
        from nango import create_action

        def run(nango, input):
            time.sleep(input["seconds"])
            return {"slept": input["seconds"]}

        action = create_action(description="Takes its time", input={"type": "object"},
                               output={"type": "object"}, exec=run)
    """,
}


@pytest.fixture(scope="module")
def world(platform, tmp_path_factory):
    secret = str(uuid.uuid4())
    # An environment of its own, with a known signing key, on the shared platform.
    manage(
        platform.env,
        "create_environment",
        "client",
        "--secret-key",
        secret,
        "--webhook-signing-key",
        SIGNING_KEY,
    )
    api = platform.client(secret)
    r = api.post(platform.url + "/integrations", json={"unique_key": KEY, "provider": "github"})
    assert r.status_code == 200, r.text
    folder = tmp_path_factory.mktemp("client-functions")
    for name, source in FUNCTIONS.items():
        path = folder / KEY / "actions" / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    out = manage(platform.env, "deploy", "client", "--dir", str(folder), "--integration", KEY)
    assert "3 created" in out, out
    platform.provider.route("GET", "/client/user", status=200, json={"login": "octocat"})

    # The same cluster name as the web server's, whose queue it serves, and its webhooks.
    env = {**platform.env, "Q_POLL": "0.05"}
    workers = [
        qcluster(env, platform.workdir / "client-worker.log"),
        qcluster(env, platform.workdir / "client-worker.log", webhooks=True),
    ]
    receiver = FakeProvider().start()
    receiver.route("POST", "/hooks", status=200, json={})
    nango = Nango(secret, platform.url, webhook_signing_key=SIGNING_KEY)
    try:
        yield nango, receiver
    finally:
        nango.close()
        receiver.stop()
        for worker in workers:
            stop_group(worker, grace=5)


@pytest.fixture(scope="module")
def nango(world) -> Nango:
    return world[0]


@pytest.fixture(scope="module")
def connected(nango) -> str:
    credentials = {"type": "OAUTH2", "access_token": TOKEN}
    connection = nango.import_connection(
        KEY, "alice", credentials, metadata={"plan": "free"}, tags={"team": "core"}
    )
    assert connection["connection_id"] == "alice"
    return "alice"


def test_list_integrations(nango):
    assert [i["unique_key"] for i in nango.list_integrations()] == [KEY]


def test_import_and_get_a_connection(nango, connected):
    connection = nango.get_connection(KEY, connected)
    assert connection["credentials"]["access_token"] == TOKEN
    assert connection["tags"] == {"team": "core"}
    with pytest.raises(NangoError) as caught:
        nango.import_connection(KEY, "bob", {"type": "OAUTH2"})
    assert caught.value.status == 400 and caught.value.code == "invalid_body"
    assert caught.value.errors and caught.value.errors[0]["path"] == ["credentials"]
    with pytest.raises(NangoError) as caught:
        nango.get_connection(KEY, "nobody")
    assert caught.value.status == 404 and caught.value.code == "not_found"


def test_metadata_set_get_update(nango, connected):
    nango.set_metadata(KEY, connected, {"plan": "pro", "seats": 3})
    assert nango.get_metadata(KEY, connected) == {"plan": "pro", "seats": 3}
    nango.update_metadata(KEY, [connected], {"seats": 5})
    assert nango.get_metadata(KEY, connected) == {"plan": "pro", "seats": 5}
    with pytest.raises(NangoError) as caught:
        nango.set_metadata(KEY, [connected, "ghost"], {"x": 1})
    assert caught.value.status == 404 and caught.value.code == "unknown_connection"
    assert nango.get_metadata(KEY, connected) == {"plan": "pro", "seats": 5}


def test_trigger_action_returns_the_output(nango, connected, platform):
    assert nango.trigger_action(KEY, connected, "whoami") == {"login": "octocat"}
    sent = platform.provider.received("GET", "/client/user")[-1]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_failed_action_raises_nango_error_with_the_payload(nango, connected):
    with pytest.raises(NangoError) as caught:
        nango.trigger_action(KEY, connected, "refuse", {"reason": "policy"})
    error = caught.value
    assert error.status == 500 and error.code == "action_script_runtime_error"
    assert error.payload == {"message": "refused", "reason": "policy"}


def test_bad_requests_raise_nango_error(nango, connected, platform):
    with pytest.raises(NangoError) as caught:
        nango.trigger_action(KEY, connected, "no-such-action")
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    with pytest.raises(NangoError) as caught:
        nango.trigger_action(KEY, "ghost", "whoami")
    assert (caught.value.status, caught.value.code) == (400, "unknown_connection")
    with pytest.raises(NangoError) as caught:
        Nango("not-a-key", platform.url).list_integrations()
    assert (caught.value.status, caught.value.code) == (401, "unknown_account")
    with pytest.raises(NangoError) as caught:
        Nango("k", f"http://127.0.0.1:{free_port()}").list_integrations()
    assert caught.value.status is None and caught.value.code == "network_error"


def test_async_trigger_and_result_with_a_wait(nango, connected):
    started = nango.trigger_action_async(KEY, connected, "slow", {"seconds": 1})
    assert started["statusUrl"] == f"/action/{started['id']}"
    with pytest.raises(NangoError) as caught:
        nango.get_async_action_result(started["id"])
    assert (caught.value.status, caught.value.code) == (404, "pending")
    assert nango.get_async_action_result(started["id"], wait=20) == {"slept": 1}
    assert nango.get_async_action_result(status_url=started["statusUrl"]) == {"slept": 1}
    with pytest.raises(NangoError) as caught:
        nango.get_async_action_result(str(uuid.uuid4()))
    assert (caught.value.status, caught.value.code) == (404, "not_found")


def test_async_failures_retries_and_idempotency(nango, connected):
    started = nango.trigger_action_async(
        KEY, connected, "refuse", {"reason": "x"}, max_retries=1, idempotency_key="once-1"
    )
    again = nango.trigger_action_async(
        KEY, connected, "refuse", {"reason": "x"}, max_retries=1, idempotency_key="once-1"
    )
    assert again["id"] == started["id"]
    with pytest.raises(NangoError) as caught:
        nango.get_async_action_result(started["id"], wait=20)
    assert caught.value.code == "action_script_runtime_error"
    detail = nango.request("GET", f"/executions/{started['id']}").json()
    assert len(detail["attempts"]) == 2  # the first try and one retry


def test_a_completion_webhook_verifies_with_the_signing_key(world, nango, connected):
    receiver = world[1]
    nango.request(
        "PATCH",
        f"/connections/{connected}",
        params={"provider_config_key": KEY},
        json={"webhook_url_override": receiver.url + "/hooks"},
    )
    started = nango.trigger_action_async(KEY, connected, "whoami")
    deadline = time.monotonic() + 20
    while not receiver.received("POST", "/hooks") and time.monotonic() < deadline:
        time.sleep(0.1)
    (hook,) = receiver.received("POST", "/hooks")
    assert hook.json()["payload"]["id"] == started["id"]
    assert nango.verify_webhook(hook.body, dict(hook.headers))
    assert not nango.verify_webhook(hook.body + b" ", dict(hook.headers))
    assert not nango.verify_webhook(hook.body, dict(hook.headers), signing_key="wrong")


def test_proxy_methods_reach_the_provider_as_the_connection(nango, connected, platform):
    platform.provider.route("POST", "/client/issues", status=201, json={"number": 9})
    r = nango.post("/client/issues", KEY, connected, data={"title": "Hi"}, headers={"X-A": "1"})
    assert r.status_code == 201 and r.json() == {"number": 9}
    sent = platform.provider.received("POST", "/client/issues")[-1]
    assert sent.json() == {"title": "Hi"}
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}" and sent.headers["X-A"] == "1"
    r = nango.get("/client/user", KEY, connected, params={"page": 2})
    assert r.json() == {"login": "octocat"}
    assert platform.provider.received("GET", "/client/user")[-1].query == "page=2"
    for method in ("put", "patch", "delete"):
        platform.provider.route(method.upper(), "/client/thing", status=200, json={"m": method})
        assert getattr(nango, method)("/client/thing", KEY, connected).json() == {"m": method}


def test_proxy_errors_and_streamed_answers(nango, connected, platform):
    platform.provider.route("GET", "/client/missing", status=404, json={"message": "Not Found"})
    with pytest.raises(NangoError) as caught:
        nango.get("/client/missing", KEY, connected)
    assert caught.value.status == 404 and caught.value.body == {"message": "Not Found"}
    size = 8 * 1024 * 1024
    platform.provider.route("GET", "/client/big", lambda request: (200, {}, Stream.of_size(size)))
    with nango.get("/client/big", KEY, connected, stream=True) as r:
        assert sum(len(c) for c in r.iter_content(64 * 1024)) == size

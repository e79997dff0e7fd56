"""The Python client's wire format and error handling, against mocked HTTP (the end-to-end
test in tests/e2e/test_e2e_client.py runs it against the real server)."""

import hashlib
import hmac
import json

import pytest
import requests
import responses

from nango import Nango, NangoError

HOST = "http://nango.test"


@pytest.fixture
def nango():
    with Nango("sk-123", HOST, webhook_signing_key="whsec") as client:
        yield client


@pytest.fixture
def mock():
    with responses.RequestsMock() as m:
        yield m


def test_trigger_action_sends_what_the_node_client_sends(nango, mock):
    mock.post(f"{HOST}/action/trigger", json={"number": 7})
    assert nango.trigger_action("github", "alice", "create-issue", {"title": "Hi"}) == {"number": 7}
    sent = mock.calls[0].request
    assert sent.headers["Authorization"] == "Bearer sk-123"
    assert sent.headers["Connection-Id"] == "alice"
    assert sent.headers["Provider-Config-Key"] == "github"
    assert sent.headers["Content-Type"] == "application/json"
    assert "X-Async" not in sent.headers
    assert json.loads(sent.body) == {"action_name": "create-issue", "input": {"title": "Hi"}}


def test_an_action_without_input_sends_no_input_and_a_null_output_is_none(nango, mock):
    mock.post(f"{HOST}/action/trigger", body="null", content_type="application/json")
    assert nango.trigger_action("github", "alice", "ping") is None
    assert json.loads(mock.calls[0].request.body) == {"action_name": "ping"}


def test_trigger_action_async_asks_for_async_with_retries_and_a_key(nango, mock):
    mock.post(f"{HOST}/action/trigger", status=202, json={"id": "u1", "statusUrl": "/action/u1"})
    started = nango.trigger_action_async(
        "github", "alice", "create-issue", {"a": 1}, max_retries=3, idempotency_key="k-1"
    )
    assert started == {"id": "u1", "statusUrl": "/action/u1"}
    sent = mock.calls[0].request
    assert sent.headers["X-Async"] == "true"
    assert sent.headers["X-Max-Retries"] == "3"
    assert sent.headers["Idempotency-Key"] == "k-1"


def test_an_api_error_raises_nango_error_with_its_parts(nango, mock):
    mock.post(
        f"{HOST}/action/trigger",
        status=424,
        json={
            "error": {
                "code": "script_http_error",
                "message": "The provider answered 404",
                "payload": {"a": 1},
                "upstream": {"status": 404, "headers": {}, "body": {"m": "nope"}},
            }
        },
    )
    with pytest.raises(NangoError) as caught:
        nango.trigger_action("github", "alice", "x")
    error = caught.value
    assert error.status == 424
    assert error.code == "script_http_error"
    assert error.message == "The provider answered 404"
    assert error.payload == {"a": 1}
    assert error.upstream["status"] == 404
    assert error.body["error"]["code"] == "script_http_error"
    assert error.response.status_code == 424
    assert str(error) == "424 script_http_error: The provider answered 404"


def test_a_non_api_error_body_is_kept_whole(nango, mock):
    mock.get(f"{HOST}/integrations", status=502, body="<html>bad gateway</html>")
    with pytest.raises(NangoError) as caught:
        nango.list_integrations()
    assert caught.value.status == 502 and caught.value.code is None
    assert caught.value.body == "<html>bad gateway</html>"


def test_no_answer_is_a_nango_error_too(nango, mock):
    mock.get(f"{HOST}/integrations", body=requests.ConnectionError("refused"))
    with pytest.raises(NangoError) as caught:
        nango.list_integrations()
    assert caught.value.status is None and caught.value.code == "network_error"
    mock.get(f"{HOST}/integrations", body=requests.ReadTimeout("slow"))
    with pytest.raises(NangoError) as caught:
        nango.list_integrations()
    assert caught.value.code == "timeout"


def test_every_call_has_a_timeout_and_reuses_one_session(mock):
    seen = []

    class Recording(requests.Session):
        def request(self, *args, **kwargs):
            seen.append(kwargs["timeout"])
            return super().request(*args, **kwargs)

    nango = Nango("sk", HOST, timeout=7, action_timeout=99, session=Recording())
    mock.get(f"{HOST}/integrations", json={"data": []})
    mock.post(f"{HOST}/action/trigger", json={})
    nango.list_integrations()
    nango.trigger_action("github", "alice", "x")
    assert seen == [(10.0, 7), (10.0, 99)]


def test_get_async_action_result_by_id_or_status_url_with_a_wait(nango, mock):
    mock.get(f"{HOST}/action/u1", json={"done": True})
    assert nango.get_async_action_result("u1") == {"done": True}
    assert nango.get_async_action_result(status_url="/action/u1", wait=5) == {"done": True}
    assert mock.calls[0].request.url == f"{HOST}/action/u1"
    assert mock.calls[1].request.url == f"{HOST}/action/u1?wait=5.0"
    with pytest.raises(ValueError):
        nango.get_async_action_result()


def test_a_pending_result_raises_404_pending(nango, mock):
    mock.get(
        f"{HOST}/action/u1",
        status=404,
        json={"error": {"code": "pending", "message": "still running"}},
    )
    with pytest.raises(NangoError) as caught:
        nango.get_async_action_result("u1")
    assert caught.value.status == 404 and caught.value.code == "pending"


def test_a_wait_longer_than_the_servers_cap_polls_again(nango, mock, monkeypatch):
    clock = iter([0.0, 0.0, 31.0, 31.0, 31.0, 100.0])
    monkeypatch.setattr("nango.client.time.monotonic", lambda: next(clock))
    pending = {"error": {"code": "pending", "message": "running"}}
    mock.get(f"{HOST}/action/u1", status=404, json=pending)
    mock.get(f"{HOST}/action/u1", json={"ok": 1})
    assert nango.get_async_action_result("u1", wait=45) == {"ok": 1}
    assert [c.request.params["wait"] for c in mock.calls] == ["30.0", "14.0"]


def test_connections_and_metadata(nango, mock):
    connection = {"connection_id": "al ice", "metadata": {"plan": "pro"}, "credentials": {}}
    mock.get(f"{HOST}/connections/al%20ice", json=connection)
    mock.post(f"{HOST}/connections", json=connection)
    mock.post(f"{HOST}/connections/metadata", status=201, json={})
    mock.patch(f"{HOST}/connections/metadata", json={})
    assert nango.get_connection("github", "al ice", force_refresh=True) == connection
    assert mock.calls[0].request.params == {
        "provider_config_key": "github",
        "force_refresh": "true",
    }
    assert nango.get_metadata("github", "al ice") == {"plan": "pro"}
    nango.import_connection("github", "al ice", {"type": "OAUTH2", "access_token": "t"}, tags={})
    assert json.loads(mock.calls[2].request.body) == {
        "provider_config_key": "github",
        "connection_id": "al ice",
        "credentials": {"type": "OAUTH2", "access_token": "t"},
        "tags": {},
    }
    nango.set_metadata("github", ["a", "b"], {"x": 1})
    nango.update_metadata("github", "a", {"y": 2})
    assert [c.request.method for c in mock.calls[3:]] == ["POST", "PATCH"]
    assert json.loads(mock.calls[4].request.body) == {
        "provider_config_key": "github",
        "connection_id": "a",
        "metadata": {"y": 2},
    }


def test_proxy_sends_nangos_proxy_headers(nango, mock):
    mock.post(f"{HOST}/proxy/repos/acme/app/issues", status=201, json={"number": 1})
    r = nango.post(
        "/repos/acme/app/issues",
        "github",
        "alice",
        data={"title": "Hi"},
        params={"x": "1"},
        headers={"X-Trace": "t"},
        retries=3,
        retry_on=[409, 418],
        base_url_override="https://example.test",
        decompress=True,
    )
    assert r.status_code == 201 and r.json() == {"number": 1}
    sent = mock.calls[0].request
    assert sent.url == f"{HOST}/proxy/repos/acme/app/issues?x=1"
    assert sent.headers["Nango-Proxy-X-Trace"] == "t"
    assert sent.headers["Retries"] == "3"
    assert sent.headers["Retry-On"] == "409,418"
    assert sent.headers["Base-Url-Override"] == "https://example.test"
    assert sent.headers["Decompress"] == "true"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {"title": "Hi"}


def test_a_providers_error_through_the_proxy_raises_with_its_body(nango, mock):
    mock.get(f"{HOST}/proxy/user", status=404, json={"message": "Not Found"})
    with pytest.raises(NangoError) as caught:
        nango.get("/user", "github", "alice")
    assert caught.value.status == 404 and caught.value.body == {"message": "Not Found"}


def test_verify_webhook_checks_the_hmac_of_the_exact_body(nango):
    body = b'{"from":"nango","type":"async_action"}'
    good = hmac.new(b"whsec", body, hashlib.sha256).hexdigest()
    assert nango.verify_webhook(body, {"X-Nango-Hmac-Sha256": good})
    assert nango.verify_webhook(body.decode(), {"x-nango-hmac-sha256": good.upper()})
    assert not nango.verify_webhook(body + b" ", {"X-Nango-Hmac-Sha256": good})
    assert not nango.verify_webhook(body, {"X-Nango-Hmac-Sha256": "0" * 64})
    assert not nango.verify_webhook(body, {"X-Nango-Hmac-Sha256": "é" * 64})
    assert not nango.verify_webhook(body, {})
    other = hmac.new(b"other", body, hashlib.sha256).hexdigest()
    assert nango.verify_webhook(body, {"X-Nango-Hmac-Sha256": other}, signing_key="other")
    with pytest.raises(ValueError):
        Nango("sk").verify_webhook(body, {"X-Nango-Hmac-Sha256": good})


def test_the_secret_key_never_shows_in_the_clients_repr():
    assert "sk-123" not in repr(Nango("sk-123", HOST))

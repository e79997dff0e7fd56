import gzip
import json
import tracemalloc

import pytest
import responses

from conftest import OTHER_SECRET, expiring_credentials, make_connection, make_integration
from integrations.models import Connection
from tests.fakeprovider import FakeProvider, Stream


@pytest.fixture(scope="module")
def fake():
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def provider(fake, settings):
    fake.reset()
    settings.PROVIDER_BASE_URL_OVERRIDES = {"github": fake.url, "trello": fake.url}
    return fake


def call(api, method: str, path: str, connection="conn-1", key="github", **extra):
    headers = {"HTTP_CONNECTION_ID": connection, "HTTP_PROVIDER_CONFIG_KEY": key}
    headers = {k: v for k, v in headers.items() if v is not None}
    return getattr(api, method.lower())(path, **headers, **extra)


def content(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def test_it_forwards_a_get_with_the_connections_credentials(world, api, provider):
    provider.route(
        "GET",
        "/repos/acme/app/issues",
        status=200,
        json=[{"id": 1}],
        headers={"X-RateLimit-Remaining": "4999", "ETag": '"abc"'},
    )
    r = call(
        api,
        "GET",
        "/proxy/repos/acme/app/issues?state=open&labels=a,b",
        HTTP_NANGO_PROXY_X_TRACE="t-1",
        HTTP_NANGO_PROXY_ACCEPT="application/vnd.github.raw+json",
        HTTP_NANGO_PROXY_HOST="evil.example",
        HTTP_NANGO_PROXY_CONNECTION="close",
        HTTP_X_NOT_FORWARDED="no",
        HTTP_NANGO_ACTIVITY_LOG_ID="",
    )
    assert r.status_code == 200
    assert json.loads(content(r)) == [{"id": 1}]
    assert r["Content-Type"] == "application/json"
    assert r["X-RateLimit-Remaining"] == "4999" and r["ETag"] == '"abc"'
    assert "Allow" not in r

    (sent,) = provider.received()
    assert sent.method == "GET" and sent.path == "/repos/acme/app/issues"
    assert sent.query == "state=open&labels=a,b"
    assert sent.headers["Authorization"] == "Bearer gho_secret_token"
    assert sent.headers["X-GitHub-Api-Version"] == "2022-11-28"
    # Nango-Proxy-* headers arrive without their prefix, over the provider's own.
    assert sent.headers["X-Trace"] == "t-1"
    assert sent.headers["Accept"] == "application/vnd.github.raw+json"
    # ...but not those the HTTP client owns.
    assert sent.headers["Host"] == f"127.0.0.1:{provider.port}"
    assert sent.headers.get("Connection") != "close"
    # Nothing else of the caller's request reaches the provider, least of all our key.
    for name in (
        "X-Not-Forwarded",
        "Connection-Id",
        "Provider-Config-Key",
        "Nango-Activity-Log-Id",
    ):
        assert name not in sent.headers
    assert "5a0e2b4c" not in json.dumps(dict(sent.headers))


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_it_forwards_the_body_and_method_as_sent(world, api, provider, method):
    provider.route(method, "/repos/acme/app/issues", status=201, json={"number": 7})
    r = call(
        api,
        method,
        "/proxy/repos/acme/app/issues",
        data=json.dumps({"title": "Bug"}),
        content_type="application/json",
    )
    assert r.status_code == 201 and json.loads(content(r)) == {"number": 7}
    (sent,) = provider.received()
    assert sent.method == method
    assert sent.json() == {"title": "Bug"}
    assert sent.headers["Content-Type"] == "application/json"


def test_a_query_credential_is_added_to_the_query_string(world, api, provider):
    trello = make_integration(world.env, "trello", "trello")
    make_connection(trello, credentials={"type": "API_KEY", "apiKey": "k-123", "token": "t-456"})
    r = call(api, "GET", "/proxy/1/members/me?fields=id", key="trello")
    assert r.status_code == 200
    (sent,) = provider.received()
    assert sent.params == {"fields": ["id"], "key": ["k-123"], "token": ["t-456"]}


def test_the_providers_errors_come_back_unchanged_and_hop_by_hop_headers_do_not(
    world, api, provider
):
    provider.route(
        "GET",
        "/user",
        status=404,
        json={"message": "Not Found"},
        headers={
            "X-GitHub-Request-Id": "r-1",
            "Keep-Alive": "timeout=5",
            "Proxy-Authenticate": "Basic",
            "Set-Cookie": "session=provider-side",
        },
    )
    r = call(api, "GET", "/proxy/user")
    assert r.status_code == 404
    assert json.loads(content(r)) == {"message": "Not Found"}
    assert r["X-GitHub-Request-Id"] == "r-1"
    for name in ("Keep-Alive", "Proxy-Authenticate", "Set-Cookie", "Transfer-Encoding"):
        assert name not in r
    assert len(provider.received()) == 1  # no Retries header: no retry


def test_it_retries_a_429_after_the_wait_the_provider_asks_for(world, api, provider, clock):
    answers = iter([(429, {"Retry-After": "0.3"}, {"m": "slow down"}), (200, {}, {"ok": True})])
    provider.route("GET", "/user", lambda request: next(answers))
    waits = clock("nangosite.lib.http")
    r = call(api, "GET", "/proxy/user", HTTP_RETRIES="2")
    assert r.status_code == 200 and json.loads(content(r)) == {"ok": True}
    assert waits.slept == pytest.approx(0.3)
    assert len(provider.received()) == 2


def test_retry_on_adds_statuses_and_exhausted_retries_answer_the_last_response(
    world, api, provider
):
    provider.route("GET", "/user", status=409, json={"m": "conflict"})
    r = call(api, "GET", "/proxy/user", HTTP_RETRIES="2", HTTP_RETRY_ON="409,418")
    assert r.status_code == 409 and json.loads(content(r)) == {"m": "conflict"}
    assert len(provider.received()) == 3


def test_a_retry_wait_longer_than_the_proxy_budget_answers_at_once(
    world, api, provider, settings, clock
):
    settings.PROXY_TIMEOUT_SECONDS = 1
    provider.route("GET", "/user", status=429, headers={"Retry-After": "60"}, json={})
    waits = clock("nangosite.lib.http", "integrations.proxy")
    r = call(api, "GET", "/proxy/user", HTTP_RETRIES="3")
    assert r.status_code == 429 and r["Retry-After"] == "60"
    assert waits.slept == 0 and waits.elapsed < 1


def test_a_50_mb_answer_is_streamed_with_bounded_memory(world, api, provider):
    size = 50 * 1024 * 1024
    provider.route(
        "GET",
        "/download",
        lambda request: (200, {"Content-Type": "application/octet-stream"}, Stream.of_size(size)),
    )
    tracemalloc.start()
    try:
        r = call(api, "GET", "/proxy/download")
        assert r.streaming and r.status_code == 200
        assert r["Content-Length"] == str(size)
        received = 0
        for chunk in r.streaming_content:
            received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    print(f"proxy 50 MB: tracemalloc peak {peak / 2**20:.2f} MiB")
    assert peak < 5 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


def test_a_chunked_answer_is_passed_through(world, api, provider):
    provider.route("GET", "/chunks", lambda request: (200, {}, Stream([b"ab", b"cd", b"ef"])))
    r = call(api, "GET", "/proxy/chunks")
    assert content(r) == b"abcdef"
    assert "Content-Length" not in r and "Transfer-Encoding" not in r


def test_a_compressed_answer_passes_as_is_or_decoded_when_asked(world, api, provider):
    packed = gzip.compress(b'{"big": true}')
    provider.route(
        "GET",
        "/z",
        status=200,
        body=packed,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    r = call(api, "GET", "/proxy/z", HTTP_ACCEPT_ENCODING="gzip")
    assert content(r) == packed and r["Content-Encoding"] == "gzip"
    assert provider.received()[-1].headers["Accept-Encoding"] == "gzip"

    r = call(api, "GET", "/proxy/z", HTTP_DECOMPRESS="true")
    assert content(r) == b'{"big": true}'
    assert "Content-Encoding" not in r and "Content-Length" not in r


def test_without_an_accept_encoding_the_provider_is_asked_for_none(world, api, provider):
    call(api, "GET", "/proxy/user")
    assert provider.received()[-1].headers["Accept-Encoding"] == "identity"


def test_head_answers_the_headers_only(world, api, provider):
    provider.route("HEAD", "/user", status=200, headers={"X-Thing": "1"})
    r = call(api, "HEAD", "/proxy/user")
    assert r.status_code == 200 and r["X-Thing"] == "1"
    assert content(r) == b""


def test_base_url_override_sends_the_call_elsewhere(world, api, provider, settings):
    settings.PROVIDER_BASE_URL_OVERRIDES = {}
    r = call(api, "GET", "/proxy/user", HTTP_BASE_URL_OVERRIDE=provider.url + "/v2")
    assert r.status_code == 200
    assert provider.received()[-1].path == "/v2/user"


def test_an_expiring_token_is_refreshed_before_the_call(db, api, provider):
    from conftest import make_env

    env = make_env()
    github = make_integration(env, oauth_client_id="cid", oauth_client_secret="csecret")
    make_connection(github, credentials=expiring_credentials())
    with responses.RequestsMock() as mock:
        mock.add_passthru(provider.url)
        mock.post(
            "https://github.com/login/oauth/access_token",
            json={"access_token": "new-token", "expires_in": 3600},
        )
        r = call(api, "GET", "/proxy/user")
    assert r.status_code == 200
    assert provider.received()[-1].headers["Authorization"] == "Bearer new-token"
    assert Connection.objects.get().credentials["access_token"] == "new-token"


@pytest.mark.parametrize(
    "headers, field",
    [
        ({"HTTP_CONNECTION_ID": None}, "connection_id"),
        ({"HTTP_PROVIDER_CONFIG_KEY": None}, "provider_config_key"),
        ({"HTTP_RETRIES": "many"}, "retries"),
        ({"HTTP_RETRIES": "11"}, "retries"),
        ({"HTTP_RETRY_ON": "429;500"}, "retry_on"),
        ({"HTTP_BASE_URL_OVERRIDE": "ftp://example.com"}, "base_url_override"),
        ({"HTTP_DECOMPRESS": "yes"}, "decompress"),
    ],
)
def test_bad_headers_are_invalid_headers(world, api, provider, headers, field):
    base = {"HTTP_CONNECTION_ID": "conn-1", "HTTP_PROVIDER_CONFIG_KEY": "github"}
    merged = {k: v for k, v in {**base, **headers}.items() if v is not None}
    r = api.get("/proxy/user", **merged)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "invalid_headers"
    assert [e["path"] for e in error["errors"]] == [[field]]
    assert provider.received() == []


def test_unknown_integration_and_connection(world, api, provider):
    r = call(api, "GET", "/proxy/user", key="nope")
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_provider"
    r = call(api, "GET", "/proxy/user", connection="nobody")
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_connection"
    assert provider.received() == []


def test_it_needs_the_secret_key_and_keys_see_only_their_environment(world, api, provider):
    api.credentials()
    r = call(api, "GET", "/proxy/user")
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_auth_header"
    world.other_connection.set_credentials({"type": "OAUTH2", "access_token": "other-token"})
    world.other_connection.save()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {OTHER_SECRET}")
    call(api, "GET", "/proxy/user")
    assert provider.received()[-1].headers["Authorization"] == "Bearer other-token"


def test_an_unreachable_provider_is_502_without_credentials_in_the_error(world, api, settings):
    settings.PROVIDER_BASE_URL_OVERRIDES = {"trello": "http://127.0.0.1:9"}
    trello = make_integration(world.env, "trello", "trello")
    make_connection(trello, credentials={"type": "API_KEY", "apiKey": "k-123", "token": "t-456"})
    r = call(api, "GET", "/proxy/members/me", key="trello", HTTP_RETRIES="1")
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "proxy_network_error"
    assert "k-123" not in r.content.decode() and "t-456" not in r.content.decode()


def test_a_body_over_the_limit_is_413(world, api, provider, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = settings.MAX_REQUEST_BYTES = 1000
    r = call(api, "POST", "/proxy/upload", data=b"x" * 2000, content_type="text/plain")
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert provider.received() == []


def test_a_cookie_one_users_provider_set_never_goes_out_with_another_users_call(
    world, api, provider
):
    # Calls for every connection share the process's outbound sessions.
    provider.route("GET", "/login", headers={"Set-Cookie": "sid=alice-session; Path=/"}, json={})
    provider.route("GET", "/user", json={"login": "bob"})
    other = make_connection(world.github, "conn-2", credentials={"access_token": "gho_bob"})
    assert call(api, "GET", "/proxy/login").status_code == 200
    assert call(api, "GET", "/proxy/user", connection=other.connection_id).status_code == 200
    sent = provider.received("GET", "/user")[-1].headers
    assert "Cookie" not in sent and sent["Authorization"] == "Bearer gho_bob"


def test_proxy_calls_are_counted_by_status_with_their_provider_latency(
    world, api, provider, client, settings
):
    from tests.processes import free_port
    from tests.scrape import Scrape

    settings.METRICS_TOKEN = "tok"

    def read() -> Scrape:
        r = client.get("/metrics", HTTP_AUTHORIZATION="Bearer tok")
        return Scrape(r.content.decode())

    provider.route("GET", "/missing", status=404, json={"message": "Not Found"})
    before = read()
    assert call(api, "GET", "/proxy/user").status_code == 200
    assert call(api, "GET", "/proxy/missing").status_code == 404
    settings.PROVIDER_BASE_URL_OVERRIDES = {"github": f"http://127.0.0.1:{free_port()}"}
    assert call(api, "GET", "/proxy/user").status_code == 502  # nothing listens there
    after = read()
    labels = {"environment": "dev", "integration": "github"}
    name = "nangosite_proxy_requests_total"
    for status in ("200", "404", "502"):
        assert (
            after.value(name, **labels, status=status) - before.value(name, **labels, status=status)
            == 1
        ), status
    latency = "nangosite_provider_call_duration_seconds_count"
    for status, count in (("2xx", 1), ("4xx", 1), ("error", 1)):
        assert (
            after.value(latency, provider="github", status=status)
            - before.value(latency, provider="github", status=status)
            == count
        ), status

"""Every class of input the databases cannot store or the JSON encoder cannot write back,
against every endpoint that takes it: the documented 400 with the place named, nothing
stored, and every list and detail page still readable afterwards (SQLite and PostgreSQL:
the suite runs on both). Then the same classes as what a run leaves behind: the run ends,
failed, with the error recorded, and everything stays readable.
"""

import json

import pytest
import responses
from django.contrib.auth.models import User
from django.test import Client

from conftest import deploy_source
from executions.models import Execution
from integrations.models import Connection, Integration

pytestmark = pytest.mark.django_db(transaction=True)

ECHO = """
from nango import create_action
action = create_action(description="echo", input={}, output={},
                       exec=lambda nango, input: input)
"""
CID = {"HTTP_CONNECTION_ID": "conn-1", "HTTP_PROVIDER_CONFIG_KEY": "github"}
DEEP = "[" * 950 + "]" * 950  # as the issue found it

# The bad value of each class as JSON text, and the error code it gives.
CLASSES = {
    "nul": ('"a\\u0000b"', "null_character"),
    "surrogate": ('"\\ud800"', "lone_surrogate"),
    "1e400": ("1e400", "non_finite_number"),
    "-1e400": ("-1e400", "non_finite_number"),
    "deep": ("[" * 200 + "]" * 200, "too_deep"),
    # Deeper than Python's parser goes: refused as a whole (no place to name but the body).
    "950 deep": (DEEP, "too_deep"),
}
# Where a value goes in each JSON body: (method, url, body with {} for the value, headers,
# the error path's start).
BODIES = {
    "trigger input": (
        "POST", "/action/trigger", '{"action_name": "echo", "input": {"x": %s}}', CID,
        ["input", "x"],
    ),
    "trigger action_name": (
        "POST", "/action/trigger", '{"action_name": %s}', CID, ["action_name"],
    ),
    "action path body": ("POST", "/actions/github/echo", '{"x": %s}', CID, ["x"]),
    "connection metadata": (
        "POST", "/connections", '{"provider_config_key": "github", "connection_id": "new", '
        '"credentials": {"type": "OAUTH2", "access_token": "t0k3n"}, "metadata": {"m": %s}}',
        {}, ["metadata", "m"],
    ),
    "connection token": (
        "POST", "/connections", '{"provider_config_key": "github", "connection_id": "new", '
        '"credentials": {"type": "OAUTH2", "access_token": %s}}', {},
        ["credentials", "access_token"],
    ),
    "connection expires_in": (
        "POST", "/connections", '{"provider_config_key": "github", "connection_id": "new", '
        '"credentials": {"type": "OAUTH2", "access_token": "t0k3n", "expires_in": %s}}', {},
        ["credentials", "expires_in"],
    ),
    "connection config": (
        "POST", "/connections", '{"provider_config_key": "github", "connection_id": "new", '
        '"credentials": {"type": "OAUTH2", "access_token": "t0k3n"}, '
        '"connection_config": {"c": %s}}', {}, ["connection_config", "c"],
    ),
    "connection tag": (
        "POST", "/connections", '{"provider_config_key": "github", "connection_id": "new", '
        '"credentials": {"type": "OAUTH2", "access_token": "t0k3n"}, "tags": {"t": %s}}', {},
        ["tags", "t"],
    ),
    "patched tag": (
        "PATCH", "/connections/conn-1?provider_config_key=github", '{"tags": {"t": %s}}', {},
        ["tags", "t"],
    ),
    "metadata replace": (
        "POST", "/connections/metadata",
        '{"connection_id": "conn-1", "provider_config_key": "github", "metadata": {"m": %s}}',
        {}, ["metadata", "m"],
    ),
    "metadata merge": (
        "PATCH", "/connections/metadata",
        '{"connection_id": "conn-1", "provider_config_key": "github", "metadata": {"m": %s}}',
        {}, ["metadata", "m"],
    ),
    "integration name": (
        "POST", "/integrations", '{"unique_key": "gl", "provider": "gitlab", "display_name": %s}',
        {}, ["display_name"],
    ),
    "integration patch": (
        "PATCH", "/integrations/github", '{"display_name": %s}', {}, ["display_name"],
    ),
}  # fmt: skip
# MCP answers in JSON-RPC: where the value goes, and nothing is echoed.
MCP = {
    "tool arguments": '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", '
    '"params": {"name": "echo", "arguments": {"a": %s}}}',
    "tool name": '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": %s}}',
    "method": '{"jsonrpc": "2.0", "id": 1, "method": %s}',
    "id": '{"jsonrpc": "2.0", "id": %s, "method": "ping"}',
}
# NUL in path and query parameters: (url, error code, the parameter named).
URLS = [
    ("/connections/%00?provider_config_key=github", "invalid_uri_params", "connection_id"),
    ("/connections/conn-1?provider_config_key=%00", "invalid_query_params", "provider_config_key"),
    ("/connections?tags[a]=%00", "invalid_query_params", "tags[a]"),
    ("/connections?tags[%00]=a", "invalid_query_params", "tags[\ufffd]"),
    ("/connections?connectionId=%00", "invalid_query_params", "connectionId"),
    ("/connections?search=a%00", "invalid_query_params", "search"),
    ("/integrations/%00", "invalid_uri_params", "key"),
    ("/integrations/github/functions/%00", "invalid_uri_params", "name"),
    ("/integrations/github/functions/%00/code", "invalid_uri_params", "name"),
    ("/integrations/github/functions?search=%00", "invalid_query_params", "search"),
    ("/action/%00", "invalid_uri_params", "id"),
    ("/executions/%00", "invalid_uri_params", "id"),
    ("/scripts/config?provider_config_key=%00", "invalid_query_params", "provider_config_key"),
]
PAGES = [
    "/connections?page=9223372036854775807",
    "/connections?page=1000001",
    "/integrations/github/functions?page=9223372036854775807",
    "/connections?limit=99999999999999999999",
]


@pytest.fixture
def echo(tworld):
    deploy_source(tworld.github, "echo", ECHO)
    return tworld


@pytest.fixture
def staff(tworld) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


def counts() -> tuple:
    return Execution.objects.count(), Connection.objects.count(), Integration.objects.count()


def read_back(api, staff: Client) -> None:
    """Every list and detail the stored records appear on still answers."""
    for url in ("/connections", "/integrations", "/scripts/config", "/openapi.json"):
        assert api.get(url).status_code == 200, url
    for connection in Connection.objects.select_related("integration"):
        key = connection.integration.unique_key
        r = api.get(f"/connections/{connection.connection_id}?provider_config_key={key}")
        assert r.status_code == 200, r.content
        admin = f"/admin/integrations/connection/{connection.pk}/change/"
        assert staff.get(admin).status_code == 200
    for integration in Integration.objects.all():
        assert (
            staff.get(f"/admin/integrations/integration/{integration.pk}/change/").status_code
            == 200
        )
    for execution in Execution.objects.all():
        if execution.environment.name != "dev":
            continue
        r = api.get(f"/executions/{execution.code}")
        assert r.status_code == 200, r.content
        json.loads(r.content)
        assert api.get(f"/action/{execution.code}").status_code in (200, 404, 410, 424, 500)
        assert staff.get(f"/admin/executions/execution/{execution.pk}/change/").status_code == 200
    assert staff.get("/admin/executions/execution/").status_code == 200
    assert staff.get("/admin/integrations/connection/").status_code == 200


def error(r) -> dict:
    body = r.json()
    assert set(body) == {"error"}, body
    return body["error"]


@pytest.mark.parametrize("kind", CLASSES)
@pytest.mark.parametrize("where", BODIES)
def test_a_body_value_that_cannot_be_stored_is_refused(echo, api, staff, where, kind):
    method, url, template, headers, path = BODIES[where]
    value, code = CLASSES[kind]
    before = counts()
    r = api.generic(method, url, template % value, "application/json", **headers)
    assert r.status_code == 400, r.content
    found = error(r)
    assert found["code"] == "invalid_body"
    # The first error names the place (a deep value: where the nesting passes the limit).
    assert found["errors"][0]["code"] == code
    where = found["errors"][0]["path"]
    assert where[: len(path)] == path or (kind == "950 deep" and where == [])
    assert counts() == before
    read_back(api, staff)


@pytest.mark.parametrize("kind", CLASSES)
@pytest.mark.parametrize("where", MCP)
def test_mcp_refuses_a_message_that_cannot_be_stored(echo, api, staff, where, kind):
    value, code = CLASSES[kind]
    before = counts()
    r = api.generic("POST", "/mcp", MCP[where] % value, "application/json", **CID)
    assert r.status_code == 400, r.content
    reply = r.json()
    assert reply["id"] is None  # the id may be the bad part: none is echoed
    assert reply["error"]["code"] == -32600
    assert reply["error"]["data"]["code"] == "invalid_body"
    assert reply["error"]["data"]["errors"][0]["code"] == code
    assert counts() == before
    read_back(api, staff)


@pytest.mark.parametrize("url, code, name", URLS)
def test_a_nul_in_a_path_or_query_parameter_is_refused(echo, api, staff, url, code, name):
    before = counts()
    r = api.get(url)
    assert r.status_code == 400, r.content
    found = error(r)
    assert found["code"] == code
    assert [e["path"] for e in found["errors"]] == [[name]]
    assert counts() == before
    read_back(api, staff)


def test_the_admin_answers_its_own_400_for_a_nul(echo, staff):
    r = staff.get("/admin/executions/execution/?q=%00")
    assert r.status_code == 400
    assert r["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("url", PAGES)
def test_pagination_is_bounded(echo, api, url):
    r = api.get(url)
    assert r.status_code == 400, r.content
    assert error(r)["code"] == "invalid_query_params"


@pytest.mark.parametrize(
    "header, value",
    [
        ("HTTP_IDEMPOTENCY_KEY", "a\x00b"),
        ("HTTP_CONNECTION_ID", "conn\x00"),
        ("HTTP_PROVIDER_CONFIG_KEY", "git\x00hub"),
    ],
)
def test_a_nul_in_a_header_is_refused(echo, api, staff, header, value):
    before = counts()
    body = {"action_name": "echo", "input": {}}
    r = api.post("/action/trigger", body, format="json", **{**CID, header: value})
    assert r.status_code == 400, r.content
    found = error(r)
    assert found["code"] == "invalid_headers"
    assert found["errors"][0]["path"] == [header[5:].lower()]
    assert counts() == before
    read_back(api, staff)


def test_text_that_only_looks_like_an_escape_is_stored(echo, api, staff):
    # `"\\u0000"` is a backslash and five characters, and 1e300 is finite: both storable.
    body = '{"action_name": "echo", "input": {"a": "\\\\u0000", "b": 1e300, "c": "\\u00e9"}}'
    r = api.generic("POST", "/action/trigger", body, "application/json", **CID)
    assert r.status_code == 200, r.content
    assert r.json() == {"a": "\\u0000", "b": 1e300, "c": "é"}
    read_back(api, staff)


# --- what a run leaves behind ---------------------------------------------------------

OUTPUTS = {
    "nul": "'a\\x00b'",
    "surrogate": "'\\ud800'",
    "infinity": "float('inf')",
    "nan": "float('nan')",
    "deep": "nest(950)",
    "a key": "{'\\ud800': 1}",
}
RETURNS = """
from nango import ActionError, create_action

def nest(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value

def run(nango, input):
    nango.log({value} if isinstance({value}, str) else "a line")
    if input == "raise":
        raise ActionError({{"bad": {value}}})
    return {{"bad": {value}}}

action = create_action(description="bad", input={{}}, output={{}}, exec=run)
"""


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("how", ["returns", "raises"])
@pytest.mark.parametrize("kind", OUTPUTS)
def test_a_run_whose_output_cannot_be_stored_ends_failed(tworld, api, staff, kind, how, is_async):
    deploy_source(tworld.github, "bad", RETURNS.format(value=OUTPUTS[kind]))
    body = {"action_name": "bad", "input": "raise" if how == "raises" else None}
    headers = {**CID, "HTTP_X_ASYNC": "true" if is_async else "false"}
    r = api.post("/action/trigger", body, format="json", **headers)
    execution = Execution.objects.get()
    assert execution.status == "failed"
    assert execution.error["error"]["code"] == "invalid_action_output"
    problem = execution.error["error"]["errors"][0]
    prefix = ["payload", "bad"] if how == "raises" else ["bad"]
    assert problem["path"][: len(prefix)] == prefix
    if not is_async:
        assert r.status_code == 500 and error(r)["code"] == "invalid_action_output"
    # The log line was recorded, made storable.
    assert "\x00" not in json.dumps(execution.logs)
    read_back(api, staff)


@responses.activate
@pytest.mark.parametrize(
    "body", [b'{"a": 1e400}', b'{"a": "\\u0000"}', b'{"a": "\\ud800"}', DEEP.encode(), b"\x00\xff"]
)
def test_a_provider_body_that_cannot_be_stored_is_recorded_storable(tworld, api, staff, body):
    deploy_source(
        tworld.github,
        "fetch",
        """
        from nango import create_action
        action = create_action(description="f", input={}, output={},
                               exec=lambda nango, input: nango.get("/user").data)
        """,
    )
    responses.get("https://api.github.com/user", body=body, status=503)
    r = api.post("/action/trigger", {"action_name": "fetch"}, format="json", **CID)
    assert r.status_code == 424, r.content
    assert error(r)["code"] == "script_http_error"
    execution = Execution.objects.get()
    assert execution.status == "failed"
    read_back(api, staff)


def test_an_output_holding_the_connections_token_is_redacted(tworld, api, staff):
    deploy_source(
        tworld.github,
        "leak",
        """
        from nango import create_action
        action = create_action(description="l", input={}, output={},
                               exec=lambda nango, input: {"token": nango.get_token(),
                                                          "url": "x?t=" + nango.get_token()})
        """,
    )
    r = api.post("/action/trigger", {"action_name": "leak"}, format="json", **CID)
    assert r.status_code == 200, r.content
    assert r.json() == {"token": "[REDACTED]", "url": "x?t=[REDACTED]"}
    execution = Execution.objects.get()
    assert "gho_secret_token" not in json.dumps(execution.to_api())
    page = staff.get(f"/admin/executions/execution/{execution.pk}/change/").content.decode()
    assert "gho_secret_token" not in page and "[REDACTED]" in page


# --- bodies without a length, and answers under DEBUG ---------------------------------


def wsgi_call(environ: dict) -> tuple[str, dict]:
    from wsgiref.util import setup_testing_defaults

    from nangosite.wsgi import application

    setup_testing_defaults(environ)
    seen = {}

    def start_response(status, headers):
        seen["status"] = status

    body = b"".join(application(environ, start_response))
    return seen["status"], json.loads(body)


def test_a_chunked_body_the_server_did_not_end_is_411(echo):
    # Django's runserver passes chunked bodies through raw, without wsgi.input_terminated.
    import io

    status, body = wsgi_call(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/action/trigger",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input": io.BytesIO(b"5\r\nhello\r\n0\r\n\r\n"),
        }
    )
    assert status.startswith("411") and body["error"]["code"] == "length_required"


def test_a_chunked_body_past_the_limit_is_413(echo, settings):
    import io

    settings.MAX_REQUEST_BYTES = 100
    status, body = wsgi_call(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/action/trigger",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input_terminated": True,
            "wsgi.input": io.BytesIO(b"x" * 101),
        }
    )
    assert status.startswith("413") and body["error"]["code"] == "payload_too_large"


def test_unknown_api_paths_are_json_under_debug_too(echo, api, settings):
    settings.DEBUG = True
    r = api.get("/no/such/thing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = api.post("/nope", {}, format="json")
    assert r.status_code == 404 and r["Content-Type"] == "application/json"


def test_a_result_a_database_still_refuses_ends_the_run_failed(echo, api):
    # Past the runner's checks (a Failure built with NaN, which PostgreSQL's jsonb refuses):
    # the run still ends, never left running.
    from executions import tasks
    from executions.errors import Failure
    from executions.models import Outcome

    r = api.post("/action/trigger", {"action_name": "echo", "input": {}}, format="json", **CID)
    execution = Execution.objects.get(code=r["X-Execution-Id"])
    Execution.objects.filter(pk=execution.pk).update(status="running", finished=None)
    execution.refresh_from_db()
    failure = Failure("action_script_runtime_error", 500, "x", payload={"x": float("nan")})
    tasks.record(execution, failure=failure, outcome=Outcome.FAILED)
    execution.refresh_from_db()
    assert execution.status == "failed" and execution.finished is not None

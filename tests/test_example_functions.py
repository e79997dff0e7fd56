"""The shipped example functions, replayed against their recorded provider calls.

Each `functions/<integration>/tests/<action>.json` is what `dryrun --save` writes: the
input, the output, every provider call with its answer, and the SDK's other calls.
Replaying it through the platform (provider answers at the HTTP seam) checks that the
function still makes exactly those calls and still turns the answers into that output;
`test_generated_tests.py` replays the same fixtures without the platform.
"""

import json
import shutil
from io import StringIO
from pathlib import Path

import pytest
import responses
from django.core.management import call_command

from conftest import make_connection, make_env, make_integration
from executions.dryrun import dry_run
from integrations.deploy import deploy
from integrations.functions import Tree, discover, load_file
from integrations.providers import AuthMode, get_provider

FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"
FIXTURES = sorted(FUNCTIONS.glob("*/tests/*.json"))

# Fake credentials per auth mode: the recorded calls are answered by `responses`.
CREDENTIALS = {
    AuthMode.OAUTH2: {"type": "OAUTH2", "access_token": "fake-access-token"},
    AuthMode.BEARER: {"type": "BEARER", "token": "fake-bearer-token"},
    AuthMode.API_KEY: {"type": "API_KEY", "apiKey": "fake-api-key"},
    AuthMode.BASIC: {"type": "BASIC", "username": "fake-user", "password": "fake-password"},
}
# Values for providers whose base URL needs connection config (e.g. a subdomain); the
# recorded URLs of such a provider must then use these values.
CONNECTION_CONFIG: dict[str, dict] = {}


def fixture_id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.stem}"


def action_of(path: Path) -> str:
    return path.stem.replace("_", "-")


def connect(env, integration_id: str):
    """An integration named after its provider, with one connection using fake credentials."""
    provider = get_provider(integration_id)
    integration = make_integration(env, key=integration_id, provider=integration_id)
    config = CONNECTION_CONFIG.get(integration_id, {})
    missing = set(provider.connection_config) - set(config)
    assert not missing, f"add {integration_id} to CONNECTION_CONFIG: needs {sorted(missing)}"
    return make_connection(
        integration, credentials=CREDENTIALS[provider.auth_mode], connection_config=config
    )


def register(mock: responses.RequestsMock, call: dict) -> None:
    headers = dict(call["headers"])
    content_type = headers.pop("content-type", "application/json")
    body = call["body"]
    payload = {"body": body} if isinstance(body, str) else {"json": body}
    mock.add(
        call["method"],
        call["url"],
        status=call["status"],
        headers=headers,
        content_type=content_type,
        **payload,
    )


def sent_body(request) -> object:
    if request.body is None:
        return None
    text = request.body.decode() if isinstance(request.body, bytes) else request.body
    try:
        return json.loads(text)
    except ValueError:
        return text


def replay(env, connection, root: Path, fixture_path: Path):
    """Run the fixture's action against its recorded calls; return (fixture, outcome)."""
    fixture = json.loads(fixture_path.read_text())
    assert set(fixture) == {"input", "output", "calls", "connection", "nango"}
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        for call in fixture["calls"]:
            register(mock, call)
        result = dry_run(
            env,
            Tree.from_disk(root),
            action_of(fixture_path),
            connection.connection_id,
            fixture["input"],
            validate=True,
        )
        # Inside the block, so a failed run reports its own error rather than unused mocks.
        assert result.run.ok, result.run.failure
        made = [(c.request.method, c.request.url, sent_body(c.request)) for c in mock.calls]
    recorded = [(c["method"], c["url"], c["request_body"]) for c in fixture["calls"]]
    assert made == recorded
    return fixture, result.run


def test_every_example_has_a_fixture_and_every_fixture_an_example():
    actions = {(f.integration, f.name) for f in discover(FUNCTIONS)}
    recorded = {(p.parent.parent.name, action_of(p)) for p in FIXTURES}
    assert actions == recorded
    assert len(actions) >= 7
    assert len({integration for integration, _ in actions}) >= 5
    # At least one example shows the `async def` form.
    tree = Tree.from_disk(FUNCTIONS)
    assert any(load_file(f, tree).action.is_async for f in tree.actions())


@pytest.mark.parametrize("fixture_path", FIXTURES, ids=fixture_id)
def test_the_example_replays_its_recorded_calls(transactional_db, fixture_path):
    env = make_env()
    connection = connect(env, fixture_path.parent.parent.name)
    fixture, outcome = replay(env, connection, FUNCTIONS, fixture_path)
    assert outcome.output == fixture["output"]


def test_every_example_deploys_cleanly(transactional_db):
    env = make_env()
    files = discover(FUNCTIONS)
    for integration_id in sorted({f.integration for f in files}):
        make_integration(env, key=integration_id, provider=integration_id)

    changes = deploy(env, Tree.from_disk(FUNCTIONS))

    assert sorted((c.integration, c.name, c.outcome, c.version) for c in changes) == sorted(
        (f.integration, f.name, "created", "1.0.0") for f in files
    )
    assert {c.outcome for c in deploy(env, Tree.from_disk(FUNCTIONS))} == {"unchanged"}


@pytest.mark.parametrize("fixture_path", FIXTURES, ids=fixture_id)
def test_dry_run_save_writes_the_fixture_that_replays(transactional_db, tmp_path, fixture_path):
    integration_id = fixture_path.parent.parent.name
    root = tmp_path / "functions"
    # The integration's folder (its actions and helpers, not its fixtures) and the shared lib.
    source = FUNCTIONS / integration_id
    skip_tests = lambda folder, names: ["tests"] if Path(folder) == source else []  # noqa: E731
    shutil.copytree(source, root / integration_id, ignore=skip_tests)
    if (FUNCTIONS / "lib").is_dir():
        shutil.copytree(FUNCTIONS / "lib", root / "lib")
    shipped = json.loads(fixture_path.read_text())
    env = make_env()
    connection = connect(env, integration_id)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        for call in shipped["calls"]:
            register(mock, call)
        call_command(
            "dryrun",
            action_of(fixture_path),
            connection.connection_id,
            "-e",
            env.name,
            "--input",
            json.dumps(shipped["input"]),
            "--save",
            stdout=StringIO(),
        )
    saved_path = root / integration_id / "tests" / fixture_path.name
    saved = json.loads(saved_path.read_text())
    # The shipped fixture is exactly what a recording writes.
    assert saved == shipped

    replayed, outcome = replay(env, connection, root, saved_path)
    assert outcome.output == replayed["output"]


def test_a_schema_violating_input_is_refused_without_calling_the_provider(transactional_db):
    env = make_env()
    connection = connect(env, "github")
    bad = {"owner": "octocat", "repo": "..", "title": "", "assignee": "octocat"}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        result = dry_run(
            env,
            Tree.from_disk(FUNCTIONS),
            "create-issue",
            connection.connection_id,
            bad,
            validate=True,
        )
        assert len(mock.calls) == 0
    failure = result.run.failure
    assert failure is not None and failure.code == "invalid_action_input"
    assert {(e["code"], tuple(e["path"])) for e in failure.errors} == {
        ("additionalProperties", ()),
        ("pattern", ("repo",)),
        ("minLength", ("title",)),
    }


@pytest.mark.parametrize(
    "integration_id, action, input, answer, payload",
    [
        (
            "slack",
            "post-message",
            {"channel": "C0NOTHERE", "text": "hi"},
            {"ok": False, "error": "channel_not_found"},
            {
                "message": "Slack refused the message: channel_not_found",
                "slack_error": "channel_not_found",
            },
        ),
        (
            "linear",
            "create-issue",
            {"teamId": "9cfb482a-81e3-4154-b5b9-2c805e70a02d", "title": "x"},
            {
                "data": None,
                "errors": [
                    {
                        "message": "Entity not found: Team",
                        "extensions": {"code": "INPUT_ERROR", "type": "invalid input"},
                    }
                ],
            },
            {
                "message": "Entity not found: Team",
                "errors": [
                    {
                        "message": "Entity not found: Team",
                        "extensions": {"code": "INPUT_ERROR", "type": "invalid input"},
                    }
                ],
            },
        ),
    ],
)
def test_errors_reported_in_a_200_answer_end_the_run_with_an_action_error(
    transactional_db, integration_id, action, input, answer, payload
):
    env = make_env()
    connection = connect(env, integration_id)
    base = get_provider(integration_id).base_url
    endpoint = {"slack": "/chat.postMessage", "linear": "/graphql"}[integration_id]
    with responses.RequestsMock() as mock:
        mock.post(base + endpoint, json=answer)
        result = dry_run(
            env, Tree.from_disk(FUNCTIONS), action, connection.connection_id, input, validate=True
        )
    failure = result.run.failure
    assert failure is not None and failure.code == "action_script_runtime_error"
    assert failure.payload == payload

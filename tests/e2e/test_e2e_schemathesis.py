"""Schemathesis against the served OpenAPI document, over real HTTP (gunicorn, configured by
`nangosite/webserver.py`), with every check (`--checks all`) and every phase: the document
must say what the API does, and the API must never answer a 5xx to what it is sent.

A platform of its own (the fuzzer creates and changes integrations and connections): SQLite,
or a scratch PostgreSQL database when the suite runs on PostgreSQL (DATABASE_URL set), so
the run covers both databases. Bounded: a few examples per operation, a time limit on the
whole run.

Excluded, because their side effects would destroy this test's own fixtures while the
fuzzer runs: `DELETE /integrations/{key}` and `DELETE /connections/{connection_id}` (they
delete the integration and connection every other operation is sent with; each has its
own tests in integrations/tests/test_api.py) and `PATCH /integrations/{key}` (it renames
the fixture integration). Every check runs but `use_after_free`: with those DELETEs left out
it could only take the proxy's DELETE (passed on to the provider) for the deletion of a
resource here.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import running_platform

pytestmark = pytest.mark.e2e

RUN_TIMEOUT_SECONDS = 600
# Takes any input: `POST /action/trigger` documents `input` as any JSON (each action's own
# schema is on its `/actions/...` path), so for the fuzzer every input must be valid.
ECHO = """
from nango import create_action

action = create_action(
    description="Echo the input back", input={}, output={}, exec=lambda nango, input: input
)
"""
# The fixtures every generated request names, so that operations reach real records (a
# trigger runs its action, a connection is found) rather than stop at "unknown": the API
# answers an unknown connection or integration 400, as Nango does.
CONFIG = """
[generation]
max-examples = {examples}
# JSON Schema cannot say "no NUL in any string" of values of any type (an action's input,
# metadata): the API refuses NUL everywhere (400, README "Errors").
allow-x00 = false

[parameters]
"header.Connection-Id" = "conn-1"
"header.Provider-Config-Key" = "github"
"header.Base-Url-Override" = "{provider}"
"path.key" = "github"
"path.name" = "echo"
"path.connection_id" = "conn-1"
"query.provider_config_key" = "github"
# Body fields take fixed values only through a dictionary (schemathesis' `parameters`).
"body.provider_config_key" = {{ dictionary = "integration" }}

[dictionaries]
integration = {{ values = ["github"] }}
connection = {{ values = ["conn-1"] }}
fuzzed = {{ values = ["fuzzed"] }}
nowhere = {{ values = [""] }}

[checks.positive_data_acceptance]
# 424: a valid request whose dependency failed (a forced refresh of a token without a
# refresh token, the provider's refusal): not a bad request, so not a 4xx of the caller's.
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "424", "429", "5xx"]

[[operations]]
include-name = "POST /connections"
# Upserts go to a connection of their own, never over the fixture's credentials.
parameters = {{ "body.connection_id" = {{ dictionary = "fuzzed" }} }}
# Which credential types an integration takes depends on its provider (github: OAUTH2);
# the document lists all four shapes, so a valid API_KEY body for github is a 400.
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

[[operations]]
include-name = [
    "PATCH /connections/metadata",
    "POST /connections/metadata",
    "POST /connect/sessions/reconnect",
]
parameters = {{ "body.connection_id" = {{ dictionary = "connection" }} }}

[[operations]]
include-name = "POST /connect/sessions/reconnect"
# It re-authorises an existing connection: the phases that generate boundary values
# (coverage) ignore the dictionary above, and no generated id names one (400, as Nango).
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

[[operations]]
include-name = ["POST /functions/deploy", "POST /functions/dryrun"]
# A tree's files must be Python that defines actions, which no schema can say: a valid
# JSON body may still be refused 400 `invalid_functions`.
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404"]

[[operations]]
include-name = "GET /oauth/callback"
# `state` is a one-time secret the platform issued and no generated one is: always refused.
checks.positive_data_acceptance.expected-statuses = ["200", "400"]

[[operations]]
include-name = ["PATCH /connections/{{connection_id}}", "POST /connect/sessions"]
# Never a webhook URL off this machine.
parameters = {{ "body.webhook_url_override" = {{ dictionary = "nowhere" }} }}
"""
EXCLUDED = [
    ("DELETE", "/integrations/{key}"),
    ("DELETE", "/connections/{connection_id}"),
    ("PATCH", "/integrations/{key}"),
]


@pytest.fixture(scope="module")
def fuzzed_platform(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("schemathesis")
    with running_platform(workdir, os.environ.get("DATABASE_URL", "")) as platform:
        platform.add_connections("conn-", 1)
        platform.write_function("github", "echo", ECHO)
        platform.deploy()
        yield platform


def test_schemathesis_finds_no_mismatch(fuzzed_platform, tmp_path):
    platform = fuzzed_platform
    config = tmp_path / "schemathesis.toml"
    examples = os.environ.get("SCHEMATHESIS_EXAMPLES", "5")
    config.write_text(CONFIG.format(examples=examples, provider=platform.provider.url))
    excluded = [arg for method, path in EXCLUDED for arg in ("--exclude-name", f"{method} {path}")]
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color",
        "run", platform.url + "/openapi.json",
        "--checks", "all",
        # With the DELETEs of records left out, the only DELETE fuzzed is the proxy's, a
        # passthrough that deletes nothing here: no freed resource to find in use.
        "--exclude-checks", "use_after_free",
        "-H", f"Authorization: Bearer {platform.secret}",
        "--workers", "1",
        "--seed", os.environ.get("SCHEMATHESIS_SEED", "13"),
        # `GET /action/{id}?wait=30` holds its answer up to 30 s, as documented.
        "--request-timeout", "40",
        "--max-response-time", "35",
        "--report-dir", str(tmp_path / "report"),
        *excluded,
    ]  # fmt: skip
    done = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    output = done.stdout + done.stderr
    Path(tmp_path / "schemathesis.log").write_text(output)
    assert done.returncode == 0, output[-20000:] + "\n" + platform.server.log()[-3000:]
    # It ran every operation, not an empty selection.
    assert "No operations" not in output
    # No request met an error of ours, even one answered in time.
    assert "Traceback" not in platform.server.log()

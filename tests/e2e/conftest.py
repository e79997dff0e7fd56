"""End-to-end fixtures: the real platform (migrate, create_environment, gunicorn) on a temp
SQLite database, with github pointed at an in-process fake provider.

The tests talk to it over HTTP only, as a client would; they use no pytest-django database.
Every process started here is stopped at teardown, whatever happened in between.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.fakeprovider import FakeProvider
from tests.processes import (
    ROOT,
    free_port,
    gunicorn_command,
    manage,
    platform_env,
    scratch_postgres,
    spawn,
    stop_group,
    wait_serving,
)

START_TIMEOUT_SECONDS = 30
COMMAND_TIMEOUT_SECONDS = 120
NODE_DIR = Path(__file__).parent / "node"


def run_node(args: list[str], stdin: str | None = None) -> object:
    """Run Node in tests/e2e/node (where @nangohq/node is installed); its JSON output.

    Skips the test when Node or the package is missing, unless REQUIRE_NODE_CLIENT is set
    (CI sets it, so the compatibility checks can never skip there).
    """
    if shutil.which("node") is None or not (NODE_DIR / "node_modules").exists():
        if os.environ.get("REQUIRE_NODE_CLIENT"):
            raise AssertionError("node or tests/e2e/node/node_modules missing (npm ci there)")
        pytest.skip("the @nangohq/node client is not installed (npm ci in tests/e2e/node)")
    done = subprocess.run(
        ["node", *args], cwd=NODE_DIR, input=stdin, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "e2e: end-to-end test that runs the real platform (gunicorn) as a subprocess"
    )


class Gunicorn:
    """gunicorn in its own process group, so that stop() also reaches its workers."""

    def __init__(self, env: dict[str, str], logfile: Path, workers=1, threads=8, extra=()):
        self.env, self.logfile = env, logfile
        self.workers, self.threads, self.extra = workers, threads, list(extra)
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> "Gunicorn":
        for _ in range(3):  # a port taken between free_port() and bind: try another one
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            command = gunicorn_command(port, self.workers, self.threads, extra=self.extra)
            # Its connect links and OAuth2 redirect URI are on its own address.
            self.proc = spawn(command, {**self.env, "PUBLIC_URL": self.url}, self.logfile)
            # Any answer (a 401 here) means a worker is serving.
            if wait_serving(self.proc, self.url + "/integrations", START_TIMEOUT_SECONDS):
                return self
            self.stop()
            if "already in use" not in self.log():
                break
        raise AssertionError(f"gunicorn did not start:\n{self.log()[-5000:]}")

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_group(proc, grace=10)


class Platform:
    """One running platform and the ways a test reaches it."""

    def __init__(self, workdir: Path, provider: FakeProvider):
        self.workdir = workdir
        self.provider = provider
        self.functions_dir = workdir / "functions"
        self.env = platform_env(workdir, {"github": provider.url})
        self.secret = str(uuid.uuid4())
        self.other_secret = str(uuid.uuid4())
        self.server: Gunicorn | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, **server) -> None:
        """Migrate, collect the static files, make the environments, start gunicorn
        (`server`: Gunicorn's options): as `make run` starts it, so the admin's pages work."""
        self.functions_dir.mkdir(parents=True, exist_ok=True)
        manage(self.env, "migrate", "--noinput")
        manage(self.env, "collectstatic", "--no-input", "-v0")
        manage(self.env, "create_environment", "e2e", "--secret-key", self.secret)
        manage(self.env, "create_environment", "other", "--secret-key", self.other_secret)
        self.server = Gunicorn(self.env, self.workdir / "gunicorn.log", **server)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def start_worker(self, logfile: str = "worker.log") -> subprocess.Popen:
        """A `manage.py qcluster` on this platform, in its own process group (stop it
        with `stop_group`), its output in `logfile` of the workdir."""
        command = [sys.executable, str(ROOT / "manage.py"), "qcluster"]
        return spawn(command, self.env, self.workdir / logfile)

    def client(self, secret: str | None = None) -> requests.Session:
        session = requests.Session()
        session.trust_env = False
        session.headers["Authorization"] = f"Bearer {secret or self.secret}"
        return session

    def write_function(self, integration: str, name: str, source: str) -> Path:
        path = self.functions_dir / integration / "actions" / f"{name.replace('-', '_')}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return path

    def add_connections(self, prefix: str, count: int, key: str = "github") -> None:
        """The `key` integration (provider github) and connections prefix1..prefixN."""
        http = self.client()
        r = http.post(self.url + "/integrations", json={"unique_key": key, "provider": "github"})
        assert r.status_code == 200, r.text
        for i in range(1, count + 1):
            creds = {"type": "OAUTH2", "access_token": f"gho_{prefix}_{i}"}
            body = {
                "provider_config_key": key,
                "connection_id": f"{prefix}{i}",
                "credentials": creds,
            }
            r = http.post(self.url + "/connections", json=body)
            assert r.status_code == 200, r.text

    def deploy(self, environment: str = "e2e") -> str:
        return manage(self.env, "deploy", environment, "--dir", str(self.functions_dir))

    def trigger(
        self,
        action: str,
        input=None,
        connection: str | None = "conn-1",
        key: str = "github",
        session: requests.Session | None = None,
        timeout: float = 30,
        headers: dict | None = None,
    ) -> requests.Response:
        """POST /action/trigger; a header given as None in `headers` is not sent."""
        headers = {"Provider-Config-Key": key, **(headers or {})}
        if connection is not None:
            headers["Connection-Id"] = connection
        body = {"action_name": action}
        if input is not None:
            body["input"] = input
        return (session or self.client()).post(
            self.url + "/action/trigger", json=body, headers=headers, timeout=timeout
        )


@contextmanager
def running_platform(workdir: Path, database_url: str = "") -> Iterator[Platform]:
    """A platform of its own (with its own fake provider), stopped on the way out; on a
    scratch PostgreSQL database of `database_url`'s server when one is given."""
    provider = FakeProvider().start()
    platform = Platform(workdir, provider)
    drop = None
    try:
        if database_url:
            platform.env["DATABASE_URL"], drop = scratch_postgres(database_url, "nangosite_e2e")
        platform.start()
        yield platform
    finally:
        platform.stop()
        provider.stop()
        if drop is not None:
            drop()


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    with running_platform(tmp_path_factory.mktemp("e2e")) as platform:
        yield platform

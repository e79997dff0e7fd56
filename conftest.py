"""The test world: two environments (ours and a stranger's), make_* helpers, an API client."""

import textwrap
import threading
import time
import types
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils.timezone import now
from django_q.conf import Conf
from rest_framework.test import APIClient

from integrations.deploy import deploy
from integrations.functions import Tree
from integrations.models import Connection, Environment, Integration
from nango.tree import action_path

SECRET = "5a0e2b4c-1111-4222-8333-444455556666"
OTHER_SECRET = "9f9f9f9f-aaaa-4bbb-8ccc-ddddeeeeffff"


def pytest_sessionfinish(session) -> None:
    # Django removes the SQLite test database file, not its write-ahead log beside it.
    from django.conf import settings

    test = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") and test:
        for suffix in ("-wal", "-shm"):
            Path(test + suffix).unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _heartbeat_stops_with_the_test():
    """A run a test left behind keeps this process's heartbeat thread on, and it would
    reap (end stale runs, wake queues) in the next tests, or meet pytest's closed
    database at the end: each test starts and ends without one."""
    _stop_heartbeat()
    yield
    _stop_heartbeat()


def _stop_heartbeat() -> None:
    from executions.heartbeat import watch

    with watch.lock:
        watch.always_on = False
        watch.running.clear()
        watch.holds.clear()
        thread = watch.thread
    if thread is not None:
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _fast_settings(settings, tmp_path, monkeypatch):
    # django-q2 runs tasks inline in unit tests; tests/e2e run real worker processes.
    monkeypatch.setattr(Conf, "SYNC", True)
    settings.RETRY_BACKOFF_BASE_SECONDS = 0.05
    settings.RETRY_BACKOFF_MAX_SECONDS = 0.2
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PROVIDER_BACKOFF_BASE_SECONDS = 0.01
    settings.FUNCTIONS_DIR = tmp_path / "functions"
    settings.PROVIDER_BASE_URL_OVERRIDES = {}
    settings.AUTH_CACHE_SECONDS = 0  # each test makes its environments anew
    settings.FUNCTION_CACHE_SECONDS = 0
    settings.WEBHOOK_SETTINGS_CACHE_SECONDS = 0
    # Unit tests run no collectstatic: pages link the apps' own files, unhashed (the
    # browser test serves the hashed, compressed copies, as `make run` does).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


class Clock:
    """The tests' clock, in place of the `time` module of the modules a test names.

    Its monotonic time moves only when code sleeps on it or the test advances it, so a test
    asserts how long something waited without waiting, and without wall-clock bounds
    that a busy machine breaks. Not `blocking`, a sleep moves the clock at once; `blocking`,
    it waits (a real wait, bounded) until the test advances the clock that far. `at()`
    runs a callback when the clock reaches a time. `perf_counter` stays real: it only
    measures what the code records.
    """

    def __init__(self, blocking: bool = False) -> None:
        self.now = self.start = time.monotonic()
        self.blocking = blocking
        self.slept = 0.0
        self.sleepers = 0
        self.released = False
        self._changed = threading.Condition()
        self._events: list[tuple[float, Callable[[], None]]] = []

    @property
    def elapsed(self) -> float:
        return self.now - self.start

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return time.time() + self.elapsed

    def sleep(self, seconds: float) -> None:
        seconds = max(float(seconds), 0.0)
        if not self.blocking:
            self.slept += seconds
            self.advance(seconds)
            return
        with self._changed:
            until = self.now + seconds
            self.sleepers += 1
            self._changed.notify_all()
            self._changed.wait_for(lambda: self.now >= until or self.released, timeout=10)
            self.sleepers -= 1

    def tick(self, seconds: float) -> None:
        """Advance once a thread sleeps on the clock: one turn of that thread's loop."""
        with self._changed:
            self._changed.wait_for(lambda: self.sleepers > 0, timeout=10)
        self.advance(seconds)

    def release(self) -> None:
        """Wake every blocked sleeper for good (the test is over)."""
        with self._changed:
            self.released = True
            self._changed.notify_all()

    def advance(self, seconds: float) -> None:
        with self._changed:
            self.now += seconds
            due = [e for e in self._events if e[0] <= self.now]
            self._events = [e for e in self._events if e[0] > self.now]
            self._changed.notify_all()
        for _, callback in sorted(due, key=lambda e: e[0]):
            callback()

    def at(self, after: float, callback: Callable[[], None]) -> None:
        with self._changed:
            self._events.append((self.now + after, callback))

    def module(self) -> types.SimpleNamespace:
        return types.SimpleNamespace(
            monotonic=self.monotonic,
            time=self.time,
            sleep=self.sleep,
            perf_counter=time.perf_counter,
        )


@pytest.fixture
def clock(monkeypatch) -> Callable[..., Clock]:
    """`clock("nangosite.lib.http", ...)`: a Clock installed as those modules' `time`."""

    made: list[Clock] = []

    def install(*modules: str, blocking: bool = False) -> Clock:
        made.append(Clock(blocking))
        for name in modules:
            monkeypatch.setattr(f"{name}.time", made[-1].module())
        return made[-1]

    yield install
    for each in made:
        each.release()


def make_env(name: str = "dev", secret: str = SECRET) -> Environment:
    env, _, _ = Environment.create_with_keys(name, secret, webhook_signing_key="whsec-" + name)
    return env


def make_integration(env: Environment, key: str = "github", provider: str = "github", **kw):
    return Integration.objects.create(environment=env, unique_key=key, provider=provider, **kw)


def make_connection(integration: Integration, connection_id: str = "conn-1", **kw) -> Connection:
    credentials = kw.pop("credentials", {"type": "OAUTH2", "access_token": "gho_secret_token"})
    connection = Connection(integration=integration, connection_id=connection_id, **kw)
    connection.set_credentials(credentials)
    connection.save()
    return connection


def expiring_credentials(minutes: int = -1, token: str = "old-token") -> dict:
    return {
        "type": "OAUTH2",
        "access_token": token,
        "refresh_token": "refresh-me",
        "expires_at": (now() + timedelta(minutes=minutes)).isoformat(),
    }


def deploy_source(integration: Integration, name: str, source: str, helpers: dict | None = None):
    """Deploy one action from source text, as `manage.py deploy` would; `helpers` are
    more files of its tree (tree path to source)."""
    files = {action_path(integration.unique_key, name): textwrap.dedent(source)}
    files.update({path: textwrap.dedent(text) for path, text in (helpers or {}).items()})
    return deploy(integration.environment, Tree(files), action=name)


class World:
    def __init__(self):
        self.env = make_env()
        self.other_env = make_env("other", OTHER_SECRET)
        self.github = make_integration(self.env)
        self.connection = make_connection(self.github)
        self.other_github = make_integration(self.other_env)
        self.other_connection = make_connection(self.other_github)


@pytest.fixture
def world(db) -> World:
    return World()


@pytest.fixture
def tworld(transactional_db) -> World:
    """The world for tests whose action runs write to the DB from the runner's thread."""
    return World()


@pytest.fixture
def api() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {SECRET}")
    return client


def trigger(api: APIClient, action: str, input=None, connection: str = "conn-1", key="github", **h):
    headers = {"HTTP_CONNECTION_ID": connection, "HTTP_PROVIDER_CONFIG_KEY": key, **h}
    body = {"action_name": action}
    if input is not None:
        body["input"] = input
    return api.post("/action/trigger", body, format="json", **headers)

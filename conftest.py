"""The test world: two environments (ours and a stranger's), make_* helpers, an API client."""

import textwrap
from datetime import timedelta

import pytest
from django.utils.timezone import now
from django_q.conf import Conf
from rest_framework.test import APIClient

from integrations.deploy import deploy
from integrations.functions import FunctionFile
from integrations.models import Connection, Environment, Integration

SECRET = "5a0e2b4c-1111-4222-8333-444455556666"
OTHER_SECRET = "9f9f9f9f-aaaa-4bbb-8ccc-ddddeeeeffff"


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


def deploy_source(integration: Integration, name: str, source: str):
    """Deploy one action from source text, as `manage.py deploy` would."""
    filename = f"functions/{integration.unique_key}/actions/{name.replace('-', '_')}.py"
    file = FunctionFile(integration.unique_key, name, filename, textwrap.dedent(source))
    return deploy(integration.environment, [file])


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

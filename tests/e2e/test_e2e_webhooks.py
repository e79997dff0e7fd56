"""Completion webhooks end to end: gunicorn + real qcluster workers + real receivers on
127.0.0.1, the signature checked in Python and with @nangohq/node's own functions.

Retries are django-q2 schedules, which the cluster starts every 30 s: the backoff is
shortened here, so each retry waits for the next of those passes.
"""

import json
import os
import time
import uuid

import pytest

from nango import Nango
from tests.e2e.conftest import Platform, run_node
from tests.e2e.test_e2e_async import Worker
from tests.fakeprovider import FakeProvider
from tests.processes import free_port, manage, scratch_postgres
from webhooks import signing
from webhooks.tests.receiver import Receiver

pytestmark = pytest.mark.e2e


FUNCTIONS = {
    "ok": """
        from nango import create_action
        action = create_action(description="Succeeds", input={"type": "object"},
                               output={"type": "object"}, exec=lambda nango, input: {"ok": 1})
    """,
    "flaky": """
        from nango import create_action, ActionError

        def run(nango, input):
            raise ActionError({"message": "provider is down"})

        action = create_action(description="Always fails", input={"type": "object"},
                               output={"type": "object"}, exec=run)
    """,
}

# Dumps the deliveries of one execution as JSON, from inside the platform.
DUMP = """
import json
from webhooks.models import Delivery
rows = Delivery.objects.filter(execution__code={code!r}).order_by("pk")
print(json.dumps([
    {{"status": d.status, "attempts": d.attempts, "url": d.url,
      "rows": [[a.number, a.status_code, a.error] for a in d.attempt_rows.all()]}}
    for d in rows
]))
"""


@pytest.fixture(scope="module")
def wplat(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e-webhooks")
    provider = FakeProvider().start()
    platform = Platform(workdir, provider)
    platform.env.update(
        Q_POLL="0.05",
        Q_WORKERS="2",
        Q_NAME=f"e2e-wh-{uuid.uuid4().hex[:8]}",
        RETRY_BACKOFF_BASE_SECONDS="0.2",
        WEBHOOK_BACKOFF_BASE_SECONDS="0.5",
        WEBHOOK_BACKOFF_MAX_SECONDS="2",
        WEBHOOK_MAX_ATTEMPTS="8",
        WEBHOOK_TIMEOUT_SECONDS="5",
    )
    drop = None
    if os.environ.get("DATABASE_URL"):
        platform.env["DATABASE_URL"], drop = scratch_postgres(os.environ["DATABASE_URL"], "e2ewh")
    if os.environ.get("REDIS_URL"):
        platform.env["REDIS_URL"] = os.environ["REDIS_URL"]
    platform.worker = None
    try:
        platform.start()
        out = manage(platform.env, "rotate_webhook_key", "e2e")
        platform.signing_key = out.split("webhook signing key: ")[1].split()[0]
        for name, source in FUNCTIONS.items():
            platform.write_function("github", name, source)
        platform.add_connections("w", 5)
        platform.deploy()
        platform.worker = Worker(platform.env, workdir / "worker.log").start()
        yield platform
    finally:
        if platform.worker is not None:
            platform.worker.kill()
        platform.stop()
        provider.stop()
        if drop:
            drop()


def hook_connection(platform, connection: str, url: str) -> None:
    """Point one connection's webhooks at `url`, through the API as an app would."""
    r = platform.client().patch(
        f"{platform.url}/connections/{connection}?provider_config_key=github",
        json={"webhook_url_override": url},
        timeout=10,
    )
    assert r.status_code == 200, r.text


def start(platform, action: str, connection: str, **headers) -> str:
    r = platform.trigger(action, {}, connection=connection, headers={"X-Async": "true", **headers})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def deliveries(platform, execution_id: str) -> list[dict]:
    out = manage(platform.env, "shell", "-c", DUMP.format(code=execution_id))
    return json.loads(out.strip().splitlines()[-1])  # after the shell's own banner


def node_verifies(key: str, received) -> list[dict]:
    """Both of @nangohq/node's checks, run by Node on the exact bytes and headers received."""
    script = """
        import { Nango } from '@nangohq/node';
        import { readFileSync } from 'node:fs';
        const { key, requests } = JSON.parse(readFileSync(0, 'utf8'));
        const nango = new Nango({ secretKey: 'unused', webhookSigningKey: key });
        console.log(JSON.stringify(requests.map(({ body, headers }) => ({
            hmac: nango.verifyIncomingWebhookRequest(body, headers),
            legacy: nango.verifyWebhookSignature(
                headers['x-nango-signature'], JSON.parse(body)),
        }))));
    """
    payload = {
        "key": key,
        "requests": [{"body": r.body.decode(), "headers": r.headers} for r in received],
    }
    return run_node(["--input-type=module", "-e", script], stdin=json.dumps(payload))


def wait_until(check, timeout: float = 60, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def test_it_sends_success_and_failure_webhooks_the_node_client_verifies(wplat):
    receiver = Receiver(wplat.signing_key).start()
    try:
        hook_connection(wplat, "w1", receiver.url)
        ok = start(wplat, "ok", "w1")
        failed = start(wplat, "flaky", "w1", **{"X-Max-Retries": "1"})
        received = receiver.wait_for(2, timeout=60)
        by_id = {r.json["payload"]["id"]: r for r in received}
        assert set(by_id) == {ok, failed}
        assert by_id[ok].json["success"] is True and by_id[failed].json["success"] is False
        for r in received:
            assert r.verified  # Python, the way the Node client computes it
            assert r.json["type"] == "async_action" and r.json["from"] == "nango"
            assert r.json["connectionId"] == "w1" and r.json["providerConfigKey"] == "github"
            assert r.json["payload"]["statusUrl"] == f"/action/{r.json['payload']['id']}"
            assert r.body == signing.serialize(r.json).encode()
            assert "authorization" not in r.headers and "cookie" not in r.headers
        # The failure is announced once, after its final (second) attempt.
        status = wplat.client().get(f"{wplat.url}/executions/{failed}", timeout=10).json()
        assert len(status["attempts"]) == 2
        app = Nango("unused", wplat.url, webhook_signing_key=wplat.signing_key)
        assert all(app.verify_webhook(r.body, r.headers) for r in received)  # Python client
        assert node_verifies(wplat.signing_key, received) == [{"hmac": True, "legacy": True}] * 2
        # A wrong key fails the Node check: it really verifies.
        assert node_verifies("not-the-key", received[:1]) == [{"hmac": False, "legacy": False}]
    finally:
        receiver.stop()


def test_retries_reach_a_flaky_receiver_and_one_that_was_down_across_a_worker_restart(wplat):
    # Both scenarios share the waits: django-q2 starts due schedules every 30 s.
    flaky = Receiver(wplat.signing_key).start()
    flaky.script = [503, 503]
    late = Receiver(wplat.signing_key, port=free_port())  # nothing listens there yet
    try:
        hook_connection(wplat, "w2", flaky.url)
        hook_connection(wplat, "w3", late.url)
        flaky_id, late_id = start(wplat, "ok", "w2"), start(wplat, "ok", "w3")

        (first,) = wait_until(lambda: [d for d in deliveries(wplat, late_id) if d["attempts"]])
        assert first["status"] == "pending"
        assert first["rows"][0][1:] == [None, "could not connect"]
        # The worker dies with retries pending: the rows and schedules are in the database.
        wplat.worker.kill()
        late.start()
        wplat.worker = Worker(wplat.env, wplat.workdir / "worker2.log").start()

        # 503, 503, then accepted: three attempts recorded, one webhook delivered.
        received = flaky.wait_for(3, timeout=150)
        assert [r.answered for r in received] == [503, 503, 200]
        assert len({r.body for r in received}) == 1 and all(r.verified for r in received)
        (delivery,) = wait_until(
            lambda: [d for d in deliveries(wplat, flaky_id) if d["status"] == "delivered"]
        )
        assert delivery["attempts"] == 3
        assert [row[:2] for row in delivery["rows"]] == [[1, 503], [2, 503], [3, 200]]

        # The receiver that was down gets it once it is back.
        (got,) = late.wait_for(1, timeout=150)
        assert got.verified and got.json["payload"]["id"] == late_id
        (delivery,) = wait_until(
            lambda: [d for d in deliveries(wplat, late_id) if d["status"] == "delivered"]
        )
        assert delivery["attempts"] >= 2 and delivery["rows"][-1][1] == 200
        assert len(flaky.received) == 3 and len(late.received) == 1  # nothing sent twice
    finally:
        flaky.stop()
        late.stop()

"""Per-environment limits on triggers: triggers a second (GCRA, bursts of as many) and a
cap on queued async runs, answered 429 too_many_requests with Retry-After and
X-RateLimit-*. Two web processes sharing Redis: tests/e2e/test_e2e_ops.py."""

import os

import pytest
from django_q.conf import Conf

from conftest import deploy_source, trigger
from executions.models import Execution, RetryRefused
from integrations.models import Environment
from nangosite.lib import throttle

ECHO = """
from nango import create_action
action = create_action(description="echo", input={}, output={}, exec=lambda nango, input: input)
"""


@pytest.fixture
def limited(world, settings):
    settings.REDIS_URL = ""  # counted in this process
    throttle._local.clear()
    deploy_source(world.github, "echo", ECHO)
    return world


def limit(world, **fields) -> None:
    Environment.objects.filter(pk=world.env.pk).update(**fields)


def test_it_answers_429_past_the_triggers_a_second_and_lets_them_through_again(limited, api, clock):
    time = clock("nangosite.lib.throttle")
    limit(limited, trigger_rate_limit=2)
    assert [trigger(api, "echo", {}).status_code for _ in range(2)] == [200, 200]
    refused = trigger(api, "echo", {})
    assert refused.status_code == 429
    assert refused.json() == {
        "error": {
            "code": "too_many_requests",
            "message": "More than 2 triggers a second in environment 'dev'; retry in 0.50 s.",
            "payload": {"reason": "rate", "limit": 2},
        }
    }
    assert refused["Retry-After"] == "1"
    assert refused["X-RateLimit-Limit"] == "2"
    assert refused["X-RateLimit-Remaining"] == "0"
    assert refused["X-RateLimit-Reset"] == "1"
    assert Execution.objects.count() == 2  # a refused trigger records nothing
    time.advance(0.5)  # one more trigger's worth
    assert trigger(api, "echo", {}).status_code == 200
    assert trigger(api, "echo", {}).status_code == 429
    time.advance(1.0)  # a whole burst again
    assert [trigger(api, "echo", {}).status_code for _ in range(3)] == [200, 200, 429]


def test_the_limit_is_per_environment_and_covers_every_trigger_entrance(limited, api, clock):
    clock("nangosite.lib.throttle")
    limit(limited, trigger_rate_limit=1)
    assert trigger(api, "echo", {}).status_code == 200
    r = api.post("/actions/github/echo", {}, format="json", HTTP_CONNECTION_ID="conn-1")
    assert r.status_code == 429 and r["Retry-After"] == "1"
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo"}}
    r = api.post(
        "/mcp", call, format="json", HTTP_CONNECTION_ID="conn-1", HTTP_PROVIDER_CONFIG_KEY="github"
    )
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_requests"
    # Another environment has its own budget (none here).
    deploy_source(limited.other_github, "echo", ECHO)
    other = api.__class__()
    other.credentials(HTTP_AUTHORIZATION="Bearer 9f9f9f9f-aaaa-4bbb-8ccc-ddddeeeeffff")
    assert [trigger(other, "echo", {}).status_code for _ in range(3)] == [200] * 3


def test_no_limit_counts_nothing(limited, api):
    assert [trigger(api, "echo", {}).status_code for _ in range(5)] == [200] * 5
    assert throttle._local == {}


def test_it_caps_queued_async_runs_and_a_retry_is_refused_with_the_reason(
    limited, api, monkeypatch
):
    monkeypatch.setattr(Conf, "SYNC", False)  # queued for a worker that is not running
    limit(limited, max_queued_runs=2)
    statuses = [trigger(api, "echo", {}, HTTP_X_ASYNC="true").status_code for _ in range(3)]
    assert statuses == [202, 202, 429]
    refused = trigger(api, "echo", {}, HTTP_X_ASYNC="true")
    assert refused.json()["error"]["payload"] == {"reason": "queue", "limit": 2}
    assert refused["Retry-After"] == "1" and refused["X-RateLimit-Limit"] == "2"
    assert trigger(api, "echo", {}).status_code == 200  # sync runs do not queue
    first = Execution.objects.filter(is_async=True).first()
    with pytest.raises(RetryRefused, match="queue is full"):
        first.retry()
    first.cancel()
    assert trigger(api, "echo", {}, HTTP_X_ASYNC="true").status_code == 202


def test_an_admin_retry_is_not_rate_limited(limited, api, clock):
    clock("nangosite.lib.throttle")
    limit(limited, trigger_rate_limit=1)
    assert trigger(api, "echo", {}).status_code == 200
    first = Execution.objects.get()
    made = first.retry()  # the API's budget is spent; staff's retries are not counted in it
    made.refresh_from_db()
    assert made.status == "succeeded"


@pytest.mark.skipif(not os.getenv("REDIS_URL"), reason="REDIS_URL is not set")
def test_with_redis_the_count_is_kept_there(limited, settings):
    settings.REDIS_URL = os.environ["REDIS_URL"]
    key = f"test-{os.getpid()}-{id(settings)}"
    verdicts = [throttle.take(key, 2) for _ in range(3)]
    assert [(v.allowed, v.remaining) for v in verdicts] == [(True, 1), (True, 0), (False, 0)]
    assert 0 < verdicts[2].retry_after <= 0.5
    assert throttle._local == {}
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens: each process counts alone
    assert throttle.take(key, 1).allowed and not throttle.take(key, 1).allowed

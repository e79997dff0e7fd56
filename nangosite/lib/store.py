"""The shared store: one Redis client per process (REDIS_URL), for what every process of
the platform must agree on (the throttles' counters) and for the readiness check.

Short timeouts: a Redis that does not answer must cost a request a second at most, never
hang it. redis-py's pool is thread-safe and starts again in a forked child.
"""

import redis
from django.conf import settings

TIMEOUT_SECONDS = 1.0

_clients: dict[str, redis.Redis] = {}


def client() -> redis.Redis | None:
    """The client for REDIS_URL; None when no Redis is configured."""
    url = settings.REDIS_URL
    if not url:
        return None
    found = _clients.get(url)
    if found is None:
        found = _clients[url] = redis.Redis.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
    return found

"""Request rates per key, as GCRA (the generic cell rate algorithm: a token bucket kept as
one timestamp, the "theoretical arrival time"): `rate` requests a second, in bursts of up
to `rate`, and a refusal says exactly when the next request will be allowed.

Counted in Redis when REDIS_URL is set (one Lua script: one round trip, and Redis's clock
for every process), so every web process enforces one shared limit; in this process
otherwise. If Redis does not answer, each process counts alone until it does.
"""

import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from nangosite.lib import store

log = logging.getLogger(__name__)

# KEYS[1]: the key; ARGV: microseconds between requests, burst. Returns {allowed,
# microseconds until the next request is allowed, requests left in the burst}.
GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local allow_at = tat + interval - burst * interval
if now < allow_at then
  return {0, allow_at - now, 0}
end
local next_tat = tat + interval
local ttl_ms = math.ceil((next_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', ttl_ms)
return {1, 0, math.floor((now - (next_tat - burst * interval)) / interval)}
"""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    # Seconds until one more request is allowed (0 when this one was).
    retry_after: float


_scripts: dict[int, object] = {}
_local: dict[str, float] = {}
_lock = threading.Lock()
_warned = 0.0


def take(key: str, rate: int) -> Verdict:
    """Count one request under `key` against `rate` a second."""
    interval = 1_000_000 // max(rate, 1)
    client = store.client()
    if client is not None:
        script = _scripts.get(id(client))
        if script is None:
            script = _scripts[id(client)] = client.register_script(GCRA)
        try:
            allowed, wait_us, remaining = script(keys=[_name(key)], args=[interval, rate])
            return Verdict(bool(allowed), rate, int(remaining), int(wait_us) / 1e6)
        except redis.RedisError as exc:
            _warn(exc)
    return _take_here(key, interval, rate)


def _name(key: str) -> str:
    # Clusters sharing one Redis (and one database) share a name; others must not mix.
    return f"{settings.Q_CLUSTER['name']}:throttle:{key}"


def _take_here(key: str, interval_us: int, rate: int) -> Verdict:
    interval = interval_us / 1e6
    with _lock:
        moment = time.monotonic()
        tat = max(_local.get(key, moment), moment)
        allow_at = tat + interval - rate * interval
        if moment < allow_at:
            return Verdict(False, rate, 0, allow_at - moment)
        _local[key] = tat + interval
        if len(_local) > 10_000:  # keys of environments long gone
            _local.clear()
        remaining = math.floor((moment - (tat + interval - rate * interval)) / interval + 1e-9)
        return Verdict(True, rate, remaining, 0.0)


def _warn(exc: Exception) -> None:
    global _warned
    if time.monotonic() - _warned > 60:
        _warned = time.monotonic()
        log.warning("throttle: Redis did not answer (%s); counting in this process", exc)

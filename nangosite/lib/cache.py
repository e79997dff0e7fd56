"""A small per-process cache whose entries expire: for lookups every request makes.

The time to live is a setting's name, read at each use, so `override_settings` (and a
value of 0, which turns the cache off) take effect at once. The cache holds at most
`max_size` entries and starts again empty when it is full: the values are cheap to load
again, and a long-lived process must not grow with every key it ever saw.
"""

import time
from collections.abc import Hashable

from django.conf import settings


class TTLCache:
    def __init__(self, ttl_setting: str, max_size: int = 1024) -> None:
        self.ttl_setting, self.max_size = ttl_setting, max_size
        self._entries: dict[Hashable, tuple[float, object]] = {}

    @property
    def ttl(self) -> float:
        return getattr(settings, self.ttl_setting)

    def get(self, key: Hashable) -> object | None:
        if self.ttl <= 0:
            return None
        found = self._entries.get(key)
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]

    def set(self, key: Hashable, value: object) -> None:
        ttl = self.ttl
        if ttl <= 0:
            return
        if len(self._entries) >= self.max_size:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + ttl, value)

    def pop(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

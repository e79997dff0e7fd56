"""Writes that must not be abandoned while their process lives: a run's end, a webhook
attempt's record. They wait out an unreachable, restarting or locked database."""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db import connection as db_connection

log = logging.getLogger(__name__)

# Database errors worth waiting out: the server is unreachable, restarting, or locked.
# Anything else (a value it refuses) will not go away by writing it again.
TRANSIENT = (OperationalError, InterfaceError)

T = TypeVar("T")


def retrying(write: Callable[[], T], what: str = "a run's end", seconds: float | None = None) -> T:
    """Run `write` until it succeeds, waiting out TRANSIENT errors (with backoff, for up
    to `seconds`, FINAL_WRITE_RETRY_SECONDS unless said); then the last error is raised."""
    limit = settings.FINAL_WRITE_RETRY_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + limit
    attempt = 0
    while True:
        try:
            return write()
        except TRANSIENT:
            if time.monotonic() >= deadline:
                raise
            log.warning("writing %s failed; retrying", what, exc_info=attempt == 0)
            time.sleep(min(0.1 * 2**attempt, 2.0))
            attempt += 1
            if not db_connection.in_atomic_block:
                # A connection the database dropped (restart) stays broken: reconnect.
                db_connection.close_if_unusable_or_obsolete()

"""What a run leaves behind of its provider calls and log lines, secrets scrubbed.

`Connection.call` records every attempt on the recorder it is given and adds the
credentials it used to the recorder's secrets, so nothing recorded can hold them.
"""

import functools
import json
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus

from django.utils.timezone import now

from nangosite.lib import http, tracing
from nangosite.lib.storable import clean_text

MAX_LOG_LINES = 1000
MAX_LOG_CHARS = 99_000
REDACTED = "[REDACTED]"


def secrets_of(credentials: dict) -> set:
    """The secret values of a connection's credentials (everything but type and expiry)."""
    return {
        value
        for key, value in credentials.items()
        if key not in ("type", "expires_at") and isinstance(value, str)
    }


@functools.lru_cache(maxsize=1024)
def _spellings(secret: str) -> frozenset[str]:
    """How a secret may appear in recorded text: as it is, percent-encoded in URLs, escaped
    in JSON text. Too short to be told from other text (under 4 characters): none."""
    if not secret or len(secret) < 4:
        return frozenset()
    return frozenset({secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]})


@dataclass
class Recorder:
    """A run's log lines and every provider call, with the secret values to scrub."""

    logs: list = field(default_factory=list)
    calls: list = field(default_factory=list)
    secrets: set = field(default_factory=set)
    # `dryrun --save` keeps whole responses to replay them in tests, and the answers of
    # the SDK's other calls (metadata, connection, other actions, locks).
    capture: bool = False
    captured: list = field(default_factory=list)
    # The OpenTelemetry context of the run's span, when tracing is on: each provider call
    # becomes a span under it (nangosite/lib/tracing.py).
    trace: object = None
    nango_calls: list = field(default_factory=list)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            for form in _spellings(secret):
                if form in text:
                    text = text.replace(form, REDACTED)
        return text

    def redact_json(self, value: object, text: str | None = None) -> object:
        """`value` with the secrets scrubbed; `text` is its JSON if already at hand."""
        text = json.dumps(value) if text is None else text
        scrubbed = self.redact(text)
        return value if scrubbed == text else json.loads(scrubbed)

    def snapshot(self, value: object) -> object:
        """A copy of `value` as JSON carries it, secrets scrubbed: what a fixture keeps of
        something the function may change later (its params, its metadata)."""
        return json.loads(self.redact(json.dumps(value, default=str)))

    def log(self, level: str, message: str) -> None:
        if len(self.logs) >= MAX_LOG_LINES:
            return
        if len(self.logs) == MAX_LOG_LINES - 1:
            level, message = "warn", f"log limit of {MAX_LOG_LINES} lines reached"
        self.logs.append(
            {
                "at": now().isoformat(),
                "level": level,
                "message": clean_text(self.redact(message)[:MAX_LOG_CHARS]),
            }
        )

    def call(self, attempt: http.Attempt) -> None:
        entry = {
            "method": attempt.method,
            "url": self.redact(attempt.url),
            "status": attempt.status,
            "duration_ms": round(attempt.duration_ms, 2),
            "attempt": attempt.attempt + 1,
        }
        if attempt.error:
            entry["error"] = clean_text(self.redact(attempt.error))
        if attempt.wait_s:
            entry["retry_in_s"] = round(attempt.wait_s, 3)
        self.calls.append(entry)
        if self.trace is not None:
            tracing.provider_call(
                self.trace, attempt.method, entry["url"], attempt.status, attempt.duration_ms,
                attempt.error,
            )  # fmt: skip

"""Webhook bodies and their signatures, exactly as `@nangohq/node` verifies them.

`verifyIncomingWebhookRequest(body, headers)` computes `createHmac('sha256', key)
.update(body).digest('hex')` over the raw body string and compares it with the
`X-Nango-Hmac-Sha256` header in constant time. The deprecated `verifyWebhookSignature`
recomputes `sha256(key + JSON.stringify(parsedBody))`, so the body is compact JSON with
non-ASCII characters left as they are: re-serializing it in JavaScript gives the same text.
"""

import hashlib
import hmac
import json

HMAC_HEADER = "X-Nango-Hmac-Sha256"
LEGACY_HEADER = "X-Nango-Signature"
USER_AGENT = "nangosite-webhooks/1"


def serialize(message: dict) -> str:
    """The body text, serialized once: sorted keys, no spaces (Nango's stringifyStable)."""
    return json.dumps(
        message, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def hmac_sha256(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def legacy_signature(key: str, body: bytes) -> str:
    # Open to length extension: sent only because older receivers still check it.
    return hashlib.sha256(key.encode() + body).hexdigest()


def headers(key: str, body: bytes) -> dict[str, str]:
    """Every header a webhook carries; only the two signatures depend on the key."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        HMAC_HEADER: hmac_sha256(key, body),
        LEGACY_HEADER: legacy_signature(key, body),
    }


def verify(key: str, body: bytes, signature: str) -> bool:
    """What a receiver does: recompute the HMAC over the raw bytes, compare in constant time."""
    return hmac.compare_digest(hmac_sha256(key, body), signature or "")

"""Encryption at rest and secret-key hashing."""

import base64
import hashlib
import hmac
import json
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(keys: str, secret_key: str) -> MultiFernet:
    # ENCRYPTION_KEY may hold several comma-separated keys: the first encrypts, all
    # decrypt, so keys can be rotated without re-encrypting every row at once.
    raw = [k.strip() for k in keys.split(",") if k.strip()]
    if not raw:
        raw = [base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest()).decode()]
    return MultiFernet([Fernet(k.encode()) for k in raw])


def fernet() -> MultiFernet:
    return _fernet(settings.ENCRYPTION_KEY, settings.SECRET_KEY)


def encrypt_json(value) -> str:
    return fernet().encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()


# Plaintexts by (keys, token), in this process: every sync trigger reads its connection's
# credentials, and Fernet's HMAC and AES were a tenth of a trigger's own cost. A token is
# written once (a new encryption makes a new token), so what it decrypts to never changes;
# the keys are part of the entry, so a removed key stops decrypting at once. Bounded: it
# starts again empty when full.
_plaintexts: dict[tuple[str, str, str], bytes] = {}
_PLAINTEXTS_MAX = 1024


def decrypt_json(token: str):
    key = (settings.ENCRYPTION_KEY, settings.SECRET_KEY, token)
    plain = _plaintexts.get(key)
    if plain is None:
        try:
            plain = fernet().decrypt(token.encode())
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: wrong ENCRYPTION_KEY?") from exc
        if len(_plaintexts) >= _PLAINTEXTS_MAX:
            _plaintexts.clear()
        _plaintexts[key] = plain
    return json.loads(plain)  # a fresh object each time: callers may change theirs


def hash_secret(secret: str) -> str:
    # Secret keys are 128-bit random values, so a fast hash is as safe as a slow one here
    # and lets every request find its environment with one indexed lookup.
    return hashlib.sha256(secret.encode()).hexdigest()


def same_secret(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def new_token(nbytes: int = 32) -> str:
    return secrets.token_hex(nbytes)

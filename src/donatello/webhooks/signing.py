"""The signature scheme (docs/webhooks.md): ``Donatello-Signature: t=<unix seconds>,v1=<hex>`` where
``hex = HMAC-SHA256(key=secret as UTF-8, message=f"{t}.{body}")`` over the exact body bytes sent."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"

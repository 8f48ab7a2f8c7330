"""A verified access token is remembered until it expires (the signature is checked once per token): the
memory must never let an expired, altered or foreign token through."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from donatello.auth import tokens as token_module
from donatello.auth.tokens import TokenSigner
from donatello.core.errors import Unauthenticated


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    signer = TokenSigner(Ed25519PrivateKey.generate())
    user, org = uuid.uuid4(), uuid.uuid4()
    token = signer.issue(user, org, lifetime=timedelta(seconds=1))
    assert signer.verify(token).user_id == user
    assert signer.verify(token).user_id == user  # from memory

    time.sleep(max(0.0, signer._verified[token][1] - time.time()) + 0.05)
    with pytest.raises(Unauthenticated, match="expired"):
        signer.verify(token)


def test_an_altered_or_foreign_token_is_never_answered_from_memory() -> None:
    signer = TokenSigner(Ed25519PrivateKey.generate())
    token = signer.issue(uuid.uuid4(), uuid.uuid4())
    signer.verify(token)
    header, payload, signature = token.split(".")
    # The first character carries six whole bits of the signature (the last one only two, so changing
    # the tail could leave the same bytes): this is always another signature.
    altered = ("B" if signature[0] == "A" else "A") + signature[1:]
    with pytest.raises(Unauthenticated):
        signer.verify(f"{header}.{payload}.{altered}")
    foreign = TokenSigner(Ed25519PrivateKey.generate()).issue(uuid.uuid4(), uuid.uuid4())
    with pytest.raises(Unauthenticated):
        signer.verify(foreign)


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_module, "VERIFIED_TOKENS_KEPT", 3)
    signer = TokenSigner(Ed25519PrivateKey.generate())
    for _ in range(10):
        signer.verify(signer.issue(uuid.uuid4(), uuid.uuid4()))
    assert len(signer._verified) == 3

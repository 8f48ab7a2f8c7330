"""A verified access token is remembered until it expires (the signature is checked once per token): the
memory must never let an expired, altered or foreign token through."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from donatello.auth import tokens as token_module
from donatello.auth.tokens import TokenSigner
from donatello.core.errors import Unauthenticated
from tests.support.clock import WHOLE_SECOND, Clock


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    clock = Clock(WHOLE_SECOND)
    signer = TokenSigner(Ed25519PrivateKey.generate(), clock=clock)
    user, org = uuid.uuid4(), uuid.uuid4()
    token = signer.issue(user, org, lifetime=timedelta(seconds=1))
    assert signer.verify(token).user_id == user
    clock.advance(0.999)
    assert signer.verify(token).user_id == user  # from memory, in its last millisecond
    assert token in signer._verified

    clock.advance(0.001)  # exp: no longer valid, from memory or otherwise
    with pytest.raises(Unauthenticated, match="expired"):
        signer.verify(token)
    assert token not in signer._verified
    with pytest.raises(Unauthenticated, match="expired"):
        signer.verify(token)


def test_a_token_is_not_valid_before_it_was_issued() -> None:
    clock = Clock(WHOLE_SECOND)
    signer = TokenSigner(Ed25519PrivateKey.generate(), clock=clock)
    token = signer.issue(uuid.uuid4(), uuid.uuid4())
    clock.advance(-1)
    with pytest.raises(Unauthenticated, match="not valid"):
        signer.verify(token)


def test_a_sealed_statement_expires_by_the_signers_clock() -> None:
    clock = Clock(WHOLE_SECOND)
    signer = TokenSigner(Ed25519PrivateKey.generate(), clock=clock)
    sealed = signer.seal({"state": "s1"}, audience="sign-in", lifetime=timedelta(minutes=10))
    clock.advance(599.999)
    assert signer.unseal(sealed, audience="sign-in") == {"state": "s1"}
    assert signer.unseal(sealed, audience="elsewhere") is None
    clock.advance(0.001)
    assert signer.unseal(sealed, audience="sign-in") is None


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

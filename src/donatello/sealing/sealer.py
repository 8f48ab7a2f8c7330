"""Sealing prompts: AES-256-GCM under a fresh data key per record, the data key wrapped by a KEK.

The rules:

* every record gets its own random 256-bit data key and 96-bit nonce, so no (key, nonce) pair ever repeats
  and one leaked data key exposes one prompt;
* the record's ``context`` (e.g. ``org:<id>/generation:<id>``) and the KEK id are the GCM associated data:
  an envelope copied to another row or tenant refuses to open there;
* the data key is wrapped with AES key wrap (RFC 3394) under the KEK. Key wrap needs no nonce, so a long-lived
  KEK can wrap any number of data keys without the ~2^32 random-nonce limit that AES-GCM wrapping would put on
  it; its determinism leaks nothing because every data key is fresh and random; its integrity check rejects a
  wrapped key altered or presented to the wrong KEK. The record's GCM layer already binds the context;
* the plaintext is never logged, and errors never carry it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from donatello.config import KeyProvider, Settings
from donatello.sealing import envelope
from donatello.sealing.errors import KeyUnavailable, SealBroken
from donatello.sealing.keyring import KeyRing
from donatello.sealing.local_keyring import LocalKeyRing

log = logging.getLogger("donatello.sealing")

DATA_KEY_BITS = 256


@dataclass(frozen=True)
class Sealed:
    envelope: str  # generations.prompt_encrypted (TEXT): self-describing and versioned
    key_id: str  # generations.prompt_key_id (varchar 100): which KEK wrapped the data key


class PromptSealer:
    """Seals prompts for storage and opens them again, bound to the record they belong to."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    async def seal(self, plaintext: str, *, context: str) -> Sealed:
        """Encrypt ``plaintext`` for the record named by ``context`` under the active KEK."""
        _require_context(context)
        kek = await self.keys.active()
        data_key = AESGCM.generate_key(bit_length=DATA_KEY_BITS)
        nonce = secrets.token_bytes(envelope.NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(
            nonce, plaintext.encode("utf-8"), envelope.associated_data(kek.id, context)
        )
        sealed = envelope.Envelope(kek.id, aes_key_wrap(kek.material, data_key), nonce, ciphertext)
        log.debug("prompt sealed", extra={"key_id": kek.id, "sealed_bytes": len(ciphertext)})
        return Sealed(envelope=str(sealed), key_id=kek.id)

    async def open(self, envelope_text: str, *, context: str) -> str:
        """The plaintext sealed in ``envelope_text`` for ``context``.

        Raises SealBroken when the envelope was altered, belongs to another context, or names a key that does
        not exist (indistinguishable from an altered key id); KeyUnavailable when the key provider fails.
        """
        _require_context(context)
        sealed = envelope.parse(envelope_text)
        try:
            kek = await self.keys.get(sealed.key_id)
        except KeyUnavailable as error:
            if error.reason == "not-found":
                raise SealBroken(f"the envelope names key {sealed.key_id!r}, which does not exist") from error
            raise
        try:
            data_key = aes_key_unwrap(kek.material, sealed.wrapped_key)
            plaintext = AESGCM(data_key).decrypt(
                sealed.nonce, sealed.ciphertext, envelope.associated_data(sealed.key_id, context)
            )
        except (InvalidUnwrap, InvalidTag):
            raise SealBroken("the envelope does not open under this key and context") from None
        log.debug("prompt opened", extra={"key_id": sealed.key_id})
        return plaintext.decode("utf-8")

    async def aclose(self) -> None:
        await self.keys.aclose()


def sealer_from_settings(settings: Settings) -> PromptSealer:
    """The sealer for the configured key provider — decided by configuration, never by trying providers.

    ``local`` (the default) keeps KEKs under ``key_dir``; ``azure-key-vault`` needs ``key_vault_url`` and
    authenticates with DefaultAzureCredential (managed identity in Azure).
    """
    if settings.key_provider is KeyProvider.LOCAL:
        return PromptSealer(LocalKeyRing(settings.key_dir))
    if not settings.key_vault_url:
        raise ValueError("DONATELLO_KEY_PROVIDER=azure-key-vault needs DONATELLO_KEY_VAULT_URL")
    from azure.identity.aio import DefaultAzureCredential

    from donatello.sealing.key_vault import AzureKeyVaultKeyRing, key_vault_client

    credential = DefaultAzureCredential()
    client = key_vault_client(
        settings.key_vault_url,
        credential,
        retries=settings.key_vault_retries,
    )
    return PromptSealer(
        AzureKeyVaultKeyRing(
            client,
            secret_name=settings.prompt_key_secret_name,
            cache_seconds=settings.prompt_key_cache_seconds,
            timeout_seconds=settings.key_vault_timeout_seconds,
            credential=credential,
        )
    )


def _require_context(context: str) -> None:
    if not context:
        raise ValueError("a sealed prompt must be bound to a context, e.g. 'org:<id>/generation:<id>'")

"""Prompt encryption at rest: envelopes sealed with AES-256-GCM under per-record data keys,
wrapped by a key-encryption key from the configured key provider (local files or Azure Key Vault)."""

from donatello.sealing.envelope import looks_sealed
from donatello.sealing.errors import KeyUnavailable, SealBroken
from donatello.sealing.keyring import Kek, KeyRing
from donatello.sealing.local_keyring import LocalKeyRing
from donatello.sealing.sealer import PromptSealer, Sealed, sealer_from_settings

__all__ = [
    "Kek",
    "KeyRing",
    "KeyUnavailable",
    "LocalKeyRing",
    "PromptSealer",
    "SealBroken",
    "Sealed",
    "looks_sealed",
    "sealer_from_settings",
]

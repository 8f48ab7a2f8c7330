"""Prompt sealing with the local key ring, for real: files on disk, real AES, real concurrency."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from donatello.config import KeyProvider, Settings
from donatello.sealing import (
    LocalKeyRing,
    PromptSealer,
    SealBroken,
    looks_sealed,
    sealer_from_settings,
)
from donatello.sealing.key_vault import AzureKeyVaultKeyRing

PROMPT = "A watercolour of the Sydney Opera House at dawn — confidential campaign 'Kookaburra' 🦜"
CONTEXT = "org:7f1c/generation:42"
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture
def sealer(tmp_path: Path) -> PromptSealer:
    return PromptSealer(LocalKeyRing(tmp_path / "keys"))


async def test_a_sealed_prompt_opens_to_the_same_text(sealer: PromptSealer) -> None:
    sealed = await sealer.seal(PROMPT, context=CONTEXT)

    assert await sealer.open(sealed.envelope, context=CONTEXT) == PROMPT
    assert sealed.envelope.startswith(f"sealed.v1.{sealed.key_id}.")
    assert PROMPT not in sealed.envelope
    assert len(sealed.key_id) <= 100  # fits generations.prompt_key_id


async def test_an_empty_and_a_long_prompt_round_trip(sealer: PromptSealer) -> None:
    for prompt in ("", "x" * 20_000):
        sealed = await sealer.seal(prompt, context=CONTEXT)
        assert await sealer.open(sealed.envelope, context=CONTEXT) == prompt


async def test_sealing_the_same_prompt_twice_gives_unrelated_envelopes(sealer: PromptSealer) -> None:
    first = await sealer.seal(PROMPT, context=CONTEXT)
    second = await sealer.seal(PROMPT, context=CONTEXT)

    assert first.key_id == second.key_id
    _, _, _, wrapped_1, nonce_1, body_1 = first.envelope.split(".")
    _, _, _, wrapped_2, nonce_2, body_2 = second.envelope.split(".")
    assert wrapped_1 != wrapped_2  # a fresh data key per record
    assert nonce_1 != nonce_2
    assert body_1 != body_2


async def test_changing_any_character_of_an_envelope_makes_it_refuse_to_open(sealer: PromptSealer) -> None:
    envelope = (await sealer.seal(PROMPT, context=CONTEXT)).envelope
    tampered = {envelope[:-1], envelope + "A", envelope + ".", envelope[1:]}
    for position, original in enumerate(envelope):
        for replacement in (BASE64URL[(BASE64URL.find(original) + 1) % 64], "."):
            if replacement != original:
                tampered.add(envelope[:position] + replacement + envelope[position + 1 :])

    opened = []
    for candidate in tampered:
        try:
            opened.append(await sealer.open(candidate, context=CONTEXT))
        except SealBroken:
            continue
    assert opened == []
    assert len(tampered) > len(envelope)


async def test_an_envelope_moved_to_another_record_or_tenant_refuses_to_open(sealer: PromptSealer) -> None:
    sealed = await sealer.seal(PROMPT, context="org:a/generation:1")

    for elsewhere in (
        "org:a/generation:2",
        "org:b/generation:1",
        "org:a/generation:1 ",
        "org:A/generation:1",
    ):
        with pytest.raises(SealBroken):
            await sealer.open(sealed.envelope, context=elsewhere)


async def test_an_envelope_from_another_installation_refuses_to_open(tmp_path: Path) -> None:
    ours = PromptSealer(LocalKeyRing(tmp_path / "ours"))
    theirs = PromptSealer(LocalKeyRing(tmp_path / "theirs"))
    sealed = await theirs.seal(PROMPT, context=CONTEXT)
    await ours.seal("anything", context=CONTEXT)  # both rings now have a KEK named local-0001

    with pytest.raises(SealBroken):
        await ours.open(sealed.envelope, context=CONTEXT)


async def test_an_envelope_naming_a_key_that_does_not_exist_refuses_to_open(sealer: PromptSealer) -> None:
    sealed = await sealer.seal(PROMPT, context=CONTEXT)
    invented = sealed.envelope.replace("local-0001", "local-0009", 1)

    with pytest.raises(SealBroken, match="local-0009"):
        await sealer.open(invented, context=CONTEXT)


async def test_rotation_keeps_old_prompts_readable_and_seals_new_ones_under_the_new_key(
    tmp_path: Path,
) -> None:
    operator = LocalKeyRing(tmp_path / "keys")
    running_server = PromptSealer(LocalKeyRing(tmp_path / "keys"))
    before = await running_server.seal(PROMPT, context=CONTEXT)

    rotated_to = await operator.rotate()
    after = await running_server.seal(PROMPT, context=CONTEXT)

    assert (before.key_id, rotated_to) == ("local-0001", "local-0002")
    assert after.key_id == rotated_to  # the running sealer follows the rotation at once
    assert await running_server.open(before.envelope, context=CONTEXT) == PROMPT
    assert await running_server.open(after.envelope, context=CONTEXT) == PROMPT
    restarted = PromptSealer(LocalKeyRing(tmp_path / "keys"))
    assert await restarted.open(before.envelope, context=CONTEXT) == PROMPT
    assert (await restarted.seal(PROMPT, context=CONTEXT)).key_id == "local-0002"


async def test_key_files_are_private_to_the_service_account(tmp_path: Path) -> None:
    ring = LocalKeyRing(tmp_path / "keys")
    await ring.active()
    await ring.rotate()

    files = sorted(path.name for path in ring.directory.iterdir())
    assert files == ["active", "local-0001.kek", "local-0002.kek"]
    for path in ring.directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    assert stat.S_IMODE(ring.directory.stat().st_mode) == 0o700
    assert len((ring.directory / "local-0001.kek").read_bytes()) == 32


async def test_sealers_starting_together_on_a_fresh_directory_share_one_key(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    sealers = [PromptSealer(LocalKeyRing(key_dir)) for _ in range(24)]

    sealed = await asyncio.gather(*(s.seal(f"{PROMPT} {i}", context=CONTEXT) for i, s in enumerate(sealers)))

    assert {s.key_id for s in sealed} == {"local-0001"}
    assert sorted(p.name for p in (key_dir / "prompt-keks").iterdir()) == ["active", "local-0001.kek"]
    for i, envelope in enumerate(sealed):
        opener = sealers[(i + 1) % len(sealers)]  # any instance opens what another sealed
        assert await opener.open(envelope.envelope, context=CONTEXT) == f"{PROMPT} {i}"


def test_processes_starting_together_on_a_fresh_directory_share_one_key(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    go = tmp_path / "go"
    script = (
        "import asyncio, pathlib, sys, time\n"
        "from donatello.sealing import LocalKeyRing\n"
        "go = pathlib.Path(sys.argv[2])\n"
        "while not go.exists(): time.sleep(0.001)\n"
        "kek = asyncio.run(LocalKeyRing(pathlib.Path(sys.argv[1])).active())\n"
        "print(kek.id, kek.material.hex())\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(key_dir), str(go)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    go.touch()
    outputs = {process.communicate(timeout=60)[0].strip() for process in processes}

    assert all(process.returncode == 0 for process in processes)
    assert len(outputs) == 1
    assert outputs.pop().startswith("local-0001 ")
    assert sorted(p.name for p in (key_dir / "prompt-keks").iterdir()) == ["active", "local-0001.kek"]


async def test_the_plaintext_never_reaches_the_logs(
    sealer: PromptSealer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "launch codes 0000-KOALA-PLAINTEXT"

    sealed = await sealer.seal(secret, context=CONTEXT)
    await sealer.open(sealed.envelope, context=CONTEXT)
    with pytest.raises(SealBroken) as refused:
        await sealer.open(sealed.envelope, context="org:other/generation:1")

    assert caplog.records  # sealing does log, just never the prompt
    logged = caplog.text + "".join(repr(record.__dict__) for record in caplog.records)
    assert "KOALA" not in logged
    assert "KOALA" not in str(refused.value) and "KOALA" not in repr(refused.value)
    kek = await sealer.keys.active()
    assert kek.material.hex() not in logged and "material" not in repr(kek)


async def test_looks_sealed_tells_an_envelope_from_a_prompt(sealer: PromptSealer) -> None:
    sealed = await sealer.seal(PROMPT, context=CONTEXT)

    assert looks_sealed(sealed.envelope)
    assert not looks_sealed(PROMPT)
    assert not looks_sealed("")
    assert not looks_sealed("sealed.v1.local-0001.not.base64!.x")
    assert not looks_sealed(sealed.envelope.rsplit(".", 1)[0])  # a field missing


async def test_the_key_provider_is_chosen_from_configuration(tmp_path: Path) -> None:
    local = sealer_from_settings(Settings(_env_file=None, data_dir=tmp_path))
    assert isinstance(local.keys, LocalKeyRing)
    assert local.keys.directory == tmp_path / "keys" / "prompt-keks"

    vault = sealer_from_settings(
        Settings(
            _env_file=None,
            data_dir=tmp_path,
            key_provider=KeyProvider.AZURE_KEY_VAULT,
            key_vault_url="https://donatello.vault.azure.net",
        )
    )
    assert isinstance(vault.keys, AzureKeyVaultKeyRing)  # built without calling Azure
    await vault.aclose()

    with pytest.raises(ValueError, match="KEY_VAULT_URL"):
        sealer_from_settings(
            Settings(_env_file=None, data_dir=tmp_path, key_provider=KeyProvider.AZURE_KEY_VAULT)
        )


def test_the_operator_rotates_the_prompt_key_from_the_command_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")}
    env["DONATELLO_DATA_DIR"] = str(tmp_path)
    sealer = PromptSealer(LocalKeyRing(tmp_path / "keys"))
    before = asyncio.run(sealer.seal(PROMPT, context=CONTEXT))
    donatello = str(Path(sys.executable).with_name("donatello"))

    result = subprocess.run(
        [donatello, "keys", "rotate-prompt-key"], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert "local-0002" in result.stdout
    after = asyncio.run(sealer.seal(PROMPT, context=CONTEXT))
    assert after.key_id == "local-0002"
    assert asyncio.run(sealer.open(before.envelope, context=CONTEXT)) == PROMPT

    env["DONATELLO_KEY_PROVIDER"] = "azure-key-vault"
    env["DONATELLO_KEY_VAULT_URL"] = "https://donatello.vault.azure.net"
    advice = subprocess.run(
        [donatello, "keys", "rotate-prompt-key"], env=env, capture_output=True, text=True, timeout=60
    )
    assert advice.returncode == 0
    assert "az keyvault secret set" in advice.stdout and "donatello-prompt-kek" in advice.stdout

"""The deployment lets the app's identity call Azure OpenAI keyless and read model keys from Key Vault.

Bicep cannot be compiled here (no Azure CLI), so the templates are read as text."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAIN = (ROOT / "infra" / "main.bicep").read_text()
ACCESS = (ROOT / "infra" / "modules" / "openai-access.bicep").read_text()
VAULT = (ROOT / "infra" / "modules" / "keyvault.bicep").read_text()
COGNITIVE_SERVICES_OPENAI_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


def test_the_identity_is_granted_cognitive_services_openai_user_on_the_referenced_resource_only() -> None:
    assert re.search(r"^param azureOpenAiResourceId string = ''$", MAIN, re.MULTILINE)
    module = MAIN[MAIN.index("module openAiAccess") :]
    assert module.startswith(
        "module openAiAccess 'modules/openai-access.bicep' = if (!empty(azureOpenAiResourceId))"
    )
    assert "principalId: identity.outputs.principalId" in module[: module.index("\n}\n")]
    assert f"var openAiUser = '{COGNITIVE_SERVICES_OPENAI_USER}'" in ACCESS
    assert "resource account 'Microsoft.CognitiveServices/accounts@" in ACCESS and "existing" in ACCESS
    assert re.search(r"scope: account\s+name: guid\(account\.id, principalId, openAiUser\)", ACCESS)
    assert "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', openAiUser)" in ACCESS


def test_the_identity_reads_secrets_of_the_deployment_s_vault() -> None:
    assert f"var secretsUser = '{KEY_VAULT_SECRETS_USER}'" in VAULT
    assert "principalId: identity.outputs.principalId" in MAIN[MAIN.index("module vault") :]


def test_the_provider_guide_walks_through_each_way_to_connect_azure_openai() -> None:
    guide = (ROOT / "docs" / "providers.md").read_text()
    section = guide[guide.index("## Connecting Azure OpenAI") :]
    section = section.split("\n## ", 1)[0]
    for needed in (
        '"kind": "key-vault"',
        '"kind": "managed-identity"',
        '"kind": "environment"',
        "Cognitive Services OpenAI User",
        "Key Vault Secrets User",
        'PUT "$DONATELLO/v1/providers/$MODEL_ID/config"',
        "provider.unavailable",
    ):
        assert needed in section, needed

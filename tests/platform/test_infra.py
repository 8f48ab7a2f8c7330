"""The deployment (infra/) and the application agree: Cosmos names, partition key, TTL and indexing as
`donatello audit init` provisions them; the blob lifecycle at the retention job's ages; every DONATELLO_*
variable the templates set is a setting the app reads; the image is multi-stage, slim and non-root.

Bicep cannot be compiled here (no Azure CLI), so the templates are read as text."""

from __future__ import annotations

import re
from pathlib import Path

from donatello.audit import cosmos
from donatello.config import Settings

INFRA = Path(__file__).resolve().parents[2] / "infra"
MAIN = (INFRA / "main.bicep").read_text()
COSMOS = (INFRA / "modules" / "cosmos.bicep").read_text()
STORAGE = (INFRA / "modules" / "storage.bicep").read_text()
APPS = (INFRA / "modules" / "containerapps.bicep").read_text()
DOCKERFILE = (INFRA / "Dockerfile").read_text()
ALL_BICEP = "\n".join(path.read_text() for path in sorted(INFRA.rglob("*.bicep")))


def _default(name: str) -> object:
    return Settings.model_fields[name].default


def _var(text: str, name: str) -> str:
    match = re.search(rf"^var {name} = '([^']*)'", text, re.MULTILINE)
    assert match, f"var {name} not found"
    return match.group(1)


def _param_default(text: str, name: str) -> str:
    match = re.search(rf"^param {name} \w+ = '?([^'\n]*)'?", text, re.MULTILINE)
    assert match, f"param {name} has no default"
    return match.group(1).strip()


def _paths(block: str) -> list[str]:
    return re.findall(r"\{ path: '([^']+)'", block)


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def test_cosmos_database_container_partition_key_ttl_and_indexing_match_the_app() -> None:
    assert _var(MAIN, "cosmosDatabase") == _default("cosmos_database") == "donatelloai-audit"
    assert _var(MAIN, "cosmosContainer") == _default("cosmos_container") == "audit_logs"
    assert _param_default(COSMOS, "databaseName") == _default("cosmos_database")
    assert _param_default(COSMOS, "containerName") == _default("cosmos_container")

    partition = re.search(r"partitionKey: \{\s*paths: \[\s*'([^']+)'\s*\]", COSMOS)
    assert partition and partition.group(1) == cosmos.PARTITION_KEY == "/user_id"
    ttl = re.search(r"defaultTtl: (\d+)", COSMOS)
    assert ttl and int(ttl.group(1)) == cosmos.DEFAULT_TTL_SECONDS == 220_896_000

    policy = cosmos.INDEXING_POLICY
    assert f"indexingMode: '{policy['indexingMode']}'" in COSMOS
    assert _paths(_section(COSMOS, "includedPaths", "excludedPaths")) == [
        item["path"] for item in policy["includedPaths"]
    ]
    assert _paths(_section(COSMOS, "excludedPaths", "compositeIndexes")) == [
        item["path"] for item in policy["excludedPaths"]
    ]
    composite = re.findall(r"\{ path: '([^']+)', order: '(\w+)' \}", COSMOS)
    assert composite == [(item["path"], item["order"]) for item in policy["compositeIndexes"][0]]


def test_blob_lifecycle_tiers_at_the_retention_jobs_ages() -> None:
    assert int(_param_default(MAIN, "retentionArchiveDays")) == _default("retention_archive_days") == 90
    assert int(_param_default(MAIN, "retentionColdDays")) == _default("retention_cold_days") == 365
    assert int(_param_default(STORAGE, "coolAfterDays")) == _default("retention_archive_days")
    assert int(_param_default(STORAGE, "archiveAfterDays")) == _default("retention_cold_days")
    assert re.search(r"tierToCool: \{\s*daysAfterModificationGreaterThan: coolAfterDays", STORAGE)
    assert re.search(r"tierToArchive: \{\s*daysAfterModificationGreaterThan: archiveAfterDays", STORAGE)
    assert "coolAfterDays: retentionArchiveDays" in MAIN and "archiveAfterDays: retentionColdDays" in MAIN
    assert _var(MAIN, "blobContainer") == _default("blob_container")
    # the job and the policy are told the same numbers
    assert "'DONATELLO_RETENTION_ARCHIVE_DAYS', value: string(retentionArchiveDays)" in MAIN
    assert "'DONATELLO_RETENTION_COLD_DAYS', value: string(retentionColdDays)" in MAIN


def test_every_donatello_variable_in_infra_is_a_setting() -> None:
    names = set(re.findall(r"\bDONATELLO_[A-Z0-9_]+", ALL_BICEP + DOCKERFILE))
    assert len(names) >= 15
    unknown = sorted(
        name for name in names if name.removeprefix("DONATELLO_").lower() not in Settings.model_fields
    )
    assert unknown == []
    # and the ones production cannot run without are set
    for needed in (
        "DONATELLO_DATABASE_URL",
        "DONATELLO_REDIS_URL",
        "DONATELLO_COSMOS_ENDPOINT",
        "DONATELLO_BLOB_CONNECTION_STRING",
        "DONATELLO_KEY_PROVIDER",
        "DONATELLO_KEY_VAULT_URL",
    ):
        assert needed in names
    assert "{ name: 'DONATELLO_KEY_PROVIDER', value: 'azure-key-vault' }" in MAIN


def test_the_identity_gets_exactly_the_roles_each_service_needs() -> None:
    cosmos_data_contributor = "00000000-0000-0000-0000-000000000002"
    blob_data_contributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    key_vault_secrets_user = "4633458b-17de-408a-b874-0445c86b69e6"
    assert f"var dataContributor = '{cosmos_data_contributor}'" in COSMOS
    assert "sqlRoleAssignments" in COSMOS
    assert f"'{blob_data_contributor}'" in STORAGE
    assert f"'{key_vault_secrets_user}'" in (INFRA / "modules" / "keyvault.bicep").read_text()
    openai_user = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"  # keyless model calls, on a referenced resource
    assert f"'{openai_user}'" in (INFRA / "modules" / "openai-access.bicep").read_text()
    assert ALL_BICEP.count("Microsoft.Authorization/roleAssignments@") == 3
    # both apps run as the user-assigned identity and as the right command
    assert APPS.count("identity: identity\n") >= 2 and "type: 'UserAssigned'" in APPS
    assert re.search(r"command: \[\s*'donatello'\s*'serve'\s*'--workers'\s*string\(apiWorkers\)\s*\]", APPS)
    assert re.search(r"command: \[\s*'donatello'\s*'worker'\s*\]", APPS)


def test_the_image_is_multi_stage_slim_and_non_root() -> None:
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", DOCKERFILE, re.MULTILINE)
    assert len(stages) >= 2
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", DOCKERFILE, re.MULTILINE)
    assert base and "slim" in base.group(1)
    users = re.findall(r"^USER (\S+)", DOCKERFILE, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert DOCKERFILE.rstrip().splitlines()[-1] == 'CMD ["donatello", "serve"]'
    assert "COPY --from=build /opt/venv /opt/venv" in DOCKERFILE
    assert "--constraint requirements.lock" in DOCKERFILE  # the locked versions, without the dev tools
    for needed in ("alembic.ini", "alembic", "src"):
        assert re.search(rf"^COPY .*\b{needed}\b", DOCKERFILE, re.MULTILINE)


def test_the_api_serves_with_one_process_per_vcpu_it_is_given() -> None:
    assert "'--workers'\n            string(apiWorkers)" in APPS
    assert "cpu: json(string(apiWorkers))" in APPS

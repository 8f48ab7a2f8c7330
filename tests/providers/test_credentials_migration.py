"""Key Vault references stored before credentials were typed keep working: migrated in place, and back."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from donatello.core import migrations

REVISION = "0022"
SECRET = "https://acme-kv.vault.azure.net/secrets/azure-openai-key"


@pytest.fixture
def scratch(postgres_url: str) -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, libpq host) of an empty database of its own."""
    url = make_url(postgres_url)
    host = url.query["host"]
    assert isinstance(host, str)
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS donatello_credentials")
        conn.execute("CREATE DATABASE donatello_credentials")
    yield url.set(database="donatello_credentials").render_as_string(hide_password=False), host
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS donatello_credentials WITH (FORCE)")


def _rows(host: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(host=host, user="postgres", dbname="donatello_credentials") as conn:
        return list(conn.execute(sql).fetchall())


def test_a_key_vault_reference_becomes_a_key_vault_credential_and_back(scratch: tuple[str, str]) -> None:
    url, host = scratch
    before = _previous_revision()
    migrations.upgrade(url, before)
    with psycopg.connect(host=host, user="postgres", dbname="donatello_credentials", autocommit=True) as conn:
        conn.execute(
            "INSERT INTO model_providers (id, provider_name, model_name, api_endpoint, cost_per_image_aud) VALUES "
            "('00000000-0000-4000-8000-000000000001', 'azure-openai', 'kv', 'https://a.example/', 0.08), "
            "('00000000-0000-4000-8000-000000000002', 'azure-openai', 'none', 'https://a.example/', 0.08)"
        )
        conn.execute(
            "INSERT INTO provider_configs (provider_id, api_key_vault_ref) VALUES "
            f"('00000000-0000-4000-8000-000000000001', '{SECRET}'), "
            "('00000000-0000-4000-8000-000000000002', NULL)"
        )

    migrations.upgrade(url, REVISION)
    assert _rows(host, "SELECT credential FROM provider_configs ORDER BY provider_id") == [
        ({"kind": "key-vault", "secret": SECRET},),
        (None,),
    ]
    assert _rows(host, "SELECT count(*) FROM model_providers WHERE unavailable_reason IS NULL") == [(2,)]

    migrations.downgrade(url, before)
    assert _rows(host, "SELECT api_key_vault_ref FROM provider_configs ORDER BY provider_id") == [
        (SECRET,),
        (None,),
    ]


def _previous_revision() -> str:
    script = ScriptDirectory.from_config(migrations.alembic_config())
    down = script.get_revision(REVISION).down_revision
    assert isinstance(down, str)
    return down

"""A database as it was before platform administrators had an organization of their own: a super admin
whose account sits in a tenant (Acme), with everything that acts as it there — an API key, a webhook, a
signed-in session, a preference, a SCIM group membership — beside the tenant's own org admin, and what
the tenant was charged for the super admin's work (a generation) and what its audit log recorded."""

from __future__ import annotations

import atexit
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import psycopg
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from donatello.core import migrations
from tests.support import workers

#: The revision that moves platform accounts out of tenants.
MOVE = "0025"


def _id(n: int) -> uuid.UUID:
    return uuid.UUID(f"00000000-0000-4000-8000-{n:012d}")


@dataclass(frozen=True)
class LegacyWorld:
    url: str
    host: str
    database: str
    tenant: ClassVar[uuid.UUID] = _id(1)
    department: ClassVar[uuid.UUID] = _id(2)
    org_admin: ClassVar[uuid.UUID] = _id(3)
    super_admin: ClassVar[uuid.UUID] = _id(4)
    api_key: ClassVar[uuid.UUID] = _id(5)
    webhook: ClassVar[uuid.UUID] = _id(6)
    session: ClassVar[uuid.UUID] = _id(7)
    preference: ClassVar[uuid.UUID] = _id(8)
    group: ClassVar[uuid.UUID] = _id(9)
    generation: ClassVar[uuid.UUID] = _id(10)
    admins_key: ClassVar[uuid.UUID] = _id(11)

    def rows(self, sql: str, **params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(host=self.host, user="postgres", dbname=self.database) as conn:
            return list(conn.execute(sql, params).fetchall())

    def one(self, sql: str, **params: object) -> object:
        (row,) = self.rows(sql, **params)
        (value,) = row
        return value


def before_move() -> str:
    script = ScriptDirectory.from_config(migrations.alembic_config())
    down = script.get_revision(MOVE).down_revision
    assert isinstance(down, str)
    return down


def legacy_database(postgres_url: str, name: str) -> Iterator[LegacyWorld]:
    """A database of its own at the revision before the move, holding the legacy world: a copy of a
    template this process migrated and seeded once (copying takes a tenth of migrating)."""
    url = make_url(postgres_url)
    host = url.query["host"]
    assert isinstance(host, str)
    template = _template(url.set(database="postgres").render_as_string(hide_password=False), host)
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    world = LegacyWorld(url.set(database=name).render_as_string(hide_password=False), host, name)
    yield world
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


_templates: dict[str, str] = {}


def _template(server_url: str, host: str) -> str:
    """The legacy world at the revision before the move, built once per process and server; dropped when
    the process ends (where the server outlives it)."""
    if (name := _templates.get(server_url)) is not None:
        return name
    name = f"donatello_legacy_template_{workers.name()}"
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    world = LegacyWorld(
        make_url(server_url).set(database=name).render_as_string(hide_password=False), host, name
    )
    migrations.upgrade(world.url, before_move())
    _seed(world)
    _templates[server_url] = name
    atexit.register(_drop, host, name)
    return name


def _drop(host: str, name: str) -> None:
    with (
        contextlib.suppress(psycopg.Error),  # the suite's own cluster is gone by now, and the copy with it
        psycopg.connect(
            host=host, user="postgres", dbname="postgres", autocommit=True, connect_timeout=2
        ) as conn,
    ):
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _seed(w: LegacyWorld) -> None:
    with psycopg.connect(host=w.host, user="postgres", dbname=w.database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO organizations (id, name, domain) VALUES (%s, 'Acme', 'acme.com.au')", (w.tenant,)
        )
        conn.execute(
            "INSERT INTO departments (id, organization_id, name, code) VALUES (%s, %s, 'Marketing', 'MKTG')",
            (w.department, w.tenant),
        )
        conn.execute(
            "INSERT INTO users (id, organization_id, department_id, email, role, azure_ad_id) VALUES "
            "(%s, %s, %s, 'org_admin@acme.com.au', 'org_admin', 'oid-org-admin'), "
            "(%s, %s, %s, 'super_admin@acme.com.au', 'super_admin', 'oid-set-by-the-tenant')",
            (w.org_admin, w.tenant, w.department, w.super_admin, w.tenant, w.department),
        )
        conn.execute(
            "INSERT INTO api_keys (id, organization_id, user_id, key_name, key_hash, key_prefix) VALUES "
            "(%s, %s, %s, 'platform automation', 'hash-of-the-platform-key', 'dk_plat'), "
            "(%s, %s, %s, 'acme automation', 'hash-of-the-acme-key', 'dk_acme')",
            (w.api_key, w.tenant, w.super_admin, w.admins_key, w.tenant, w.org_admin),
        )
        conn.execute(
            "INSERT INTO webhooks (id, organization_id, user_id, webhook_url, secret_hash) VALUES "
            "(%s, %s, %s, 'https://hooks.platform.example/events', 'hash-of-the-secret')",
            (w.webhook, w.tenant, w.super_admin),
        )
        conn.execute(
            "INSERT INTO user_sessions (id, organization_id, user_id, family_id, refresh_token_hash, expires_at) "
            "VALUES (%s, %s, %s, %s, 'hash-of-the-refresh-token', now() + interval '1 day')",
            (w.session, w.tenant, w.super_admin, w.session),
        )
        conn.execute(
            "INSERT INTO user_preferences (id, organization_id, user_id, preference_key, preference_value) "
            "VALUES (%s, %s, %s, 'theme', '\"dark\"')",
            (w.preference, w.tenant, w.super_admin),
        )
        conn.execute(
            "INSERT INTO scim_groups (id, organization_id, display_name) VALUES (%s, %s, 'Acme admins')",
            (w.group, w.tenant),
        )
        conn.execute(
            "INSERT INTO scim_group_members (group_id, user_id, organization_id) VALUES (%s, %s, %s)",
            (w.group, w.super_admin, w.tenant),
        )
        conn.execute(
            "INSERT INTO generations (id, organization_id, user_id, department_id, model_provider, model_name, "
            "prompt_encrypted) VALUES (%s, %s, %s, %s, 'local', 'local-png', 'sealed')",
            (w.generation, w.tenant, w.super_admin, w.department),
        )

"""schemathesis walks the SCIM surface with an organization's provisioning token against a live server (its
own committed database), with valid and invalid data, and finds no server error and no answer outside
SCIM's media type. The app's OpenAPI document describes SCIM bodies only as JSON objects, so the walk uses
the SCIM description in ``tests/support/scim_openapi.py`` (real User, Group, PatchOp and SearchRequest
shapes, with the ids of a stored user and group offered for the resource paths)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import content_type_conformance
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.audit import Actor
from donatello.config import Settings
from donatello.core.database import create_engine
from donatello.main import create_app
from donatello.models import ScimGroup
from donatello.provisioning import service as provisioning
from tests.support import factories, scim_openapi
from tests.support.fuzzing import Tally, fuzz_database  # noqa: F401  (the module-scoped database)
from tests.support.live_server import LiveServer

EXAMPLES = 25  # per operation and generation mode
CHECKS = [not_a_server_error, content_type_conformance]


@dataclass
class Tenant:
    headers: dict[str, str]
    user_ids: list[str]
    group_ids: list[str]
    domain: str


@pytest.fixture(scope="module")
async def tenant(fuzz_database: str) -> AsyncIterator[Tenant]:  # noqa: F811
    engine = create_engine(fuzz_database, app_role=None)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as db:
            org = await factories.organization(db)
            await factories.department(db, org, code="MKTG")
            member = await factories.user(db, org)
            root = await factories.user(db, org, role="super_admin")  # out of the token's reach
            group = ScimGroup(organization_id=org.id, display_name="Staff", external_id=str(uuid.uuid4()))
            db.add(group)
            await db.flush()
            token = (await provisioning.issue(db, org.id, Actor(None, None, {"actor": "test"}))).token
            await db.commit()
        yield Tenant(
            headers={"Authorization": f"Bearer {token}"},
            user_ids=[str(member.id), str(root.id)],
            group_ids=[str(group.id)],
            domain=org.domain,
        )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def server(fuzz_database: str, settings: Settings) -> Iterator[LiveServer]:  # noqa: F811
    app = create_app(settings.model_copy(update={"database_url": fuzz_database, "in_process_worker": False}))
    with LiveServer(app) as live:
        yield live


def _run(
    operation: APIOperation[Any, Any, Any, Any],
    strategy: SearchStrategy[Case[Any]],
    label: str,
    base_url: str,
    tenant: Tenant,
    tally: Tally,
    examples: int,
) -> None:
    http = requests.Session()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def one(case: Case[Any]) -> None:
        response = case.call(base_url=base_url, session=http, headers=tenant.headers)
        tally.requests += 1
        tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=tenant.headers)
        except (Exception, FailureGroup) as failure:
            summary = str(failure).strip().splitlines()[0][:200]
            key = f"{operation.label} [{label}] {type(failure).__name__}: {summary}"
            curl = case.as_curl_command(headers=tenant.headers)
            tally.failures.setdefault(key, f"{curl}\n{failure}"[:3000])

    try:
        one()
    except Unsatisfiable:
        pass
    finally:
        http.close()


def test_schemathesis_finds_no_server_error_on_the_scim_surface(
    server: LiveServer, tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = schemathesis.openapi.from_dict(
        scim_openapi.document(tenant.user_ids, tenant.group_ids, tenant.domain)
    )
    base_url = f"{server.url}/scim/v2"
    tally = Tally()
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # an operation the description gives in a way schemathesis cannot read
        operation = result.ok()
        tally.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)
            _run(operation, strategy, mode.value, base_url, tenant, tally, EXAMPLES)
        # The description's own examples: every kept attribute overrun, or holding NUL, a lone surrogate...
        for explicit in operation.get_strategies_from_examples():
            _run(operation, explicit, "example", base_url, tenant, tally, 1)

    with capsys.disabled():
        sys.stdout.write(
            f"\nschemathesis on /scim/v2: {tally.operations} operations, {tally.requests} requests, "
            f"{len(tally.failures)} failures; answers {dict(sorted(tally.statuses.items()))}\n"
        )
    assert tally.operations == 20
    assert tally.failures == {}, "\n\n".join(f"{key}\n{detail}" for key, detail in tally.failures.items())

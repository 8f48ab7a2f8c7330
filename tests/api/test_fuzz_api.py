"""schemathesis walks every operation of our OpenAPI document against a live server (uvicorn on a loopback
port, its own committed database), as a standard user and as an org admin, with valid and invalid data.

Checks: no server error; status code, content type, headers and body as documented; operations that
require authentication refuse a request without it (``ignored_auth``). Bounded by ``EXAMPLES`` per
operation and mode so the run stays at a couple of minutes on two cores; the figures it prints (operations,
requests, failures) are the ones to quote.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import token_signer
from donatello.config import Settings
from donatello.core.database import create_engine
from donatello.main import create_app
from tests.support import factories, provider_rows
from tests.support.fuzzing import Tally, fuzz_database  # noqa: F401  (the module-scoped database)
from tests.support.live_server import LiveServer

EXAMPLES = 10  # per operation and generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]


@dataclass
class Tenants:
    standard_user: dict[str, str]
    org_admin: dict[str, str]


@pytest.fixture(scope="module")
async def tenants(fuzz_database: str, settings: Settings) -> AsyncIterator[Tenants]:  # noqa: F811
    """Two organizations (so the admin cannot lock the user out): a standard user of a budgeted
    department with a model to generate with, and an org admin of another."""
    engine = create_engine(fuzz_database, app_role=None)
    signer = token_signer(settings)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as db:
            await provider_rows.model(db, "local", name="pillow-fuzz", price="0.0500")
            staff_org = await factories.organization(db)
            staff_dept = await factories.department(db, staff_org, code="MKTG")
            await factories.budget(db, staff_dept, monthly_aud="1000.00", mode="hard")
            user = await factories.user(db, staff_org, role="standard_user", department=staff_dept)
            admin_org = await factories.organization(db)
            admin_dept = await factories.department(db, admin_org, code="ENGG")
            await factories.budget(db, admin_dept, monthly_aud="1000.00", mode="soft")
            admin = await factories.user(db, admin_org, role="org_admin", department=admin_dept)
            await db.commit()
        yield Tenants(
            standard_user={"Authorization": f"Bearer {signer.issue(user.id, staff_org.id)}"},
            org_admin={"Authorization": f"Bearer {signer.issue(admin.id, admin_org.id)}"},
        )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def server(fuzz_database: str, settings: Settings) -> Iterator[LiveServer]:  # noqa: F811
    app = create_app(settings.model_copy(update={"database_url": fuzz_database, "in_process_worker": False}))

    async def public_address(host: str, port: int) -> list[str]:  # no DNS here; any name is public
        return ["93.184.215.14"]

    app.state.webhook_resolver = public_address
    with LiveServer(app) as live:
        yield live


def fuzz(server: LiveServer, headers: dict[str, str]) -> Tally:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    tally = Tally()
    with requests.Session() as http:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()  # an operation the schema describes in a way schemathesis cannot read
            operation = result.ok()
            tally.operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _run(operation, mode, server.url, headers, http, tally)
    return tally


def _run(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    headers: dict[str, str],
    http: requests.Session,
    tally: Tally,
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case: Any) -> None:
        response = case.call(base_url=base_url, session=http, headers=headers)
        tally.requests += 1
        tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, FailureGroup) as failure:  # collect every kind of failure, keep exploring
            summary = str(failure).strip().splitlines()[0][:200]
            key = f"{operation.label} [{mode.value}] {type(failure).__name__}: {summary}"
            tally.failures.setdefault(key, f"{case.as_curl_command(headers=headers)}\n{failure}"[:3000])

    try:
        one()
    except Unsatisfiable:
        pass  # nothing to generate in this mode (e.g. no parameter to make invalid)
    except Exception as error:
        tally.failures.setdefault(f"{operation.label} [{mode.value}] could not run", repr(error)[:2000])


@pytest.mark.parametrize("role", ["standard_user", "org_admin"])
def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    server: LiveServer, tenants: Tenants, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tally = fuzz(server, getattr(tenants, role))

    with capsys.disabled():  # the figures to quote, shown in every run
        sys.stdout.write(
            f"\nschemathesis as {role}: {tally.operations} operations, {tally.requests} requests, "
            f"{len(tally.failures)} failures; answers {dict(sorted(tally.statuses.items()))}\n"
        )
    assert tally.operations >= 60
    assert tally.failures == {}, "\n\n".join(f"{key}\n{detail}" for key, detail in tally.failures.items())

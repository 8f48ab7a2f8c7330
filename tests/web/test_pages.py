"""The rules of the browser edge, fast (ASGI client, each test in a rolled-back transaction): local
sign-in and where it is refused, cookie flags over https, CSRF and Origin, idle and absolute lifetimes,
and errors in plain words. The browser stories (test_browser_stories.py) walk through them for real."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from donatello import demo
from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.main import create_app
from donatello.models import AuditOutbox, User, UserSession
from donatello.web.security import LocalSignInRefused
from tests.support import provider_rows
from tests.support.generation_world import World, world
from tests.support.savepoints import sessions_in

ORIGIN = "http://127.0.0.1:8000"


def _local(settings: Settings, **changes: Any) -> Settings:
    """The embedded default's shape: no Entra ID, bound to loopback."""
    return settings.model_copy(
        update={
            "entra_tenant_id": None,
            "entra_client_id": None,
            "entra_client_secret": None,
            "host": "127.0.0.1",
            **changes,
        }
    )


@pytest.fixture(scope="module")
async def local_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    app = create_app(
        _local(settings, rate_limit_user_per_minute={"power_user": 4, "standard_user": 4}), engine=engine
    )
    async with app.router.lifespan_context(app):
        yield app


async def _client(app: FastAPI, db: AsyncSession, base_url: str = ORIGIN) -> httpx.AsyncClient:
    app.state.sessionmaker = sessions_in(await db.connection())
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url=base_url,
        follow_redirects=False,
    )


@pytest.fixture
async def browser(local_app: FastAPI, db: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(local_app, db) as http:
        yield http


async def _sign_in(http: httpx.AsyncClient, user: User) -> str:
    """Local sign-in as ``user``; returns the CSRF token of the page it lands on."""
    signed = await http.post(
        "/sign-in/local", data={"user_id": str(user.id), "next": "/usage"}, headers={"Origin": ORIGIN}
    )
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == "/usage"
    landed = await http.get("/usage")
    match = re.search(r'name="csrf_token" value="([^"]+)"', landed.text)
    assert match, landed.text
    return match.group(1)


async def test_local_sign_in_lists_users_labelled_local_and_is_audited(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant: World = await world(db, tokens)
    page = await browser.get("/sign-in?next=/gallery")
    assert page.status_code == 200
    assert "Local sign-in." in page.text and "recorded in the audit log" in page.text

    await _sign_in(browser, tenant.member)
    events = (
        (
            await db.execute(
                select(AuditOutbox.payload).where(
                    AuditOutbox.organization_id == tenant.org.id, AuditOutbox.event_type == "auth.signed_in"
                )
            )
        )
        .scalars()
        .all()
    )
    assert [e["metadata"]["method"] for e in events] == ["local"]


def test_local_sign_in_refuses_to_start_with_entra_configured_or_off_loopback(settings: Settings) -> None:
    with pytest.raises(LocalSignInRefused, match="not loopback"):
        create_app(_local(settings, host="0.0.0.0", web_local_sign_in=True))
    with pytest.raises(LocalSignInRefused, match="Entra ID is configured"):
        create_app(settings.model_copy(update={"host": "127.0.0.1", "web_local_sign_in": True}))


async def test_off_loopback_without_entra_offers_no_sign_in_at_all(
    settings: Settings, engine: AsyncEngine, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant = await world(db, tokens)
    app = create_app(_local(settings, host="0.0.0.0"), engine=engine)
    async with app.router.lifespan_context(app), await _client(app, db) as http:
        page = await http.get("/sign-in")
        assert page.status_code == 503
        assert "Sign-in is not configured" in page.text
        refused = await http.post(
            "/sign-in/local", data={"user_id": str(tenant.member.id)}, headers={"Origin": ORIGIN}
        )
        assert refused.status_code == 401
        assert "set-cookie" not in refused.headers


async def test_over_https_the_cookie_is_secure_host_only_and_hsts_is_sent(
    settings: Settings, engine: AsyncEngine, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant = await world(db, tokens)
    public = "https://127.0.0.1:8443"  # e.g. a TLS proxy on the same machine
    app = create_app(_local(settings, public_base_url=public), engine=engine)
    async with app.router.lifespan_context(app), await _client(app, db, public) as http:
        signed = await http.post(
            "/sign-in/local", data={"user_id": str(tenant.member.id)}, headers={"Origin": public}
        )
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith("__Host-donatello_session=dnw_")
        assert "; HttpOnly" in cookie and "; Secure" in cookie and "; Path=/" in cookie
        assert "samesite=lax" in cookie.lower()
        assert signed.headers["strict-transport-security"].startswith("max-age=")


def _forged(token: str) -> str:
    """The token with its first character changed (always to another one, so never the real token)."""
    return ("y" if token[0] == "x" else "x") + token[1:]


async def test_a_post_without_the_session_csrf_token_or_from_another_origin_is_refused(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant = await world(db, tokens)
    csrf = await _sign_in(browser, tenant.member)
    form = {"prompt": "a red kite", "model": f"local/{tenant.local.model_name}", "size": "256x256"}

    for headers, data in (
        ({"Origin": ORIGIN}, form),  # no token
        ({"Origin": ORIGIN}, {**form, "csrf_token": _forged(csrf)}),  # another session's / forged
        ({"Origin": "http://attacker.test"}, {**form, "csrf_token": csrf}),  # right token, wrong site
        ({}, {**form, "csrf_token": csrf}),  # neither Origin nor Referer
    ):
        refused = await browser.post("/generate", data=data, headers=headers)
        assert refused.status_code == 403, (headers, refused.headers, refused.text[:300])
        assert refused.headers["content-type"].startswith("text/html")
        assert "Not allowed" in refused.text

    accepted = await browser.post("/generate", data={**form, "csrf_token": csrf}, headers={"Origin": ORIGIN})
    assert accepted.status_code == 303
    assert accepted.headers["location"].startswith("/?generation=")


async def test_a_session_ends_after_its_idle_time_and_after_its_absolute_lifetime(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant = await world(db, tokens)
    for column in ("last_used_at", "expires_at"):
        await _sign_in(browser, tenant.member)
        assert (await browser.get("/usage")).status_code == 200
        moment = utcnow() - (timedelta(hours=2) if column == "last_used_at" else timedelta(seconds=1))
        await db.execute(
            update(UserSession)
            .where(UserSession.user_id == tenant.member.id, UserSession.revoked.is_(False))
            .values({column: moment})
        )
        ended = await browser.get("/usage")
        assert ended.status_code == 303, column
        assert ended.headers["location"] == "/sign-in?next=/usage"


async def test_a_hard_budget_refusal_says_what_is_left_and_what_was_needed(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant = await world(db, tokens, budget="0.12")  # the model costs 0.05 an image
    csrf = await _sign_in(browser, tenant.member)
    refused = await browser.post(
        "/generate",
        data={
            "prompt": "four kites",
            "model": f"local/{tenant.local.model_name}",
            "n": "4",
            "csrf_token": csrf,
        },
        headers={"Origin": ORIGIN},
    )
    assert refused.status_code == 402
    assert "Not enough budget left" in refused.text
    assert f"{tenant.department.code} has A$0.12 left this month; this request needs A$0.20." in refused.text
    assert 'value="four kites"' not in refused.text  # textarea: the prompt is kept as its content
    assert ">four kites</textarea>" in refused.text


async def test_a_rate_limit_says_when_to_retry(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant = await world(db, tokens)
    csrf = await _sign_in(browser, tenant.member)
    form = {"prompt": "kites", "model": f"local/{tenant.local.model_name}", "n": "4", "csrf_token": csrf}
    assert (await browser.post("/generate", data=form, headers={"Origin": ORIGIN})).status_code == 303
    limited = await browser.post("/generate", data={**form, "n": "1"}, headers={"Origin": ORIGIN})
    assert limited.status_code == 429
    assert "Too many images for now" in limited.text
    assert re.search(r"Try again in \d+ seconds? \(after \d\d:\d\d:\d\d UTC\)", limited.text)


async def test_mfa_required_says_how_to_fix_it(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant = await world(db, tokens)
    csrf = await _sign_in(browser, tenant.member)
    in_grace = await browser.get("/generate")
    assert "Multi-factor authentication is required" not in in_grace.text
    await db.execute(
        update(User)
        .where(User.id == tenant.member.id)
        .values(mfa_enabled=False, mfa_grace_period_expires_at=utcnow() - timedelta(days=1))
    )
    refused = await browser.post(
        "/generate",
        data={"prompt": "kites", "model": f"local/{tenant.local.model_name}", "csrf_token": csrf},
        headers={"Origin": ORIGIN},
    )
    assert refused.status_code == 403
    assert "Multi-factor authentication is required" in refused.text
    assert "then sign out and sign in again" in refused.text
    # the form says so before anything is typed, and still lets the person read their page
    form = await browser.get("/generate")
    assert form.status_code == 200
    assert "Multi-factor authentication is required" in form.text
    assert "then sign out and sign in again" in form.text


async def test_unknown_pages_are_readable_and_the_api_keeps_problem_json(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/no/such/page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text
    api = await browser.get("/v1/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
    assert "content-security-policy" not in api.headers  # the page CSP is for pages


async def test_the_cookie_is_not_a_refresh_token(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant = await world(db, tokens)
    await _sign_in(browser, tenant.member)
    cookie = browser.cookies["donatello_session"]
    refreshed = await browser.post("/v1/auth/refresh", json={"refresh_token": cookie})
    assert refreshed.status_code == 401


async def test_a_standard_user_is_offered_no_hd_and_the_department_sees_its_budget(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant = await world(db, tokens, role="standard_user", budget="25.00")
    await _sign_in(browser, tenant.member)
    page = (await browser.get("/")).text
    assert '<option value="hd"' not in page and '<option value="high"' not in page
    assert "HD and High are for power users." in page
    assert f"local/{tenant.local.model_name} — A$0.05 per image" in page
    assert 'has</span> <strong class="amount">A$25.00</strong>' in page


async def test_local_sign_in_answers_only_to_a_loopback_host_name(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    """DNS rebinding: attacker.test re-pointed at 127.0.0.1 is same-origin with itself, not with us."""
    tenant = await world(db, tokens)
    rebound = {"Host": "attacker.test:8000", "Origin": "http://attacker.test:8000"}
    assert (await browser.get("/sign-in", headers={"Host": "attacker.test:8000"})).status_code == 403
    refused = await browser.post("/sign-in/local", data={"user_id": str(tenant.member.id)}, headers=rebound)
    assert refused.status_code == 403
    assert "set-cookie" not in refused.headers


async def test_someone_who_may_not_generate_is_refused_even_with_a_valid_form(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant = await world(db, tokens, role="finance")
    await _sign_in(browser, tenant.member)
    home = await browser.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/reports"  # their budgets
    usage = await browser.get("/usage")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', usage.text)
    assert csrf
    refused = await browser.post(
        "/generate",
        data={"prompt": "kites", "model": f"local/{tenant.local.model_name}", "csrf_token": csrf.group(1)},
        headers={"Origin": ORIGIN},
    )
    assert refused.status_code == 403
    assert "can generate images" in refused.text  # who may, in words
    assert "generations:create" not in refused.text


async def test_cancel_then_delete_from_the_detail_page(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant = await world(db, tokens)
    csrf = await _sign_in(browser, tenant.member)
    sent = await browser.post(
        "/generate",
        data={"prompt": "a slow kite", "model": f"local/{tenant.local.model_name}", "csrf_token": csrf},
        headers={"Origin": ORIGIN},
    )
    generation_id = sent.headers["location"].split("generation=")[1].split("#")[0]
    detail = await browser.get(f"/gallery/{generation_id}")
    # no worker here: the generation waits, first in line
    assert "1st in line" in detail.text and "Cancel generation" in detail.text

    cancelled = await browser.post(
        f"/gallery/{generation_id}/cancel", data={"csrf_token": csrf}, headers={"Origin": ORIGIN}
    )
    assert cancelled.status_code == 303
    after = await browser.get(f"/gallery/{generation_id}")
    assert "Cancelled. Nothing was charged." in after.text and "Cancel generation" not in after.text

    deleted = await browser.post(
        f"/gallery/{generation_id}/delete", data={"csrf_token": csrf}, headers={"Origin": ORIGIN}
    )
    assert deleted.status_code == 303 and deleted.headers["location"] == "/gallery"
    assert (await browser.get(f"/gallery/{generation_id}")).status_code == 404
    assert "No generations" in (await browser.get("/gallery")).text


async def test_each_model_carries_what_it_offers_and_a_size_it_does_not_is_a_readable_form_error(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant = await world(db, tokens)
    square = await provider_rows.model(
        db, "local", name=f"square-{tenant.org.id.hex[:6]}", configuration={"sizes": ["1024x1024"]}
    )
    csrf = await _sign_in(browser, tenant.member)

    form = (await browser.get("/")).text
    refused = await browser.post(
        "/generate",
        data={
            "prompt": "a wide harbour",
            "model": f"local/{square.model_name}",
            "size": "1536x1024",
            "quality": "high",
            "csrf_token": csrf,
        },
        headers={"Origin": ORIGIN},
    )

    # the script narrows the lists from these; without it every size is listed and the server decides
    assert re.search(
        rf'value="local/{square.model_name}" data-sizes="1024x1024" data-qualities="[a-z ]+"', form
    )
    assert re.search(r'value="auto" data-sizes="[^"]*1536x1024[^"]*"', form)
    assert '<option value="1536x1024">1536 \u00d7 1024</option>' in form
    assert '<option value="low">Low</option>' in form and '<option value="hd">HD</option>' in form
    assert refused.status_code == 422
    assert "That model does not offer this size" in refused.text
    assert f"local/{square.model_name} offers size 1024 \u00d7 1024." in refused.text
    assert ">a wide harbour</textarea>" in refused.text  # the prompt is kept to try again


async def test_a_model_seeded_without_its_credential_reads_not_configured(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant = await world(db, tokens, role="org_admin")
    waiting = await provider_rows.model(
        db, "azure-openai", configuration={"family": "gpt-image"}, credential=None
    )
    await _sign_in(browser, tenant.member)

    page = (await browser.get("/models")).text

    row = re.search(rf'<tr data-model="azure-openai/{waiting.model_name}">.*?</tr>', page, re.S)
    assert row and 'data-testid="state">not configured</td>' in row.group(0)
    running = re.search(rf'<tr data-model="local/{tenant.local.model_name}">.*?</tr>', page, re.S)
    assert running and 'data-testid="state">running</td>' in running.group(0)


async def test_the_demo_s_gpt_image_models_read_not_configured_and_priced_by_tokens(
    browser: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    tenant = await world(db, tokens, role="org_admin")
    await demo.seed_in(db, "Australia/Sydney")
    await _sign_in(browser, tenant.member)

    page = (await browser.get("/models")).text

    for name, prices in (
        ("gpt-image-1-mini", "output image US$8.00, input text US$2.00, input image US$2.50"),
        ("gpt-image-1.5", "output image US$32.00, input text US$5.00, input image US$8.00"),
        ("gpt-image-2", "output image US$30.00, input text US$5.00, input image US$8.00"),
    ):
        row = re.search(rf'<tr data-model="azure-openai/{re.escape(name)}">.*?</tr>', page, re.S)
        assert row, name
        assert 'data-testid="state">not configured</td>' in row.group(0)
        assert f'by tokens <span class="detail">(per million tokens: {prices})</span>' in row.group(0)

"""Webhook targets in special-purpose or deprecated ranges that Python's ``ipaddress`` calls global — IPv6
site-local ``fec0::/10``, the documentation prefix ``3fff::/20``, anycast service blocks, the deprecated
6to4 relay — are refused at registration, typed as an address or reached through a name; the ranges are
the IANA special-purpose registries' (listed with their sources in ``webhooks.targets``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.webhooks.targets import SPECIAL_PURPOSE, refusal
from tests.support import factories
from tests.support.signin import bearer_for

#: One address in each range, as an attacker would type it (IPv6 in brackets).
ATTACKS = [
    "[fec0::1]",
    "[fef0::1]",
    "[feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]",
    "[3fff::1]",
    "[3ffe::1]",
    "[2620:4f:8000::1]",
    "[2001:db8::1]",
    "[2001::1]",
    "[5f00::1]",
    "[64:ff9b:1::1]",
    "[100::1]",
    "[100:0:0:1::1]",
    "192.0.0.8",
    "192.0.0.9",
    "192.0.0.10",
    "192.31.196.1",
    "192.52.193.1",
    "192.88.99.1",
    "192.175.48.1",
]


@pytest.fixture
def dns(app: FastAPI) -> Iterator[dict[str, list[str]]]:
    names: dict[str, list[str]] = {}

    async def resolve(host: str, port: int) -> list[str]:
        if host not in names:
            raise OSError(host)
        return names[host]

    app.state.webhook_resolver = resolve
    yield names
    app.state.webhook_resolver = None


@pytest.mark.parametrize("host", ATTACKS)
async def test_a_special_purpose_address_is_refused_at_registration(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, dns: dict[str, list[str]], host: str
) -> None:
    dns["sneaky.example.com"] = [host.strip("[]")]
    org = await factories.organization(db)
    member = await factories.user(db, org, role="power_user")
    for url in (f"https://{host}/hook", "https://sneaky.example.com/hook"):
        refused = await client.post(
            "/v1/webhooks",
            json={"webhook_url": url, "event_types": ["generation.completed"]},
            headers=bearer_for(tokens, member),
        )
        assert refused.status_code == 422, (url, refused.text)
        assert refused.json()["type"].endswith("/webhook-target-not-allowed")


@pytest.mark.parametrize("block", list(SPECIAL_PURPOSE))
def test_every_listed_range_is_refused_from_its_first_to_its_last_address(block: str) -> None:
    network = ipaddress.ip_network(block)
    for address in (network[0], network[1], network[-1]):
        assert refusal(address) is not None, address


def test_public_addresses_next_to_the_ranges_are_still_allowed() -> None:
    for text in ("192.0.1.1", "192.88.100.1", "2606:4700::1111", "2620:4f:8001::1", "3ffd::1", "2001:200::1"):
        assert refusal(ipaddress.ip_address(text)) is None, text

"""Organizations: the tenants."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, created_at, jsonb_object, updated_at, uuid_pk

#: The seed's ``^[a-zA-Z0-9][a-zA-Z0-9-]{1,61}[a-zA-Z0-9]\.[a-zA-Z]{2,}$`` allows exactly one dot, so it
#: rejects the seed's own sample ``acme.com.au`` (and any one- or two-character first label). This one
#: accepts one or more labels of 1-63 characters (letters, digits, inner hyphens) followed by a
#: top-level label that starts with a letter (so IP addresses are rejected, ``xn--`` IDN TLDs are
#: accepted). Lower case only: domains are case-insensitive and the application stores them lowercased,
#: which is what keeps the unique index ``idx_organizations_domain`` meaningful.
DOMAIN_REGEX = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])$"


class Organization(Base):
    """Top-level tenant organization.

    Deviations from the seed:

    * ``azure_tenant_id`` (added): the Entra ID tenant id, so a sign-in token's ``tid`` maps to exactly
      one organization; the e-mail domain alone cannot do that safely.
    * the domain CHECK is corrected (see ``DOMAIN_REGEX``): the seed's regex rejects multi-label domains
      such as ``acme.com.au``.
    * ``email_domains`` (added): the e-mail domains the organization owns besides ``domain`` (as Entra's
      verified domains), set by the platform administrator. People are created (SCIM, the admin API, the
      first sign-in) only at ``domain`` or one of these; no domain belongs to two active organizations
      (the organizations service checks it under a transaction-scoped advisory lock).
    * ``is_platform`` (added): the organization that holds the platform's administrators. Only its
      members hold a platform role through Entra sign-in; a tenant's directory never binds one.
    * ``is_active`` is NOT NULL (the seed defaults it but allows NULL, which would be neither active nor
      inactive and would escape the partial unique index on ``domain``).
    """

    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255))
    domain: Mapped[str] = mapped_column(String(255), comment="Primary e-mail domain, lower case")
    azure_tenant_id: Mapped[str | None] = mapped_column(
        String(64),
        unique=True,
        comment="Microsoft Entra ID tenant id (the token's tid claim) that maps sign-ins to this tenant",
    )
    email_domains: Mapped[list[str]] = mapped_column(
        ARRAY(String(255)),
        server_default=text("'{}'::varchar[]"),
        comment="E-mail domains owned besides the primary one (lower case), as Entra's verified domains",
    )
    is_platform: Mapped[bool] = mapped_column(
        server_default=text("false"),
        comment="Holds the platform administrators (super_admin), outside every tenant",
    )
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    settings: Mapped[dict[str, Any]] = jsonb_object(
        "JSON configuration: {theme, timezone, locale, features_enabled}; timezone (IANA name, "
        "default Australia/Sydney when absent) is read by the application for budget periods and reports"
    )

    __table_args__ = (
        CheckConstraint(f"domain ~ '{DOMAIN_REGEX}'", name="domain"),
        Index(
            "idx_organizations_domain",
            "domain",
            unique=True,
            postgresql_where=text("is_active = true"),
        ),
        Index("idx_organizations_created_at", created_at.desc()),
        Index("uq_organizations_platform", "is_platform", unique=True, postgresql_where=text("is_platform")),
        {"comment": "Top-level tenant organizations"},
    )


__all__ = ["DOMAIN_REGEX", "Organization"]

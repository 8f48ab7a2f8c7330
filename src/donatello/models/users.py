"""Users, their sessions (refresh tokens) and their preferences."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    or_,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import (
    Base,
    created_at,
    jsonb_object,
    organization_fk,
    tenant_table,
    updated_at,
    uuid_pk,
)

#: The seed's five roles plus ``finance`` (read-only cost reports and exports across its organization).
USER_ROLES: tuple[str, ...] = (
    "super_admin",
    "org_admin",
    "dept_manager",
    "power_user",
    "standard_user",
    "finance",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class User(Base):
    """User account with role-based access control.

    Deviations from the seed:

    * role CHECK also allows ``finance`` (read-only cost reports and exports across its organization).
    * ``is_active`` / ``mfa_enabled`` are NOT NULL (seed: nullable with defaults); a NULL flag would be
      neither granted nor denied, and ``is_active IS NULL`` escapes ``WHERE is_active = true`` filters.
    * ``settings`` is NOT NULL (default ``{}``).
    * ``azure_ad_id`` and ``email`` are unique within their organization among accounts that are not
      deleted (the seed: plain UNIQUE, platform-wide — which let one tenant take another's addresses and
      learn which exist). A SCIM DELETE keeps the row (its ledger, generations and audit trail point at
      it; cost events cannot be deleted) and sets ``deleted_at``, so the same person can be provisioned
      again as a new account that inherits nothing. ``azure_ad_id`` is NULL for an account an org admin
      or SCIM created before its first sign-in (the sign-in claims it by e-mail). The seed's extra plain
      indexes on them are kept by name.
    * ``scim_profile``: what the identity provider said that the product does not act on (name parts,
      e-mail addresses, the enterprise extension's attributes as sent), returned unchanged on ``/scim/v2``.
    * ``cost_center``: the enterprise extension's ``costCenter`` (chargeback), frozen on each cost event.
    """

    __tablename__ = tenant_table("users")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk(index=False)  # idx_users_organization_id
    department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    azure_ad_id: Mapped[str | None] = mapped_column(
        String(255), comment="Azure AD Object ID for SSO integration (NULL until the first sign-in)"
    )
    email: Mapped[str] = mapped_column(String(255), comment="Sign-in e-mail (SCIM userName)")
    display_name: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(
        String(50),
        comment=f"RBAC role: {', '.join(USER_ROLES)}; finance = read-only cost reports/exports (org-wide)",
    )
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    mfa_enabled: Mapped[bool] = mapped_column(server_default=text("false"))
    mfa_grace_period_expires_at: Mapped[datetime | None] = mapped_column(
        comment="Deadline for MFA setup (7 days from account creation)"
    )
    last_login_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    settings: Mapped[dict[str, Any]] = jsonb_object(
        "JSON: {notifications_enabled, preferred_model, auto_download}"
    )
    scim_profile: Mapped[dict[str, Any]] = jsonb_object(
        "SCIM attributes kept as sent: {name, emails, department}"
    )
    cost_center: Mapped[str | None] = mapped_column(String(100), comment="Cost centre (directory)")
    deleted_at: Mapped[datetime | None] = mapped_column(
        comment="Deleted by provisioning: kept for the ledger, invisible everywhere else"
    )

    __table_args__ = (
        CheckConstraint(_in("role", USER_ROLES), name="role"),
        CheckConstraint("deleted_at IS NULL OR is_active = false", name="deleted_inactive"),
        Index(
            "uq_users_email_live",
            "organization_id",
            "email",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # Sign-in claims and SCIM look-ups match the e-mail without regard to case.
        Index("ix_users_lower_email", func.lower(email), postgresql_where=text("deleted_at IS NULL")),
        Index(
            "uq_users_azure_ad_id_live",
            "organization_id",
            "azure_ad_id",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("idx_users_organization_id", "organization_id"),
        Index("idx_users_department_id", "department_id"),
        Index("idx_users_azure_ad_id", "azure_ad_id"),
        Index("idx_users_email", "email"),
        Index("idx_users_role", "role"),
        Index("idx_users_is_active", "is_active", postgresql_where=text("is_active = true")),
        Index("idx_users_last_login", last_login_at.desc().nulls_last()),
        {"comment": "User accounts with RBAC"},
    )


class UserSession(Base):
    """Refresh-token session, for token rotation and revocation.

    Additions and deviations:

    * ``organization_id``: tenant-owned table (row-level security, per-tenant revocation).
    * ``family_id``: every refresh token issued by rotating one sign-in shares a family; when a token
      that was already rotated is presented again (theft), the whole family is revoked — without the
      column that needs a recursive walk and races with concurrent rotation.
    * ``replaced_by_id``: the successor session created when this token was rotated, so a reused token
      is recognised (``replaced_by_id IS NOT NULL``) rather than merely ``revoked``.
    * ``idx_sessions_active`` has ``WHERE revoked = false`` only: PostgreSQL refuses the seed's
      ``AND expires_at > CURRENT_TIMESTAMP`` because index predicates must be immutable; queries still
      filter ``expires_at`` and the index's second column serves that range.
    * ``revoked`` NOT NULL (seed: nullable with default false): ``chk_revoked_at`` only works for
      non-NULL values (a NULL ``revoked`` makes the CHECK evaluate to NULL, i.e. pass).
    * ``last_used_at`` / ``created_at`` NOT NULL: both default to now() and are always known.
    * ``mfa_satisfied``: whether the sign-in met the organization's MFA rule; a rotation keeps it (the
      rotated session is the same sign-in).
    """

    __tablename__ = tenant_table("user_sessions")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    family_id: Mapped[uuid.UUID] = mapped_column(
        comment="Refresh-token family (one per sign-in); a reused rotated token revokes the whole family"
    )
    replaced_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_sessions.id", ondelete="SET NULL"),
        comment="Session that replaced this one when its refresh token was rotated",
    )
    refresh_token_hash: Mapped[str] = mapped_column(
        String(255), unique=True, comment="SHA-256 hash of refresh token for secure storage"
    )
    device_info: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB, comment="JSON: {user_agent, ip_address, device_type, browser}"
    )
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime] = mapped_column()
    last_used_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    revoked: Mapped[bool] = mapped_column(server_default=text("false"))
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_reason: Mapped[str | None] = mapped_column(String(255))
    mfa_satisfied: Mapped[bool | None] = mapped_column(
        comment="Whether the Entra sign-in behind this session met its organization's MFA rule "
        "(NULL: a sign-in that says nothing about MFA — local sign-in, an operator token)"
    )
    one_time_notice: Mapped[str | None] = mapped_column(
        Text,
        comment="Sealed one-time notice for the browser (a new secret to show once after a redirect); "
        "cleared when shown",
    )

    @classmethod
    def stands_at(cls, now: datetime) -> ColumnElement[bool]:
        """The sign-in behind an access token still stands: not expired and not ended (a rotation is not
        an end — the access token of the rotated session lives on until it expires)."""
        return and_(cls.expires_at > now, or_(cls.revoked.is_(False), cls.revoked_reason == "rotated"))

    __table_args__ = (
        CheckConstraint(
            "(revoked = false AND revoked_at IS NULL) OR (revoked = true AND revoked_at IS NOT NULL)",
            name="revoked_at",
        ),
        Index("idx_sessions_user_id", "user_id"),
        Index("idx_sessions_refresh_token_hash", "refresh_token_hash"),
        Index("idx_sessions_expires_at", "expires_at"),
        # The seed adds "AND expires_at > CURRENT_TIMESTAMP": not allowed, index predicates must be
        # IMMUTABLE and now() is not. Callers filter expires_at themselves (second index column).
        Index("idx_sessions_active", "user_id", "expires_at", postgresql_where=text("revoked = false")),
        Index("idx_sessions_family_id", "family_id"),
        {"comment": "User session tracking for token management"},
    )


class UserPreference(Base):
    """One user preference (key/value); the seed gives only the ERD.

    Additions: ``organization_id`` (tenant-owned table) and UNIQUE (user_id, preference_key), so a key
    has one value per user and upserts (``ON CONFLICT``) are possible; the unique index also serves
    lookups by ``user_id``.
    """

    __tablename__ = tenant_table("user_preferences")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    preference_key: Mapped[str] = mapped_column(String(100))
    preference_value: Mapped[Any] = mapped_column(JSONB, comment="Any JSON value")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    __table_args__ = (
        UniqueConstraint("user_id", "preference_key"),
        {"comment": "Per-user preferences (key/value)"},
    )


__all__ = ["USER_ROLES", "User", "UserPreference", "UserSession"]

"""SCIM provisioning: per-organization bearer tokens, and the groups an identity provider pushes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from donatello.models.base import Base, created_at, organization_fk, tenant_table, updated_at, uuid_pk


class ProvisioningToken(Base):
    """The secret an identity provider (Entra's provisioning service) presents on ``/scim/v2``.

    Shown once, stored as its SHA-256 hash with a visible prefix; issuing a new one revokes the
    organization's previous tokens (rotation). ``issued_by`` is None when an operator issued it.
    """

    __tablename__ = tenant_table("provisioning_tokens")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, comment="SHA-256 hex of the token")
    token_prefix: Mapped[str] = mapped_column(String(16), comment="First characters, to recognise it")
    issued_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), comment="Org admin who issued it (None: operator)"
    )
    created_at: Mapped[datetime] = created_at()
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = ({"comment": "SCIM provisioning bearer tokens (hashed), one live per organization"},)


class ScimGroup(Base):
    """A group pushed by the identity provider. It grants nothing by itself: the organization's Entra
    mapping (``settings.entra.role_mapping`` / ``group_mapping``, keyed by the group's object id —
    ``externalId`` — or its display name) turns membership into a role and a department."""

    __tablename__ = tenant_table("scim_groups")

    id: Mapped[uuid.UUID] = uuid_pk()
    organization_id: Mapped[uuid.UUID] = organization_fk()
    display_name: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255), comment="Entra group object id")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    __table_args__ = (
        Index("ix_scim_groups_org_display_name", "organization_id", "display_name"),
        {"comment": "Groups provisioned over SCIM (membership maps to roles and departments)"},
    )


class ScimGroupMember(Base):
    """One user in one provisioned group."""

    __tablename__ = tenant_table("scim_group_members")

    id: Mapped[uuid.UUID] = uuid_pk()
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("scim_groups.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[uuid.UUID] = organization_fk()
    created_at: Mapped[datetime] = created_at()

    __table_args__ = (
        UniqueConstraint("group_id", "user_id"),
        {"comment": "Memberships of provisioned groups"},
    )


__all__ = ["ProvisioningToken", "ScimGroup", "ScimGroupMember"]

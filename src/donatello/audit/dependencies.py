from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from donatello.audit.cosmos import AuditStore
from donatello.auth.dependencies import SignedIn, in_organization
from donatello.dependencies import resources_of
from donatello.tenancy import Action, Principal


def _store(request: Request) -> AuditStore | None:
    store: AuditStore | None = resources_of(request).audit_store
    return store


#: The Cosmos DB audit container when configured; None means the outbox table is the audit store.
Store = Annotated[AuditStore | None, Depends(_store)]
CanReadAuditLog = Annotated[Principal, Depends(in_organization(Action.READ_AUDIT_LOG))]
CanReadOwnEvents = SignedIn

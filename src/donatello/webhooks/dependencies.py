from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from donatello.auth.dependencies import require
from donatello.dependencies import resources_of
from donatello.tenancy import Action, Principal
from donatello.webhooks import targets
from donatello.webhooks.service import Outbound

#: Own webhooks (webhooks:own) or the organization's (webhooks:manage); the service narrows to own ones.
CanOwnWebhooks = Annotated[Principal, Depends(require(Action.OWN_WEBHOOKS))]


def _outbound(request: Request) -> Outbound:
    state = resources_of(request)
    # ``webhook_resolver`` on the app state replaces DNS (tests); the system resolver otherwise.
    resolver: targets.Resolver = state.webhook_resolver or targets.system_resolver
    return Outbound(settings=state.settings, sealer=state.sealer, resolver=resolver)


OutboundDeps = Annotated[Outbound, Depends(_outbound)]

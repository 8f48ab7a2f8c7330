from __future__ import annotations

from fastapi import APIRouter

from donatello.auth.dependencies import CurrentPrincipal
from donatello.users.schemas import Me

router = APIRouter(tags=["users"])


@router.get("/me", response_model=Me)
async def me(principal: CurrentPrincipal) -> Me:
    """Who the access token belongs to, with the role and department read fresh from the database."""
    return Me(
        user_id=principal.user_id,
        organization_id=principal.organization_id,
        department_id=principal.department_id,
        role=principal.role,
        email=principal.email,
    )

"""Mounts every domain router under /v1 (the only module that imports them all)."""

from __future__ import annotations

from fastapi import APIRouter

from donatello.budgets.endpoints import router as budgets_router
from donatello.departments.endpoints import router as departments_router
from donatello.providers.endpoints import router as providers_router
from donatello.users.endpoints import router as users_router

api_router = APIRouter(prefix="/v1")
api_router.include_router(users_router)
api_router.include_router(departments_router)
api_router.include_router(budgets_router)
api_router.include_router(providers_router)

"""Mounts every domain router under /v1 (the only module that imports them all)."""

from __future__ import annotations

from fastapi import APIRouter

from donatello.api_keys.endpoints import router as api_keys_router
from donatello.audit.endpoints import router as audit_router
from donatello.budgets.endpoints import router as budgets_router
from donatello.departments.endpoints import router as departments_router
from donatello.exports.endpoints import router as exports_router
from donatello.generations.endpoints import router as generations_router
from donatello.notifications.endpoints import router as notifications_router
from donatello.organizations.endpoints import router as organizations_router
from donatello.providers.endpoints import router as providers_router
from donatello.provisioning.endpoints import admin_router as provisioning_router
from donatello.reconciliation.endpoints import router as reconciliations_router
from donatello.reconciliation.endpoints import settings_router as reconciliation_settings_router
from donatello.reports.endpoints import router as reports_router
from donatello.sessions.endpoints import router as sessions_router
from donatello.sso.endpoints import router as sso_router
from donatello.storage.endpoints import router as files_router
from donatello.users.endpoints import router as users_router
from donatello.webhooks.endpoints import router as webhooks_router

api_router = APIRouter(prefix="/v1")
# First: the router walks routes in order, and admission is the hot path (about 90 routes were tried
# before it on every request). No other router has paths under /generations, so none is shadowed.
api_router.include_router(generations_router)
api_router.include_router(sso_router)
api_router.include_router(sessions_router)
api_router.include_router(users_router)
api_router.include_router(organizations_router)
api_router.include_router(departments_router)
api_router.include_router(budgets_router)
api_router.include_router(api_keys_router)
api_router.include_router(audit_router)
api_router.include_router(files_router)
api_router.include_router(providers_router)
api_router.include_router(reports_router)
api_router.include_router(exports_router)
api_router.include_router(reconciliations_router)
api_router.include_router(reconciliation_settings_router)
api_router.include_router(webhooks_router)
api_router.include_router(notifications_router)
api_router.include_router(provisioning_router)

"""Every page router of the browser edge, in one router the app includes after the JSON API."""

from __future__ import annotations

from fastapi import APIRouter

from donatello.web.audit_log.endpoints import router as audit_router
from donatello.web.budget_requests.endpoints import router as budget_requests_router
from donatello.web.dashboard.endpoints import router as dashboard_router
from donatello.web.department_gallery.endpoints import router as department_gallery_router
from donatello.web.departments.endpoints import router as departments_router
from donatello.web.exports.endpoints import router as exports_router
from donatello.web.gallery.endpoints import router as gallery_router
from donatello.web.generate.endpoints import router as generate_router
from donatello.web.keys.endpoints import router as keys_router
from donatello.web.models.endpoints import router as models_router
from donatello.web.my_requests.endpoints import router as my_requests_router
from donatello.web.notifications.endpoints import router as notifications_router
from donatello.web.organization.endpoints import router as organization_router
from donatello.web.organization_keys.endpoints import router as organization_keys_router
from donatello.web.overview_csv.endpoints import router as overview_csv_router
from donatello.web.people.endpoints import router as people_router
from donatello.web.reconciliations.endpoints import router as reconciliations_router
from donatello.web.signin.endpoints import router as signin_router
from donatello.web.usage.endpoints import router as usage_router
from donatello.web.webhooks.endpoints import router as webhooks_router

router = APIRouter(include_in_schema=False)
router.include_router(signin_router)
router.include_router(generate_router)
router.include_router(gallery_router)
router.include_router(department_gallery_router)
router.include_router(usage_router)
router.include_router(dashboard_router)
router.include_router(overview_csv_router)
router.include_router(budget_requests_router)
router.include_router(my_requests_router)
router.include_router(exports_router)
router.include_router(reconciliations_router)
router.include_router(models_router)
router.include_router(audit_router)
router.include_router(departments_router)
router.include_router(people_router)
router.include_router(organization_router)
router.include_router(keys_router)
router.include_router(organization_keys_router)
router.include_router(webhooks_router)
router.include_router(notifications_router)

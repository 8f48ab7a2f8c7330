"""SQLAlchemy models. Importing this package registers every table on ``Base.metadata`` (alembic)."""

from __future__ import annotations

from donatello.models.api_keys import ApiKey
from donatello.models.audit_outbox import AuditOutbox
from donatello.models.base import TENANT_TABLES, Base
from donatello.models.batches import GenerationBatch
from donatello.models.budget_requests import BudgetIncreaseRequest
from donatello.models.budgets import (
    BudgetDecisionCount,
    BudgetThresholdAlert,
    DepartmentBudget,
    DepartmentBudgetPeriod,
)
from donatello.models.cost_events import CostEvent
from donatello.models.departments import Department
from donatello.models.export_schedules import ExportSchedule, ExportScheduleRun
from donatello.models.generations import Generation, GenerationMetadata
from donatello.models.health import ModelCallOutcome, ModelCircuit
from donatello.models.notifications import Notification, NotificationFanoutState
from donatello.models.organizations import Organization
from donatello.models.pacing import ModelCall, ModelPace, QueueTurn
from donatello.models.provider_calls import ProviderCall
from donatello.models.providers import CatalogueVersion, FxRate, ModelPrice, ModelProvider, ProviderConfig
from donatello.models.provisioning import ProvisioningToken, ScimGroup, ScimGroupMember
from donatello.models.reconciliations import Reconciliation, ReconciliationLine, ReconciliationRow
from donatello.models.reports import CostDailyRollup, ExportJob
from donatello.models.reservations import BudgetReservation
from donatello.models.users import User, UserPreference, UserSession
from donatello.models.webhooks import Webhook, WebhookDelivery, WebhookFanoutState

__all__ = [
    "TENANT_TABLES",
    "ApiKey",
    "AuditOutbox",
    "Base",
    "BudgetDecisionCount",
    "BudgetIncreaseRequest",
    "BudgetReservation",
    "BudgetThresholdAlert",
    "CatalogueVersion",
    "CostDailyRollup",
    "CostEvent",
    "Department",
    "DepartmentBudget",
    "DepartmentBudgetPeriod",
    "ExportJob",
    "ExportSchedule",
    "ExportScheduleRun",
    "FxRate",
    "Generation",
    "GenerationBatch",
    "GenerationMetadata",
    "ModelCall",
    "ModelCallOutcome",
    "ModelCircuit",
    "ModelPace",
    "ModelPrice",
    "ModelProvider",
    "Notification",
    "NotificationFanoutState",
    "Organization",
    "ProviderCall",
    "ProviderConfig",
    "ProvisioningToken",
    "QueueTurn",
    "Reconciliation",
    "ReconciliationLine",
    "ReconciliationRow",
    "ScimGroup",
    "ScimGroupMember",
    "User",
    "UserPreference",
    "UserSession",
    "Webhook",
    "WebhookDelivery",
    "WebhookFanoutState",
]

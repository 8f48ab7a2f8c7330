"""Prometheus instruments (``prometheus_client``), served at ``/metrics``.

Callers use the small functions below rather than the instruments, so the edges stay one line and label
sets stay bounded: labels are route templates, statuses, provider and model names — never ids, e-mails,
prompts or anything a user typed. Gauges that describe the database (queue depth, outbox lag) are set at
scrape time by ``observability``.

Under `donatello serve --workers N` the servers and the job process share one ``PROMETHEUS_MULTIPROC_DIR``
(set by the parent before it spawns them): every process writes its values there, and a scrape, whichever
server answers it, adds up every process's counters and histograms (the job process's included); the
database gauges report the most recent value set.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

_REQUEST_LATENCY = Histogram(
    "donatello_http_request_duration_seconds",
    "HTTP request latency by method, route template and status code",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_GENERATIONS = Counter(
    "donatello_generations_total",
    "Generations finished, by final status and the provider that served (or last tried) them",
    ["status", "provider"],
    registry=REGISTRY,
)
_PROVIDER_LATENCY = Histogram(
    "donatello_provider_request_duration_seconds",
    "Latency of one call to an image provider, by provider, model and outcome",
    ["provider", "model", "outcome"],
    registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60, 120),
)
_PROVIDER_ERRORS = Counter(
    "donatello_provider_errors_total",
    "Failed calls to an image provider, by provider, model and kind (retryable, final, content_filter)",
    ["provider", "model", "kind"],
    registry=REGISTRY,
)
_BUDGET_REFUSALS = Counter(
    "donatello_budget_refusals_total",
    "Generation requests refused by a hard budget, by reason (budget, user_cap)",
    ["reason"],
    registry=REGISTRY,
)
_RESERVATION_EXPIRIES = Counter(
    "donatello_reservation_expiries_total",
    "Budget holds that lapsed before their generation settled or released them",
    registry=REGISTRY,
)
_USAGE_MISSING = Counter(
    "donatello_usage_missing_total",
    "Generations of token-priced models whose response carried no usage (charged at the hold)",
    ["provider", "model"],
    registry=REGISTRY,
)
_WEBHOOK_FAILURES = Counter(
    "donatello_webhook_delivery_failures_total",
    "Failed webhook delivery attempts, by event type and reason",
    ["event_type", "reason"],
    registry=REGISTRY,
)
_RETENTION = Counter(
    "donatello_retention_items_total",
    "Rows and blobs changed by retention runs, by what was done",
    ["action"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "donatello_generation_queue_depth",
    "Generations waiting or running, by status (set at scrape time)",
    ["status"],
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
OUTBOX_PENDING = Gauge(
    "donatello_audit_outbox_pending",
    "Audit events not yet delivered to the audit store (set at scrape time)",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
OUTBOX_LAG = Gauge(
    "donatello_audit_outbox_lag_seconds",
    "Age of the oldest undelivered audit event, 0 when none (set at scrape time)",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    _REQUEST_LATENCY.labels(method, route, str(status)).observe(seconds)


def generation_finished(status: str, provider: str) -> None:
    _GENERATIONS.labels(status, provider).inc()


def provider_call(provider: str, model: str, seconds: float, *, error_kind: str | None = None) -> None:
    """One provider call: its latency, and — when it failed — its kind of failure."""
    _PROVIDER_LATENCY.labels(provider, model, "error" if error_kind else "ok").observe(seconds)
    if error_kind:
        _PROVIDER_ERRORS.labels(provider, model, error_kind).inc()


def budget_refused(reason: str) -> None:
    _BUDGET_REFUSALS.labels(reason).inc()


def reservations_expired(count: int) -> None:
    if count:
        _RESERVATION_EXPIRIES.inc(count)


def usage_missing(provider: str, model: str) -> None:
    """A token-priced model answered without its metered usage: the bill cannot be checked (alert on it)."""
    _USAGE_MISSING.labels(provider, model).inc()


def webhook_delivery_failed(event_type: str, reason: str) -> None:
    """For the webhook dispatcher: one failed delivery attempt (``reason``: e.g. ``timeout``,
    ``http_5xx``, ``refused_address``) — a short fixed vocabulary, never a URL or response body."""
    _WEBHOOK_FAILURES.labels(event_type, reason).inc()


def retention_changed(action: str, count: int) -> None:
    if count:
        _RETENTION.labels(action).inc(count)


def exposition() -> tuple[bytes, str]:
    """The text exposition of every instrument and its content type (of every process of serve's)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        every_process = CollectorRegistry()
        multiprocess.MultiProcessCollector(every_process)  # type: ignore[no-untyped-call]
        return generate_latest(every_process), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST

"""Observability: Prometheus metrics at ``/metrics`` (instruments in ``core.metrics``), gauges computed
from the database at scrape time, and optional OpenTelemetry tracing (``tracing``)."""

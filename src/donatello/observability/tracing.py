"""OpenTelemetry tracing hooks, off by default (``DONATELLO_TRACING_ENABLED``).

OpenTelemetry is not a dependency: it is imported only when tracing is enabled, and a missing package
logs a warning instead of stopping the service. To enable it::

    pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http \\
        opentelemetry-instrumentation-fastapi opentelemetry-instrumentation-sqlalchemy \\
        opentelemetry-instrumentation-httpx
    DONATELLO_TRACING_ENABLED=true DONATELLO_TRACING_OTLP_ENDPOINT=http://collector:4318/v1/traces

Spans cover incoming requests (route templates, not raw paths), SQL statements (no parameters) and
outgoing provider calls. Prompts are never span attributes: they only travel in request bodies, which
the instrumentations do not record.
"""

from __future__ import annotations

import logging
from typing import Any

from donatello.config import Settings

log = logging.getLogger(__name__)


def install(app: Any, settings: Settings, *, engine: Any = None) -> bool:
    """Instrument the app (and engine) when tracing is enabled and OpenTelemetry is installed; returns
    whether tracing is on."""
    if not settings.tracing_enabled:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("tracing is enabled but OpenTelemetry is not installed; continuing without traces")
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": settings.tracing_service_name}))
    endpoint = settings.tracing_otlp_endpoint
    exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    FastAPIInstrumentor.instrument_app(app, excluded_urls="/metrics,/health/live,/health/ready")
    try:
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().instrument()
        if engine is not None:
            from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

            SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine)
    except ImportError:
        log.info("httpx/sqlalchemy instrumentation not installed; tracing requests only")
    log.info("tracing enabled", extra={"service_name": settings.tracing_service_name})
    return True

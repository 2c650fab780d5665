"""Traces (OpenTelemetry), metrics (Prometheus) and JSON logs — ids only, no personal data."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PROPAGATOR = TraceContextTextMapPropagator()

# AHV numbers (with or without dots) must never reach a log line, even by accident.
_AHV = re.compile(r"756[.\s]?\d{4}[.\s]?\d{4}[.\s]?\d{2}")


def inject(context: Context | None = None) -> dict[str, str]:
    """The W3C trace headers of the current (or given) context."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier, context=context)
    return carrier


def extract(headers: Mapping[str, str]) -> Context:
    return PROPAGATOR.extract(dict(headers))


def make_tracer_provider(
    service: str, *, otlp_endpoint: str = "", exporter: SpanExporter | None = None
) -> TracerProvider:
    """One provider per service runtime, so spans carry the right `service.name`.

    With nowhere to send spans, they are not recorded (trace ids still propagate and reach
    the logs): recording a span per event costs a fifth of a consumer's time.
    """
    exporting = exporter is not None or bool(otlp_endpoint)
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"bvgconnect-{service}"}),
        sampler=ParentBased(ALWAYS_ON) if exporting else ALWAYS_OFF,
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    return provider


@dataclass(frozen=True)
class Metrics:
    """The runtime's Prometheus metrics, in a registry of the service's own."""

    registry: CollectorRegistry
    consumed: Counter
    handler_seconds: Histogram
    published: Counter
    outbox_pending: Gauge
    consumer_lag: Gauge
    dlq: Counter
    dlq_size: Gauge
    #: Business counters (ARCHITECTURE: Observability); labels carry codes, never people.
    lists_checked: Counter
    list_findings: Counter
    lists_received: Counter
    lists_late: Counter
    coverage_changes: Counter
    invoices_issued: Counter
    invoiced_chf: Counter
    open_balance_chf: Gauge
    reminders: Counter

    @classmethod
    def create(cls) -> Metrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            consumed=Counter(
                "bvg_events_consumed",
                "Events taken from the broker, by outcome (handled, duplicate, retried, dlq).",
                ["service", "topic", "outcome"],
                registry=registry,
            ),
            handler_seconds=Histogram(
                "bvg_handler_seconds",
                "Time to handle one batch of events in one transaction, per event.",
                ["service", "topic"],
                registry=registry,
                buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            ),
            published=Counter(
                "bvg_outbox_published",
                "Events the outbox relay published.",
                ["service", "topic"],
                registry=registry,
            ),
            outbox_pending=Gauge(
                "bvg_outbox_pending",
                "Outbox rows not yet published.",
                ["service"],
                registry=registry,
            ),
            consumer_lag=Gauge(
                "bvg_consumer_lag",
                "Messages behind the end of each assigned partition.",
                ["service", "topic", "partition"],
                registry=registry,
            ),
            dlq=Counter(
                "bvg_dlq_messages",
                "Messages sent to a dead-letter topic after their retries.",
                ["service", "topic"],
                registry=registry,
            ),
            dlq_size=Gauge(
                "bvg_dlq_size",
                "Messages on the dead-letter topic of each subscribed topic (all consumers "
                "of a topic share its DLQ, so each reports the same size), every 5 s.",
                ["service", "topic"],
                registry=registry,
            ),
            lists_checked=Counter(
                "bvg_lists_checked",
                "Monthly lists checked, by channel and outcome (ok, faulty, unreadable).",
                ["channel", "status"],
                registry=registry,
            ),
            list_findings=Counter(
                "bvg_list_findings",
                "Findings of list checks, by check code and severity.",
                ["code", "severity"],
                registry=registry,
            ),
            # Every business metric below is labelled, so a service that does not own it
            # exposes its HELP and TYPE only, never a misleading zero sample.
            lists_received=Counter(
                "bvg_lists_received",
                "Monthly lists received and stored (a new upload, not the same file again), "
                "by channel (http, kafka). Intake; counted once its transaction committed.",
                ["channel"],
                registry=registry,
            ),
            lists_late=Counter(
                "bvg_lists_late",
                "Monthly lists checked that arrived after their due date (the 15th of the "
                "following month, RULES §7 / Art. 8.1; the report's on_time), by channel and "
                "outcome. Intake; counted when the check committed.",
                ["channel", "status"],
                registry=registry,
            ),
            coverage_changes=Counter(
                "bvg_coverage_changes",
                "Coverage starts and ends derived from list rows (coverage.changed), by kind "
                "(started, ended) and rule. Coverage; counted when the row's transaction "
                "committed.",
                ["change", "rule"],
                registry=registry,
            ),
            invoices_issued=Counter(
                "bvg_invoices_issued",
                "Invoices issued, by what triggered the run (list: a priced list; day: the "
                "daily clock run). Billing; counted when the invoice committed.",
                ["trigger"],
                registry=registry,
            ),
            invoiced_chf=Counter(
                "bvg_invoiced_chf",
                "CHF put on invoices, by line kind (contribution, correction, fee, interest, "
                "credit) and direction (debit: owed by the employer, credit: owed to it; the "
                "amount is always positive). Billing; counted when the invoice committed.",
                ["kind", "direction"],
                registry=registry,
            ),
            open_balance_chf=Gauge(
                "bvg_open_balance_chf",
                "CHF open on all invoices (open: not paid yet, net of credits carried "
                "forward; overdue: past the due date), read from billing's database when "
                "/metrics is scraped.",
                ["state"],
                registry=registry,
            ),
            reminders=Counter(
                "bvg_reminders",
                "Ladder steps taken (reminders, termination), by ladder (data, payment) and "
                "step. Dunning; counted when the step committed.",
                ["ladder", "step"],
                registry=registry,
            ),
        )


class JsonFormatter(logging.Formatter):
    """One JSON object a line, with the trace id of the current span."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        span = trace.get_current_span().get_span_context()
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        for key in ("event_id", "topic", "employer_no", "upload_id", "outcome"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = str(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False)


def chf(amount: Decimal) -> float:
    """An amount as a Prometheus sample: the one place where money becomes a float. Metrics
    feed dashboards; nothing is computed, billed or booked from them."""
    return float(amount)


def redact(text: str) -> str:
    return _AHV.sub("756.****.****.**", text)


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # FastStream logs every message received; that is noise at this volume.
    logging.getLogger("faststream").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def get_tracer(provider: TracerProvider, name: str) -> trace.Tracer:
    return provider.get_tracer(name)

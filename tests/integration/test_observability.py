"""Observability of the running services (ARCHITECTURE: Observability, issue 9).

- Every metric a Grafana panel queries is on some service's `/metrics` (scraped over ASGI).
- One upload is one trace through intake, coverage, pricing, billing and dunning to its
  invoice, parented hop by hop through the outbox and the broker, with no AHV number in
  any span; the business counters of that upload are on the owning services' `/metrics`.
- An invoice the daily clock run issues is in the clock's trace and links to the traces of
  the lists it bills.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from contracts.events.billing import BalanceChanged, InvoiceIssued
from contracts.events.coverage import RowsAssessed
from contracts.events.intake import ListChecked, RowsValidated
from contracts.events.pricing import ListPriced, RowsPriced
from services.registry import spec_of
from services.runtime.clock import FixedClock
from services.runtime.service import Runtime, create_app
from services.runtime.settings import SERVICE_NAMES
from services.runtime.telemetry import inject
from tests.conftest import StartRuntime, fast_settings
from tests.integration.test_billing_service import day, employer_changed, priced_list
from tests.integration.test_pricing_service import publish, wait_outbox_drained
from tests.support.kafka import eventually
from tests.support.tokens import TokenMint
from tests.support.xlsx import EMPLOYER_NO, build_list, sample_row

NOW = datetime(2025, 4, 10, 8, 0, tzinfo=UTC)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy/grafana/dashboards/bvgconnect.json"
#: The services an upload passes through on its way to the invoice.
PATH = ("intake", "coverage", "pricing", "billing", "dunning")
#: An AHV number in any form (756.1234.5678.97, 7561234567897, with spaces).
AHV = re.compile(r"756[.\s]?\d{4}[.\s]?\d{4}[.\s]?\d{2}")


# -- PromQL: the metric names an expression selects ---------------------------------------------

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_IDENTIFIER = re.compile(r"(?<![\w:$.])([A-Za-z_:][A-Za-z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right", "inf", "nan", "atan2", "start", "end"}
)


def metric_names(expr: str) -> set[str]:
    """The metric names selected by a PromQL expression (not functions, labels, keywords);
    `label_values(metric, label)` of a template variable selects `metric`."""
    values = re.fullmatch(r"\s*label_values\(\s*([A-Za-z_:][\w:]*)\s*,.*\)\s*", expr, re.S)
    if values:
        return {values.group(1)}
    text = _STRING.sub(" ", expr)
    names = set(re.findall(r"__name__\s*=\s*\"([^\"]+)\"", expr))
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    for name in _IDENTIFIER.findall(text):
        if name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def test_metric_names_of_promql() -> None:
    assert metric_names(
        "histogram_quantile(0.95, sum by (le, service) "
        '(rate(bvg_handler_seconds_bucket{service=~"$service"}[$__rate_interval])))'
    ) == {"bvg_handler_seconds_bucket"}
    assert metric_names(
        'sum(increase(a_total{status=~"faulty|x"}[5m])) / on(job) group_left(x) b * 60 > bool 1'
    ) == {"a_total", "b"}
    assert metric_names("label_values(bvg_outbox_pending, service)") == {"bvg_outbox_pending"}
    assert metric_names("max by (topic) (bvg_dlq_size) offset 5m") == {"bvg_dlq_size"}


def dashboard_expressions() -> list[tuple[str, str]]:
    """(panel title, expression) of every panel target and template variable."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found: list[tuple[str, str]] = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], str(target["expr"])))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else query
        if text:
            found.append((f"variable {variable['name']}", str(text)))
    return found


# -- /metrics: the sample names each service exposes ------------------------------------------

_SERIES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


@dataclass(frozen=True)
class Exposition:
    """One scrape of a service's /metrics."""

    names: set[str]  # every series name a query may select, samples or not
    samples: dict[str, list[tuple[dict[str, str], float]]]  # series name -> samples


def parse_exposition(text: str) -> Exposition:
    names: set[str] = set()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for suffix in _SERIES.get(family.type, ("",)):
            names.add(family.name + suffix)
        for sample in family.samples:
            names.add(sample.name)
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return Exposition(names, samples)


async def scrape(runtime: Runtime) -> Exposition:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://svc"
    ) as client:
        answer = await client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return parse_exposition(answer.text)


# -- starting services --------------------------------------------------------------------------


def jwks_file(tmp_path: Path, mint: TokenMint) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(mint.jwks()))
    return path


async def start_services(
    start_runtime: StartRuntime,
    prefix: str,
    tmp_path: Path,
    names: Iterable[str],
    *,
    mint: TokenMint,
    exporter: InMemorySpanExporter | None = None,
) -> dict[str, Runtime]:
    settings = fast_settings(
        prefix,
        data_dir=tmp_path,
        auth_jwks_file=jwks_file(tmp_path, mint),
        intake_check_poll_s=0.2,
    )
    started = await asyncio.gather(
        *(
            start_runtime(
                spec_of(name), settings=settings, clock=FixedClock(NOW), span_exporter=exporter
            )
            for name in names
        )
    )
    return dict(zip(names, started, strict=True))


async def count(runtime: Runtime, sql: str, *args: Any) -> int:
    assert runtime.pool is not None
    return int(await runtime.pool.fetchval(sql, *args))


async def until(runtime: Runtime, sql: str, n: int, what: str, *args: Any) -> None:
    async def enough() -> bool:
        return await count(runtime, sql, *args) >= n

    await eventually(enough, timeout=25, what=what)


# -- 1. the dashboard against /metrics ----------------------------------------------------------


async def test_every_panel_queries_metrics_the_services_export(
    start_runtime: StartRuntime, prefix: str, tmp_path: Path
) -> None:
    runtimes = await start_services(
        start_runtime, prefix, tmp_path, SERVICE_NAMES, mint=TokenMint(clock=FixedClock(NOW))
    )
    scraped = {name: await scrape(runtime) for name, runtime in runtimes.items()}
    exported = set().union(*(e.names for e in scraped.values()))

    expressions = dashboard_expressions()
    assert len({title for title, _ in expressions}) >= 11, "panels missing"
    unknown = {
        (title, name)
        for title, expr in expressions
        for name in metric_names(expr)
        if name not in exported
    }
    assert not unknown, f"panels query metrics no service exports: {sorted(unknown)}"
    for title, expr in expressions:
        assert metric_names(expr), f"{title}: no metric in {expr!r}"

    # the runtime's gauges have real samples: every service reports its DLQ topics (5 s loop)
    async def dlq_measured() -> bool:
        for name in ("intake", "billing"):
            if "bvg_dlq_size" not in (await scrape(runtimes[name])).samples:
                return False
        return True

    await eventually(dlq_measured, timeout=15, what="bvg_dlq_size samples")
    sizes = (await scrape(runtimes["billing"])).samples["bvg_dlq_size"]
    assert {labels["topic"] for labels, _ in sizes} >= {RowsPriced.TOPIC}
    assert all(value == 0 for _, value in sizes)
    # billing's open balance is read from its database on scrape
    balance = {
        labels["state"]: v for labels, v in scraped["billing"].samples["bvg_open_balance_chf"]
    }
    assert balance == {"open": 0.0, "overdue": 0.0}
    assert "bvg_open_balance_chf" not in scraped["intake"].samples  # declared, never set


def test_a_panel_on_a_metric_nobody_exports_fails() -> None:
    """The check above is not vacuous: a misspelt metric is caught."""
    exported = parse_exposition(
        "# HELP bvg_reminders Steps.\n# TYPE bvg_reminders counter\n"
        "# HELP bvg_handler_seconds Time.\n# TYPE bvg_handler_seconds histogram\n"
    ).names
    assert {"bvg_reminders_total", "bvg_handler_seconds_bucket"} <= exported
    assert metric_names("sum(rate(bvg_reminder_total[5m]))") - exported == {"bvg_reminder_total"}
    assert metric_names("rate(bvg_handler_seconds[5m])") - exported == {"bvg_handler_seconds"}


# -- 2. one upload, one trace -------------------------------------------------------------------


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"]).removeprefix("bvgconnect-")


def hex_id(n: int) -> str:
    return format(n, "016x")


class Trace:
    """The spans the services recorded, indexed for walking parent chains."""

    def __init__(self, spans: Sequence[ReadableSpan]) -> None:
        self.spans = list(spans)
        self.by_id = {s.context.span_id: s for s in self.spans if s.context is not None}

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        return None if span.parent is None else self.by_id.get(span.parent.span_id)

    def chain(self, span: ReadableSpan) -> list[ReadableSpan]:
        """The span and its ancestors, nearest first."""
        found = [span]
        while (up := self.parent(found[-1])) is not None:
            found.append(up)
        return found

    def named(self, name: str, service: str) -> list[ReadableSpan]:
        return [s for s in self.spans if s.name == name and service_of(s) == service]


def services_along(chain: Sequence[ReadableSpan]) -> list[str]:
    """The services a chain of spans passes through, each once per visit."""
    found: list[str] = []
    for span in chain:
        if not found or found[-1] != service_of(span):
            found.append(service_of(span))
    return found


def describe(spans: Iterable[ReadableSpan]) -> str:
    return " <- ".join(f"{service_of(s)}:{s.name}" for s in spans)


def assert_no_ahv(spans: Iterable[ReadableSpan]) -> None:
    for span in spans:
        texts = [span.name, *(f"{k}={v!s}" for k, v in (span.attributes or {}).items())]
        for event in span.events:
            texts.extend(f"{k}={v!s}" for k, v in (event.attributes or {}).items())
        for link in span.links:
            texts.extend(f"{k}={v!s}" for k, v in (link.attributes or {}).items())
        leaked = [t for t in texts if AHV.search(t)]
        assert not leaked, f"{service_of(span)}:{span.name} carries an AHV number: {leaked}"


async def test_one_upload_is_one_trace_through_every_service_to_its_invoice(
    start_runtime: StartRuntime, prefix: str, tmp_path: Path, bootstrap: str
) -> None:
    exporter = InMemorySpanExporter()
    mint = TokenMint(clock=FixedClock(NOW))
    runtimes = await start_services(
        start_runtime, prefix, tmp_path, PATH, mint=mint, exporter=exporter
    )
    # the employer as auth announces it, and the business day as the clock does
    await publish(bootstrap, prefix, [employer_changed(), day(date(2025, 4, 10))])
    for name in ("intake", "pricing", "billing", "dunning"):
        await until(runtimes[name], "SELECT count(*) FROM employers", 1, f"{name}'s employer")
    for name in ("intake", "billing", "dunning"):
        await until(runtimes[name], "SELECT count(*) FROM business_day", 1, f"{name}'s day")
    for runtime in runtimes.values():  # nothing of the set-up still on its way
        await wait_outbox_drained(runtime)
    exporter.clear()  # from here on, every span is the upload's

    rows = [sample_row(i) for i in range(3)]
    ahvs = {str(row["Q"]) for row in rows}
    assert all(AHV.fullmatch(a) for a in ahvs), ahvs
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtimes["intake"])), base_url="http://i"
    ) as client:
        answer = await client.post(
            f"/employers/{EMPLOYER_NO}/lists/2025-03",
            content=build_list(rows),
            headers={
                "Content-Type": XLSX,
                "Authorization": f"Bearer {mint.mint(employer_no=EMPLOYER_NO)}",
            },
        )
    assert answer.status_code == 202, answer.text
    upload_id = answer.json()["upload_id"]

    billing, dunning, intake = runtimes["billing"], runtimes["dunning"], runtimes["intake"]
    await until(billing, "SELECT count(*) FROM invoices", 1, "the invoice")
    for runtime in runtimes.values():
        await wait_outbox_drained(runtime)
    for consumer, topic in (
        (dunning, InvoiceIssued),
        (intake, InvoiceIssued),
        (dunning, BalanceChanged),
    ):
        await until(
            consumer,
            "SELECT count(*) FROM inbox WHERE topic = $1",
            1,
            f"{consumer.spec.name} to handle {topic.TOPIC}",
            topic.TOPIC,
        )

    spans = exporter.get_finished_spans()
    ours = [
        s
        for s in spans
        if s.instrumentation_scope and s.instrumentation_scope.name == "bvgconnect.runtime"
    ]
    assert_no_ahv(spans)  # FastStream's spans too

    # ONE trace: every span of ours since the upload, in every service of the path
    trace_ids = {s.context.trace_id for s in ours if s.context is not None}
    assert len(trace_ids) == 1, f"the upload's spans are in {len(trace_ids)} traces"
    assert {service_of(s) for s in ours} == set(PATH)
    tr = Trace(ours)
    [root] = [s for s in ours if s.parent is None]
    assert service_of(root) == "intake" and root.kind == SpanKind.SERVER
    assert root.name == f"POST /employers/{EMPLOYER_NO}/lists/2025-03"
    for span in ours:  # no dangling parent: every hop recorded its span
        assert span is root or tr.parent(span) is not None, describe(tr.chain(span))

    # each broker hop: a consumer span's parent is the producer span of its topic, in the
    # service that published; a producer span's parent is in its own service
    for span in ours:
        parent = tr.parent(span)
        if span.kind == SpanKind.CONSUMER:
            assert parent is not None and parent.kind == SpanKind.PRODUCER, describe(tr.chain(span))
            destination = str((span.attributes or {})["messaging.destination"])
            assert parent.name == f"{destination} publish", describe(tr.chain(span))
            assert service_of(parent) == destination.split(".")[0], describe(tr.chain(span))
        if span.kind == SpanKind.PRODUCER:
            assert parent is not None and service_of(parent) == service_of(span)

    # the path, hop by hop, from the invoice's publication back to the upload
    [invoice_publish] = tr.named(f"{InvoiceIssued.TOPIC} publish", "billing")
    chain = tr.chain(invoice_publish)
    assert [s.name for s in chain[:2]] == [
        f"{InvoiceIssued.TOPIC} publish",
        "billing.issue-invoice",
    ]
    # completed by a priced row (through coverage) or by the list's total (intake's verdict)
    assert services_along(chain) in (
        ["billing", "pricing", "coverage", "intake"],
        ["billing", "pricing", "intake"],
    ), describe(chain)
    assert chain[2].name in {f"{RowsPriced.TOPIC} handle", f"{ListPriced.TOPIC} handle"}
    assert chain[-2].name == "intake.check" and chain[-1] is root, describe(chain)
    # the list's rows, in one part: intake → coverage → pricing → billing, one trace, one
    # span per part (not per row) at every hop
    for part_topic, service in (
        (RowsValidated.TOPIC, "coverage"),
        (RowsAssessed.TOPIC, "pricing"),
        (RowsPriced.TOPIC, "billing"),
    ):
        assert len(tr.named(f"{part_topic} handle", service)) == 1, (part_topic, service)
        producer = part_topic.split(".")[0]
        assert len(tr.named(f"{part_topic} publish", producer)) == 1, part_topic
    [part_span] = tr.named(f"{RowsPriced.TOPIC} handle", "billing")
    part_chain = tr.chain(part_span)
    assert services_along(part_chain) == ["billing", "pricing", "coverage", "intake"]
    assert [s.name for s in part_chain[:-2]] == [
        f"{RowsPriced.TOPIC} handle",
        f"{RowsPriced.TOPIC} publish",
        f"{RowsAssessed.TOPIC} handle",
        f"{RowsAssessed.TOPIC} publish",
        f"{RowsValidated.TOPIC} handle",
        f"{RowsValidated.TOPIC} publish",
    ], describe(part_chain)
    assert part_chain[-2].name == "intake.check" and part_chain[-1] is root
    # intake's verdict reaches pricing (the row count) and dunning (the delivered list)
    for service in ("pricing", "dunning"):
        [verdict] = tr.named(f"{ListChecked.TOPIC} handle", service)
        assert services_along(tr.chain(verdict)) == [service, "intake"]
    # dunning learns of the invoice in the same trace
    [at_dunning] = tr.named(f"{InvoiceIssued.TOPIC} handle", "dunning")
    assert tr.parent(at_dunning) is invoice_publish
    # ids only: the upload and employer are named, never a person
    check = tr.named("intake.check", "intake")[0]
    assert (check.attributes or {})["bvg.upload_id"] == upload_id

    # the upload's business counters, on the service that owns each
    exposed = {name: await scrape(runtime) for name, runtime in runtimes.items()}

    def value(service: str, metric: str, **labels: str) -> float:
        return sum(
            v
            for found, v in exposed[service].samples.get(metric, [])
            if all(found.get(k) == want for k, want in labels.items())
        )

    assert value("intake", "bvg_lists_received_total", channel="http") == 1
    assert value("intake", "bvg_lists_checked_total", channel="http", status="ok") == 1
    assert value("intake", "bvg_lists_late_total") == 0  # March, received on 10 April
    assert value("coverage", "bvg_coverage_changes_total", change="started") >= 1
    assert value("billing", "bvg_invoices_issued_total", trigger="list") == 1
    [total] = await payload_totals(billing)
    assert value("billing", "bvg_invoiced_chf_total", kind="contribution") == pytest.approx(
        float(total)
    )
    assert value("billing", "bvg_open_balance_chf", state="open") == pytest.approx(float(total))
    assert value("billing", "bvg_open_balance_chf", state="overdue") == 0
    for service, found in exposed.items():  # nobody else counts what is not theirs
        if service != "billing":
            assert "bvg_invoiced_chf_total" not in found.samples, service
    assert (
        not [  # labels carry codes: no AHV number, no employer number
            (metric, labels)
            for found in exposed.values()
            for metric, samples in found.samples.items()
            for labels, _ in samples
            if any(AHV.search(v) or v == str(EMPLOYER_NO) for v in labels.values())
        ]
    )


async def payload_totals(billing: Runtime) -> list[Any]:
    assert billing.pool is not None
    return [r["total"] for r in await billing.pool.fetch("SELECT total FROM invoices")]


async def test_a_late_list_is_counted_received_and_late(
    start_runtime: StartRuntime, prefix: str, tmp_path: Path
) -> None:
    """February's list, due 15 March, received on 10 April: late (RULES §7, Art. 8.1)."""
    mint = TokenMint(clock=FixedClock(NOW))
    runtimes = await start_services(start_runtime, prefix, tmp_path, ["intake"], mint=mint)
    intake = runtimes["intake"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(intake)), base_url="http://i"
    ) as client:
        content = build_list([sample_row(i, month=2) for i in range(2)])
        headers = {
            "Content-Type": XLSX,
            "Authorization": f"Bearer {mint.mint(employer_no=EMPLOYER_NO)}",
        }
        for _ in range(2):  # the same file twice is one list received
            answer = await client.post(
                f"/employers/{EMPLOYER_NO}/lists/2025-02", content=content, headers=headers
            )
            assert answer.status_code in (200, 202), answer.text
    await until(intake, "SELECT count(*) FROM reports", 1, "the check")
    samples = (await scrape(intake)).samples
    assert samples["bvg_lists_received_total"] == [({"channel": "http"}, 1.0)]
    assert samples["bvg_lists_late_total"] == [({"channel": "http", "status": "ok"}, 1.0)]
    assert samples["bvg_lists_checked_total"] == [({"channel": "http", "status": "ok"}, 1.0)]


# -- 3. an invoice of the clock run links to its lists' traces -----------------------------------


async def test_an_invoice_of_the_daily_run_links_to_the_traces_of_its_lists(
    start_runtime: StartRuntime, prefix: str, tmp_path: Path, bootstrap: str
) -> None:
    """A January list waits for the collective invoice (Art. 20.2); the clock run of the
    cut-off date issues it. The invoice is in the clock's trace, linked to the list's."""
    exporter = InMemorySpanExporter()
    runtimes = await start_services(
        start_runtime,
        prefix,
        tmp_path,
        ["billing"],
        mint=TokenMint(clock=FixedClock(NOW)),
        exporter=exporter,
    )
    billing = runtimes["billing"]
    await publish(bootstrap, prefix, [employer_changed(), day(date(2025, 2, 10))])
    await until(billing, "SELECT count(*) FROM business_day", 1, "the business day")

    # pricing's spans, as pricing would have sent them: one trace for the list ...
    tracer = TracerProvider()
    tracer.add_span_processor(SimpleSpanProcessor(exporter))
    at_pricing = tracer.get_tracer("test-pricing")
    _, january = priced_list("2025-01", ["100.00", "50.00"], at=datetime(2025, 2, 10, tzinfo=UTC))
    with at_pricing.start_as_current_span("pricing publishes the January list") as list_span:
        await publish(bootstrap, prefix, january, **inject())
    await until(billing, "SELECT count(*) FROM priced_lists WHERE complete", 1, "the list")
    assert await count(billing, "SELECT count(*) FROM invoices") == 0  # waits for March

    # ... and another for the clock's day: the cut-off date issues the invoice
    with at_pricing.start_as_current_span("the clock starts 30 April") as clock_span:
        await publish(bootstrap, prefix, [day(date(2025, 4, 30))], **inject())
    await until(billing, "SELECT count(*) FROM invoices", 1, "the collective invoice")
    await wait_outbox_drained(billing)

    list_trace = list_span.get_span_context().trace_id
    clock_trace = clock_span.get_span_context().trace_id
    spans = exporter.get_finished_spans()
    tr = Trace(spans)
    [issue] = tr.named("billing.issue-invoice", "billing")
    assert issue.context is not None and issue.context.trace_id == clock_trace
    assert [service_of(s) for s in tr.chain(issue)][:2] == ["billing", "billing"]
    assert tr.chain(issue)[-1].context == clock_span.get_span_context()
    assert [(link.context.trace_id, dict(link.attributes or {})) for link in issue.links] == [
        (list_trace, {"bvg.period": "2025-01"})
    ]
    [published] = tr.named(f"{InvoiceIssued.TOPIC} publish", "billing")
    assert tr.parent(published) is issue
    assert_no_ahv(spans)

"""Invoice PDFs with their QR-bill (RULES §8): target ≥ 20 invoices/s on one core.

Builds `--invoices` (200) synthetic invoices of `--lines` (100) lines each with a fixed seed:
contribution lines of workers with valid AHV numbers and names with umlauts and accents, a
few corrections, fees and interest lines, in the four languages, one collective
January-March invoice in four. Then renders each with `render_invoice_pdf`, one after the
other in this process, and reports invoices/s, the time per invoice (p50/p95/max), where it
goes (the QR-bill's SVG alone, timed on the same invoices afterwards), pages and size, and
the peak RSS; the best of `--repeat` (3) passes, as other work on the machine shows in the
others. A measurement: exits 0 whatever the figures.

    .venv/bin/python benchmarks/bench_billing_pdf.py [--invoices 200] [--lines 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stdnum import ean

from services.billing import pdf, qr
from services.billing.model import (
    Creditor,
    InvoiceDocument,
    InvoiceLine,
    LineKind,
    PostalAddress,
)

TARGET_PER_S = 20
KINDS: tuple[LineKind, ...] = ("contribution", "correction", "fee", "interest")
CENT = Decimal("0.01")
FOUNDATION = Creditor(
    qr_iban="CH44 3199 9123 0008 8901 2",
    address=PostalAddress(
        "Stiftung BVG Temporärarbeit", "Bahnhofstrasse", "1", "8001", "Zürich", "CH"
    ),
)
TOWNS = (("8004", "Zürich"), ("1204", "Genève"), ("6900", "Lugano"), ("3011", "Bern"),
         ("2000", "Neuchâtel"), ("1700", "Fribourg"), ("9000", "St. Gallen"))  # fmt: skip
NAMES = ("Müller", "Schnyder", "Dubois", "Rossi", "Bühler", "Lefèvre", "Köhler", "Gàbor",
         "Çelik", "Nguyen", "Jäggi", "Brändli", "Ferrari", "Roux", "Häfliger")  # fmt: skip


def ahv_number(rng: random.Random) -> str:
    digits = "756" + f"{rng.randrange(10**9):09d}"
    digits += ean.calc_check_digit(digits)
    return f"{digits[:3]}.{digits[3:7]}.{digits[7:11]}.{digits[11:]}"


def synthetic_invoice(rng: random.Random, number: int, lines: int) -> InvoiceDocument:
    employer_no = rng.randint(1, 99_999)
    collective = number % 4 == 0
    periods = ("2025-01", "2025-02", "2025-03") if collective else ("2025-04",)
    items: list[InvoiceLine] = []
    for n in range(lines):
        kind: LineKind = rng.choices(KINDS, (90, 6, 2, 2))[0]
        if kind in ("contribution", "correction"):
            wage = Decimal(rng.uniform(100, 9000)).quantize(CENT)
            share = (wage * Decimal("0.0375")).quantize(Decimal("0.05"))
            sign = -1 if kind == "correction" else 1
            items.append(
                InvoiceLine(
                    kind=kind,
                    description=f"{rng.choice(NAMES)} {chr(65 + n % 26)}., Einsatz {n + 1}",
                    amount=sign * 2 * share,
                    period=rng.choice(periods),
                    worker=ahv_number(rng),
                    insured_wage=sign * wage,
                    employer_share=sign * share,
                    employee_share=sign * share,
                )
            )
        elif kind == "fee":
            items.append(InvoiceLine("fee", "Manuelle Datenerfassung (Art. 24)", Decimal("50.00")))
        else:
            amount = Decimal(rng.uniform(1, 80)).quantize(CENT)
            items.append(InvoiceLine("interest", "Verzugszins 6 % (Art. 21)", amount))
    postcode, town = rng.choice(TOWNS)
    invoice_date = date(2025, 3 if collective else 4, 28)
    return InvoiceDocument(
        invoice_no=f"2025-{number:06d}",
        qr_reference=qr.qr_reference(employer_no, number),
        invoice_date=invoice_date,
        due_date=invoice_date + timedelta(days=30),  # Art. 21
        periods=periods,
        employer_no=employer_no,
        debtor=PostalAddress(
            name=f"{rng.choice(NAMES)} Personalverleih AG",
            street="Industriestrasse",
            house_no=str(number % 90 + 1),
            postcode=postcode,
            town=town,
            country="CH",
        ),
        creditor=FOUNDATION,
        lines=tuple(items),
        total=sum((line.amount for line in items), Decimal(0)),
        language=rng.choice(("de", "de", "fr", "it", "en")),
    )


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


@dataclass(frozen=True)
class Run:
    """One pass over all invoices."""

    wall_s: float
    cpu_s: float
    per_invoice_ms: list[float]


def render_all(docs: list[InvoiceDocument]) -> Run:
    clock, cpu = time.perf_counter, time.process_time
    times: list[float] = []
    started, cpu_started = clock(), cpu()
    for doc in docs:
        t0 = clock()
        pdf.render_invoice_pdf(doc)
        times.append((clock() - t0) * 1000)
    return Run(clock() - started, cpu() - cpu_started, times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=200)
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    docs = [synthetic_invoice(rng, n + 1, args.lines) for n in range(args.invoices)]
    gc.freeze()  # the input is long-lived
    rss_input = peak_rss_mib()
    sample = pdf.render_invoice_pdf(docs[0])  # warm-up: imports, font metrics
    runs = [render_all(docs) for _ in range(args.repeat)]
    best = min(runs, key=lambda run: run.wall_s)
    rss_end = peak_rss_mib()

    t0 = time.perf_counter()
    for doc in docs:
        qr.slip_svg(doc)
    slip_ms = (time.perf_counter() - t0) / len(docs) * 1000
    same = pdf.render_invoice_pdf(docs[0]) == sample
    pages = sum(pdf.page_count(len(doc.lines)) for doc in docs) / len(docs)
    size = sum(len(pdf.render_invoice_pdf(doc)) for doc in docs[:20]) / min(20, len(docs))

    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(pdf.render_invoice_pdf, docs[:workers], chunksize=1))  # warm-up
        t0 = time.perf_counter()
        list(pool.map(pdf.render_invoice_pdf, docs, chunksize=8))
        pooled_s = time.perf_counter() - t0

    n = len(docs)
    ms = best.per_invoice_ms
    rate = n / best.wall_s
    met = "met" if rate >= TARGET_PER_S else "missed"
    load = os.getloadavg()[0]
    print(
        f"# bench_billing_pdf: {n:,} invoices of {args.lines} lines (seed {args.seed}), "
        f"best of {args.repeat} passes; load average {load:.2f} on {os.cpu_count()} cores"
    )
    print()
    print("| metric | value | target |")
    print("| --- | --- | --- |")
    print(f"| invoices rendered | {n:,} in {best.wall_s:.2f} s | |")
    print(f"| throughput (wall) | **{rate:,.1f} invoices/s** | ≥ {TARGET_PER_S}/s: {met} |")
    print(f"| throughput (CPU time of this process) | {n / best.cpu_s:,.1f} invoices/s | |")
    pooled = n / pooled_s
    print(
        f"| throughput with {workers} processes (a batch run) | **{pooled:,.1f} invoices/s** | "
        f"≥ {TARGET_PER_S}/s: {'met' if pooled >= TARGET_PER_S else 'missed'} |"
    )
    print(
        f"| per invoice: p50 / p95 / max | {statistics.median(ms):.1f} / "
        f"{percentile(ms, 0.95):.1f} / {max(ms):.1f} ms | |"
    )
    print(f"| of which the QR-bill's SVG alone (`qr.slip_svg`) | {slip_ms:.1f} ms | |")
    print(f"| all passes, invoices/s | {', '.join(f'{n / r.wall_s:.1f}' for r in runs)} | |")
    print(f"| pages / size per invoice | {pages:.1f} / {size / 1024:.0f} KiB | |")
    print(f"| peak RSS: input built / at the end | {rss_input:.0f} / {rss_end:.0f} MiB | |")
    print(f"| same bytes when rendered again | {'yes' if same else 'NO'} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

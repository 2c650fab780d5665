"""Coverage rules, pure: timelines of 100,000 synthetic workers (issue 5).

Each worker has 1-6 assignments at one employer over three years (2023-2025): random lengths
and gaps (some over 52 weeks), a few with S1-S3 flags, extensions, illness or service absences,
exits, and an ongoing last one. Measures `timeline()` alone, then `insured_part()` for one
period per worker, then `compare_declarations()` against lists that declare what the rules
derive, one mutation in twenty left out or misdated. Prints a table; always exits 0.
The service target is ≥ 5,000 rows/s end to end, so the pure rules must be far faster.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.coverage.calendar import PayPeriod
from services.coverage.domain import (
    Absence,
    AbsenceReason,
    Assignment,
    Declaration,
    Timeline,
    Worker,
    compare_declarations,
    insured_part,
    timeline,
)

FIRST_DAY = date(2023, 1, 2)
LAST_DAY = date(2025, 12, 31)
GAPS = (1, 3, 4, 10, 17, 30, 60, 120, 250, 363, 364, 400)


def synthetic_worker(rng: random.Random) -> tuple[Worker, list[Assignment]]:
    worker = Worker(
        birth_date=date(rng.randint(1958, 2008), rng.randint(1, 12), rng.randint(1, 28)),
        sex=rng.choice(("M", "F")),
        invalidity_degree=rng.choice((0, 0, 0, 0, 40)),
    )
    assignments: list[Assignment] = []
    start = FIRST_DAY + timedelta(rng.randint(0, 300))
    for n in range(rng.randint(1, 6)):
        length = rng.randint(5, 180)
        ongoing = n == 5 and rng.random() < 0.5
        end = None if ongoing else start + timedelta(length)
        absences: tuple[Absence, ...] = ()
        if length > 30 and rng.random() < 0.15:
            first = start + timedelta(rng.randint(0, length - 15))
            reason: AbsenceReason = rng.choice(("illness", "accident", "service", "maternity"))
            absences = (Absence(first, first + timedelta(rng.randint(3, 14)), reason),)
        extension = None
        if rng.random() < 0.1:
            extension = start + timedelta(rng.randint(0, length))
        assignments.append(
            Assignment(
                start=start,
                end=end,
                expected_over_13_weeks=rng.random() < 0.1,
                extension_accepted_on=extension,
                requested=rng.random() < 0.03,
                children=rng.random() < 0.1,
                absences=absences,
                ends_with_exit=end is not None and rng.random() < 0.05,
            )
        )
        if end is None:
            break
        start = end + timedelta(rng.choice(GAPS))
        if start > LAST_DAY:
            break
    return worker, assignments


def declarations_of(t: Timeline, rng: random.Random) -> list[Declaration]:
    """What a careful employer declares, with one mutation in twenty left out or misdated."""
    out = []
    for p in t.periods:
        if rng.random() < 0.95:
            on = p.insured_from if rng.random() < 0.95 else p.insured_from + timedelta(7)
            out.append(Declaration(PayPeriod.of(on), 1, on))
        if p.insured_to is not None and rng.random() < 0.95:
            exit_on = p.insured_to + timedelta(1)
            if p.end_rule == "E1":  # Art. 5: code 4 in the next list, the exit in the one after
                out.append(Declaration(PayPeriod.of(exit_on).shifted(1), 4, exit_on))
                out.append(Declaration(PayPeriod.of(exit_on).shifted(2), 2, exit_on))
            else:
                out.append(Declaration(PayPeriod.of(exit_on), 2, exit_on))
    return out


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    workers = [synthetic_worker(rng) for _ in range(args.workers)]
    built = time.perf_counter() - t0
    n_assignments = sum(len(a) for _, a in workers)
    gc.freeze()  # the input is long-lived; the service, too, holds one worker at a time
    rss_input = peak_rss_mib()

    # One worker at a time, as the service does: derive, assess one row, compare the lists.
    timeline_s = part_s = compare_s = 0.0
    insured = with_hours = findings = 0
    by_rule: dict[str, int] = {}
    clock = time.perf_counter
    for worker, assignments in workers:
        t0 = clock()
        t = timeline(worker, assignments)
        t1 = clock()
        period = PayPeriod.of(t.assignments[-1].start)
        part = insured_part(t, period, Decimal("160.50"))
        t2 = clock()
        declared = declarations_of(t, rng)
        t3 = clock()
        findings += len(compare_declarations(t, declared, through=period.shifted(2)))
        t4 = clock()
        timeline_s += t1 - t0
        part_s += t2 - t1
        compare_s += t4 - t3
        insured += bool(t.periods)
        with_hours += bool(part.insured_hours)
        for p in t.periods:
            by_rule[p.start_rule] = by_rule.get(p.start_rule, 0) + 1
    rss_end = peak_rss_mib()

    n = args.workers
    print(
        f"# bench_coverage_domain: {n:,} workers, {n_assignments:,} assignments (seed {args.seed})"
    )
    print()
    print("| step | time | rate |")
    print("| --- | --- | --- |")
    print(f"| build synthetic input (not measured) | {built:.1f} s | |")
    print(f"| `timeline()` | {timeline_s:.2f} s | **{n / timeline_s:,.0f} workers/s** |")
    print(f"| `insured_part()`, one period each | {part_s:.2f} s | {n / part_s:,.0f} rows/s |")
    print(f"| `compare_declarations()` | {compare_s:.2f} s | {n / compare_s:,.0f} workers/s |")
    total = timeline_s + part_s
    print(f"| timeline + insured part, per row | {total:.2f} s | {n / total:,.0f} rows/s |")
    print(f"| peak RSS: input built / at the end | {rss_input:.0f} / {rss_end:.0f} MiB | |")
    print()
    print(
        f"insured workers: {insured:,} ({insured / n:.0%}); periods by start rule: "
        + ", ".join(f"{rule} {count:,}" for rule, count in sorted(by_rule.items()))
        + f"; rows with insured hours: {with_hours:,}"
        + f"; findings: {findings:,}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

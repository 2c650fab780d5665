"""Speed of the list checks (TEMPLATE.md): 100,000 rows x 28 columns in ≤ ~1.2 s on one core.

Builds `--rows` (100,000) rows with a fixed seed as the reader delivers them (numbers as floats,
dates as date cells, text trimmed or not): a pool of names, streets and towns, unique AHV numbers,
hours and wages with two decimals, about 5 % with a mutation code and its date. Measures:

1. `check_workbook` on a `Sheet` built in memory, best of `--repeat` (3) runs; then once more
   under tracemalloc for the check's own peak allocation;
2. the same with `--faulty` per mille of the rows broken (capitals, check digits, dates, amounts);
3. the whole path, `read_workbook` + `check_workbook`, on an xlsx file of the same rows written
   by `tests/support/xlsx.py` (`write_big_list`), best of `--repeat`;
4. the issue's target, parse + check ≤ 3 s and ≤ 500 MB: the same file read and checked by
   the service's path (`checking.check_bytes`) in a fresh process, its time and peak RSS
   (best of `--repeat`), and the whole `bvgconnect validate --json` command (which also
   prices every row in-process for the `declared.*` warnings).

Prints a table; a measurement, it exits 0 whatever the figures.

    .venv/bin/python benchmarks/bench_intake_check.py [--rows 100000] [--repeat 3] [--seed 7]
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.intake.domain import CheckedList, check_workbook
from services.intake.model import COLUMNS, Cell, Sheet, Workbook
from tests.support.xlsx import ahv_number

EMPLOYER_NO = 4711
PERIOD = "2025-03"
TARGET_S = 1.2

_SYLLABLES: tuple[str, ...] = ("MÜL", "LER", "MEI", "ER", "SCHMID", "KEL", "WE", "BER", "HU")
_SYLLABLES += ("FA", "VRE", "ROS", "SI", "BRUN", "NER", "GAS", "SER", "ZIM", "MER", "MANN", "FREI")


def _pool(rng: random.Random, size: int, parts: int) -> list[str]:
    return ["".join(rng.choice(_SYLLABLES) for _ in range(parts)) for _ in range(size)]


def synthetic_rows(n: int, seed: int) -> list[list[Cell]]:
    """`n` valid rows of the March 2025 list, typed as calamine reads them."""
    rng = random.Random(seed)
    last_names, first_names = _pool(rng, 3000, 3), _pool(rng, 400, 2)
    streets = [f"{name}STRASSE" for name in _pool(rng, 800, 2)]
    towns = [(float(rng.randint(1000, 9658)), name) for name in _pool(rng, 2500, 2)]
    rows: list[list[Cell]] = []
    for i in range(n):
        postcode, town = rng.choice(towns)
        hours = round(rng.uniform(8, 190), 2)
        wage = round(hours * rng.uniform(22, 60), 2)
        insured = round(hours * rng.uniform(5, 25), 1)
        born = date(rng.randint(1962, 2006), rng.randint(1, 12), rng.randint(1, 28))
        start = date(2023, 3, 1) + timedelta(days=rng.randint(0, 750))
        code: float | None = None
        entry = exit_ = end = None
        draw = rng.random()
        if draw < 0.03:
            code, entry = 1.0, start
        elif draw < 0.05:
            code, exit_ = 2.0, date(2025, 3, rng.randint(1, 31))
            end = max(start, exit_ - timedelta(days=1))
        rows.append(
            [
                rng.choice(last_names),
                rng.choice(first_names) if i % 50 else f" {rng.choice(first_names)} ",
                f"{rng.choice(streets)} {rng.randint(1, 120)}",
                "C/O MEIER" if i % 40 == 0 else "",
                postcode,
                town,
                "",
                float(EMPLOYER_NO),
                round(insured * 0.06, 1),
                insured,
                entry or "",
                exit_ or "",
                code if code is not None else "",
                0.0,
                "",
                rng.choice((1.0, 1.0, 1.0, 2.0, 3.0, 0.0)),
                ahv_number(i + 1),
                float(rng.choice((1, 2, 2, 5))),
                born,
                float(rng.choice((1, 2))),
                hours,
                wage,
                start,
                end or "",
                rng.choice(("J", "N")),
                "",
                "N",
                rng.choice(("J", "N", "N")),
            ]
        )
    return rows


def break_rows(rows: list[list[Cell]], per_mille: int, seed: int) -> list[list[Cell]]:
    """A copy with `per_mille` of the rows carrying one error each, of several kinds."""
    rng = random.Random(seed)
    broken = [list(row) for row in rows]
    for row in rng.sample(broken, len(broken) * per_mille // 1000):
        kind = rng.randrange(4)
        if kind == 0:
            row[0] = str(row[0]).title()
        elif kind == 1:
            row[16] = str(row[16])[:-1] + ("0" if str(row[16])[-1] != "0" else "1")
        elif kind == 2:
            row[18] = "31.02.1980"
        else:
            row[20] = "12,5"
    return broken


def sheet_of(rows: list[list[Cell]]) -> Workbook:
    header: list[Cell] = [c.header for c in COLUMNS]
    return Workbook(("Mutationen",), Sheet("Mutationen", [header, *rows]))


def best_of(repeat: int, run: Callable[[], CheckedList]) -> tuple[float, CheckedList]:
    times = []
    result = None
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    assert result is not None
    return min(times), result


def peak_traced(run: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--faulty", type=int, default=10, help="broken rows per mille")
    parser.add_argument("--no-file", action="store_true", help="skip the xlsx read")
    args = parser.parse_args()

    rows = synthetic_rows(args.rows, args.seed)
    valid, broken = sheet_of(rows), sheet_of(break_rows(rows, args.faulty, args.seed))

    def check(wb: Workbook) -> Callable[[], CheckedList]:
        return lambda: check_workbook(wb, employer_no=EMPLOYER_NO, period=PERIOD, language="de")

    results: list[tuple[str, float, CheckedList, float | None]] = []
    seconds, checked = best_of(args.repeat, check(valid))
    results.append(("check_workbook, valid list (Sheet in memory)", seconds, checked, None))
    peak = peak_traced(check(valid))
    results[-1] = (*results[-1][:3], peak)
    seconds, checked = best_of(args.repeat, check(broken))
    label = f"check_workbook, {args.faulty} per mille rows faulty"
    results.append((label, seconds, checked, peak_traced(check(broken))))

    if not args.no_file:
        from services.intake.workbook import read_workbook
        from tests.support.xlsx import write_big_list

        data = write_big_list(args.rows, row=lambda i: rows[i])

        def read_and_check() -> CheckedList:
            wb = read_workbook(data)
            return check_workbook(wb, employer_no=EMPLOYER_NO, period=PERIOD, language="de")

        seconds, checked = best_of(args.repeat, read_and_check)
        label = f"read_workbook + check_workbook, xlsx of {len(data) / 2**20:.1f} MiB"
        results.append((label, seconds, checked, None))
        fresh = fresh_process_figures(data, args.repeat)
    else:
        fresh = []

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.rows:,} rows x {len(COLUMNS)} columns, best of {args.repeat}, seed {args.seed}")
    print()
    print("| run | rows | status | findings | s | rows/s | peak traced MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, seconds, checked, traced in results:
        mib = f"{traced:.0f}" if traced is not None else ""
        print(
            f"| {label} | {checked.row_count:,} | {checked.status} | {len(checked.findings):,} "
            f"| {seconds:.2f} | {checked.row_count / seconds:,.0f} | {mib} |"
        )
    print()
    print(f"peak RSS of the benchmark process: {rss:.0f} MiB")
    check_s = results[0][1]
    verdict = "met" if check_s <= TARGET_S else "missed"
    print(f"target: check of {args.rows:,} rows ≤ {TARGET_S} s: {verdict} ({check_s:.2f} s)")
    if fresh:
        print()
        print("| fresh process | s | peak RSS MiB | target |")
        print("| --- | --- | --- | --- |")
        for label, seconds, rss_mib, target in fresh:
            mib = f"{rss_mib:.0f}" if rss_mib else "-"
            print(f"| {label} | {seconds:.2f} | {mib} | {target} |")
    return 0


_CHILD = """
import re, sys, time
started = time.perf_counter()
from services.intake.checking import check_bytes
from services.intake.workbook import Limits
data = open(sys.argv[1], "rb").read()
imported = time.perf_counter()
checked = check_bytes(data, "xlsx", employer_no=4711, period="2025-03", language="de",
                      limits=Limits())
done = time.perf_counter()
assert checked.status == "ok", checked.findings[:3]
# VmHWM, not ru_maxrss: the latter keeps the high-water mark of the forked parent
status = open("/proc/self/status").read()
print(done - imported, int(re.search(r"VmHWM:\\s+(\\d+)", status).group(1)) / 1024)
"""


def fresh_process_figures(data: bytes, repeat: int) -> list[tuple[str, float, float, str]]:
    """Parse + check in a process of its own (honest peak memory), and the whole command."""
    import subprocess
    import tempfile

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="bench-intake-check-") as tmp:
        path = Path(tmp) / "list.xlsx"
        path.write_bytes(data)
        runs = []
        for _ in range(repeat):
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, str(path)],
                cwd=root,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            runs.append((float(out[0]), float(out[1])))
        seconds, rss = min(runs)
        verdict = "met" if seconds <= 3 and rss <= 500 else "MISSED"
        figures = [("parse + check (check_bytes)", seconds, rss, f"≤ 3 s, ≤ 500 MB: {verdict}")]
        started = time.perf_counter()
        command = ["validate", str(path), "--employer", "4711", "--period", "2025-03", "--json"]
        validate = subprocess.run(
            [sys.executable, "-m", "services.cli", *command],
            cwd=root,
            capture_output=True,
            check=False,
        )
        wall = time.perf_counter() - started
        figures.append((f"bvgconnect validate --json (exit {validate.returncode})", wall, 0, ""))
        return figures


if __name__ == "__main__":
    raise SystemExit(main())

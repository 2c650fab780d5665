"""Speed of `bvgconnect price` (issue 3): target ≥ 50,000 rows/s on one core.

Generates `--rows` (200,000) realistic input lines with a fixed seed: periods 2019-2026, BVG
ages 16-70, hourly wages 5-80 CHF, 1-200 hours, about 8 % with an IV degree, 3 % negative
corrections, a third with JSON numbers instead of strings, 5 % with a plan split of 0.6, and
a few bad lines. Then, pinned to one CPU:

1. in-process: a fresh Python process imports `services.pricing.offline` and times
   `offline.run(input file, output file)` alone, `--repeat` times (the best run is shown);
2. the whole command: `bvgconnect price < input > output` as a subprocess, start-up included.

Peak RSS is that process's own high-water mark (`wait4`). A measurement: exits 0 regardless.

    .venv/bin/python benchmarks/bench_price_cli.py [--rows 200000] [--repeat 3] [--seed 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_ROWS_PER_S = 50_000

IN_PROCESS = """
import json, resource, sys, time
from services.pricing import offline
source, target, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = []
for _ in range(repeat):
    with open(source, encoding="utf-8") as stdin, open(target, "w", encoding="utf-8") as stdout:
        wall, cpu = time.perf_counter(), time.process_time()
        status = offline.run(stdin, stdout)
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
wall, cpu = min(runs)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall": wall, "cpu": cpu, "status": status, "rss": rss}))
"""


def generate(rows: int, seed: int) -> str:
    rnd = random.Random(seed)
    lines = []
    for _ in range(rows):
        year, month = rnd.randint(2019, 2026), rnd.randint(1, 12)
        bvg_age = rnd.randint(16, 70)
        birth = f"{year - bvg_age}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        hours = round(rnd.uniform(1, 200), rnd.choice((0, 1, 2)))
        wage = round(rnd.uniform(5, 80) * hours, 2)
        if rnd.random() < 0.03:
            hours, wage = -hours, -wage
        row: dict[str, object] = {
            "period": f"{year}-{month:02d}",
            "birth_date": birth,
            "sex": rnd.choice("MF"),
        }
        if rnd.random() < 1 / 3:
            line_numbers = f'"hours": {hours}, "base_wage": {wage:.2f}'
        else:
            line_numbers = f'"hours": "{hours}", "base_wage": "{wage:.2f}"'
        if rnd.random() < 0.08:
            row["invalidity_degree"] = rnd.choice((30, 40, 45, 50, 55, 60, 65, 70, 100))
        if rnd.random() < 0.05:
            row["employer_share"] = "0.6"
        text = json.dumps(row)[:-1] + ", " + line_numbers + "}"
        if rnd.random() < 0.001:
            text = text[: len(text) // 2]  # a truncated line: an error line, and go on
        lines.append(text)
    return "\n".join(lines) + "\n"


def command() -> list[str]:
    script = Path(sys.executable).parent / "bvgconnect"
    return [str(script), "price"] if script.exists() else [sys.executable, "-m", "services.cli"]


@dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_s: float
    rss_mib: float
    status: int


def run_child(args: list[str], stdin_path: Path, stdout_path: Path) -> Measured:
    """Wall and CPU seconds, peak RSS and exit status of one child process."""
    with stdin_path.open("rb") as stdin, stdout_path.open("wb") as stdout:
        started = time.perf_counter()
        child = subprocess.Popen(args, stdin=stdin, stdout=stdout, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(elapsed, cpu, usage.ru_maxrss / 1024, child.returncode)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--generate", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    common = ["--rows", str(args.rows), "--seed", str(args.seed)]
    if args.generate:
        started = time.perf_counter()
        Path(args.generate).write_text(generate(args.rows, args.seed), encoding="utf-8")
        print(f"generated {args.rows:,} lines in {time.perf_counter() - started:.1f} s")
        return 0

    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # children inherit: everything below runs on one core
    with tempfile.TemporaryDirectory(prefix="bench-price-") as folder:
        source, target = Path(folder) / "in.jsonl", Path(folder) / "out.jsonl"
        # Generated in a child: a fork inherits the parent's peak RSS, so the parent stays small.
        subprocess.run(
            [sys.executable, __file__, "--generate", str(source), *common],
            check=True,
        )

        in_process = subprocess.run(
            [sys.executable, "-c", IN_PROCESS, str(source), str(target), str(args.repeat)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        got = json.loads(in_process.stdout)
        in_proc = Measured(got["wall"], got["cpu"], got["rss"], got["status"])
        whole_target = Path(folder) / "out-command.jsonl"
        whole = run_child(command(), source, whole_target)
        empty = Path(folder) / "empty.jsonl"
        empty.write_text("", encoding="utf-8")
        startup = run_child(command(), empty, Path(folder) / "out-empty.jsonl")
        outputs = target.read_text(encoding="utf-8").splitlines()
        errors = sum(1 for line in outputs if line.startswith('{"line":'))
        subject = sum(1 for line in outputs if '"subject": true' in line)
        same = whole_target.read_text(encoding="utf-8").splitlines() == outputs

    print(f"pinned to cpu {cpu}; load average {os.getloadavg()[0]:.2f}")
    print(
        f"output: {len(outputs):,} lines ({subject:,} subject, {errors:,} error lines); "
        f"subprocess output identical: {same}; exit status {in_proc.status}/{whole.status}"
    )
    print()
    print("| run | rows | wall s | rows/s (wall) | CPU s | rows/s (CPU) | peak RSS MiB | target |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, rows, m in (
        (f"`offline.run` in-process (best of {args.repeat})", args.rows, in_proc),
        ("`bvgconnect price < file` (whole command)", args.rows, whole),
        ("`bvgconnect price < empty file` (start-up only)", 0, startup),
    ):
        rates, verdict = "| |", ""
        if rows:
            wall_rate, cpu_rate = rows / m.wall_s, rows / m.cpu_s
            rates = f"| {wall_rate:,.0f} | {m.cpu_s:.2f} | {cpu_rate:,.0f} |"
            met = "met" if min(wall_rate, cpu_rate) >= TARGET_ROWS_PER_S else "missed"
            verdict = f"≥ {TARGET_ROWS_PER_S:,} rows/s: {met}"
        else:
            rates = f"| | {m.cpu_s:.2f} | |"
        print(f"| {name} | {rows:,} | {m.wall_s:.2f} {rates} {m.rss_mib:.0f} | {verdict} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

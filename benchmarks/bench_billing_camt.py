"""camt.054 parsing: a 10,000-entry bank file, one entry per payment and batched (issue 7).

Writes the files with `tests/support/camt.py` (realistic SPS camt.054.001.08: debtor address,
bank codes, agents, QR references), then parses each in a fresh child process, best of
`--repeat` runs, so that the peak RSS is the parse's own. Two reference rows show where the time
goes: expat alone (no handlers, no tree) and the defused parser building the whole tree without
reading it. Prints a table; always exits 0. Target: well within 1 s per 10,000 entries (the
service books such a file in ≤ 5 s).
"""

from __future__ import annotations

import argparse
import json
import pyexpat
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from xml.etree.ElementTree import TreeBuilder

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from defusedxml.ElementTree import DefusedXMLParser

from services.billing.camt import parse_camt054
from tests.support.camt import sample_credits, write_camt054


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(repeat: int, run: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def expat_alone(data: bytes) -> None:
    pyexpat.ParserCreate(namespace_separator="}").Parse(data, True)


def defused_tree(data: bytes) -> None:
    builder = TreeBuilder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True)
    expat = parser.parser
    expat.ordered_attributes = False
    expat.StartElementHandler = builder.start
    expat.EndElementHandler = builder.end
    parser.feed(data)
    parser.close()


def child(path: str, mode: str, repeat: int) -> int:
    """Runs in a fresh process: one measurement, printed as JSON."""
    data = Path(path).read_bytes()
    rss_before = peak_rss_mib()
    credits = 0

    def parse() -> None:
        nonlocal credits
        credits = len(parse_camt054(data).credits)

    run: Callable[[], None] = {
        "parse": parse,
        "expat": lambda: expat_alone(data),
        "tree": lambda: defused_tree(data),
    }[mode]
    seconds = best_of(repeat, run)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "credits": credits,
                "rss_before": rss_before,
                "rss_peak": peak_rss_mib(),
            }
        )
    )
    return 0


def measure(path: Path, mode: str, repeat: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), mode, "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def write_files(folder: str, entries: int, batch_size: int) -> int:
    """Runs in a child process, so that the parent, whose peak RSS a fork inherits, stays small."""
    credits = sample_credits(entries)
    Path(folder, "single.xml").write_bytes(write_camt054(credits))
    Path(folder, "batched.xml").write_bytes(
        write_camt054(credits, batched=True, batch_size=batch_size)
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("FILE", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--write", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], args.repeat)
    if args.write:
        return write_files(args.write, args.entries, args.batch_size)

    n = args.entries
    print(f"# bench_billing_camt: {n:,} payments, camt.054.001.08, best of {args.repeat}")
    print()
    print("| file | what | MiB | seconds | payments/s | peak RSS MiB (before parsing) |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        sizes = ["--entries", str(n), "--batch-size", str(args.batch_size)]
        subprocess.run([sys.executable, __file__, "--write", folder, *sizes], check=True)
        for name, file in (
            ("one entry per payment", "single.xml"),
            (f"batched, {args.batch_size} per entry", "batched.xml"),
        ):
            path = Path(folder, file)
            mib = path.stat().st_size / 2**20
            for mode, what in (
                ("parse", "`parse_camt054`"),
                ("tree", "reference: defused tree only"),
                ("expat", "reference: expat alone"),
            ):
                r = measure(path, mode, args.repeat)
                if mode == "parse" and r["credits"] != n:
                    print(f"| {name} | **{r['credits']:,} credits, expected {n:,}** | | | | |")
                print(
                    f"| {name} | {what} | {mib:.1f} | {r['seconds']:.3f} | {n / r['seconds']:,.0f} "
                    f"| {r['rss_peak']:.0f} ({r['rss_before']:.0f}) |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())

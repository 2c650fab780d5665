"""Cold start of the whole suite: `bvgconnect up` until every service is ready, then Ctrl-C.

Runs `.venv/bin/bvgconnect up` three times: twice with a fresh data folder (a first start:
initdb, migrations, demo data) and once more reusing the second folder (a second start).
For each it measures the time until the line starting "bvgconnect is up" and until each
service's /readyz (ports 8101-8106) answers 200, then sends SIGINT and measures the time to
the process's exit. `DATABASE_URL` and `KAFKA_BOOTSTRAP_SERVERS` are removed from the
environment, so the embedded servers are what starts. A measurement: exits 0 regardless.

Only one suite can bind ports 8101-8106 (base+1..+6 with BVG_HTTP_PORT_BASE): while any
of them is taken (a test run, another suite), this script waits and retries, not fails.

    .venv/bin/python benchmarks/bench_cold_start.py [--timeout 120] [--port-wait 300]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.runtime.settings import suite_ports  # noqa: E402

TARGET_READY_S = 30.0
#: The suite's ports: 8101-8106 unless BVG_HTTP_PORT_BASE moves them (as `bvgconnect up` does).
DEFAULT_PORTS = suite_ports(int(os.environ.get("BVG_HTTP_PORT_BASE") or 8100))
UP_LINE = "bvgconnect is up"


@dataclass
class Run:
    name: str
    up_line_s: float | None = None
    ready_s: dict[str, float] = field(default_factory=dict)
    stop_s: float | None = None
    exit_code: int | None = None
    note: str = ""

    @property
    def all_ready_s(self) -> float | None:
        if len(self.ready_s) < len(DEFAULT_PORTS):
            return None
        return max(self.ready_s.values())


def command() -> list[str]:
    script = ROOT / ".venv" / "bin" / "bvgconnect"
    if script.exists():
        return [str(script), "up"]
    found = shutil.which("bvgconnect")
    return [found, "up"] if found else [sys.executable, "-m", "services.cli", "up"]


def busy_ports() -> list[int]:
    taken = []
    for port in DEFAULT_PORTS.values():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # As uvicorn binds: TIME_WAIT leftovers of our /readyz polls do not count.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                taken.append(port)
    return taken


def wait_for_free_ports(limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    announced = False
    while taken := busy_ports():
        if time.monotonic() > deadline:
            return False
        if not announced:
            print(f"ports {taken} are busy; waiting (up to {limit_s:.0f} s) ...", flush=True)
            announced = True
        time.sleep(2)
    return True


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def one_run(name: str, data_dir: Path, timeout_s: float, env: dict[str, str]) -> Run:
    run = Run(name)
    lines: list[str] = []
    up_seen = threading.Event()
    started = time.monotonic()
    process = subprocess.Popen(
        command(),
        cwd=ROOT,
        env={**env, "BVG_DATA_DIR": str(data_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())
            if line.startswith(UP_LINE) and run.up_line_s is None:
                run.up_line_s = time.monotonic() - started
                up_seen.set()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    deadline = started + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        for service, port in DEFAULT_PORTS.items():
            if service not in run.ready_s and ready(port):
                run.ready_s[service] = time.monotonic() - started
        if up_seen.is_set() and run.all_ready_s is not None:
            break
        time.sleep(0.05)
    if process.poll() is not None:
        run.note = f"exited early ({process.returncode}): {' / '.join(lines[-3:])}"
    elif run.up_line_s is None or run.all_ready_s is None:
        run.note = f"not ready within {timeout_s:.0f} s"

    children = []
    with contextlib.suppress(psutil.Error):
        children = psutil.Process(process.pid).children(recursive=True)
    if process.poll() is None:
        stopping = time.monotonic()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
            run.stop_s = time.monotonic() - stopping
        except subprocess.TimeoutExpired:
            run.note += " did not stop within 60 s after SIGINT; killed"
            process.kill()
            process.wait(10)
    run.exit_code = process.returncode
    reader.join(5)
    left = [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    # Postgres detaches from `up` (its parent is init), so also look for the data folder.
    for proc in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if str(data_dir) in " ".join(proc.info["cmdline"] or ()) and proc.pid not in left:
                left.append(proc.pid)
    if left:
        run.note += f" {len(left)} child processes still running after exit: {left}"
    if busy_ports():
        time.sleep(1)
        if taken := busy_ports():
            run.note += f" ports {taken} still taken after exit"
    return run


def fmt(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def print_table(runs: list[Run]) -> None:
    header = ("run", "'is up' line (s)", "all /readyz 200 (s)", "slowest", "to stop (s)", "exit")
    rows = []
    for r in runs:
        slowest = max(r.ready_s, key=lambda s: r.ready_s[s]) if r.ready_s else "-"
        rows.append(
            (
                r.name,
                fmt(r.up_line_s),
                fmt(r.all_ready_s),
                slowest,
                fmt(r.stop_s),
                str(r.exit_code),
            )
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print()
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print(f"target: all services ready <= {TARGET_READY_S:.0f} s after `bvgconnect up`")
    for r in runs:
        ready = r.all_ready_s
        verdict = "met" if ready is not None and ready <= TARGET_READY_S else "MISSED"
        per_service = ", ".join(f"{s} {t:.1f}" for s, t in sorted(r.ready_s.items()))
        print(f"  {r.name}: {verdict}; /readyz first 200 at: {per_service or '-'} {r.note}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Cold start of `bvgconnect up`.")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to ready, at most")
    parser.add_argument("--port-wait", type=float, default=300.0, help="wait for busy ports")
    args = parser.parse_args()
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    env.pop("BVG_DATABASE_URL", None)
    env.pop("BVG_KAFKA_BOOTSTRAP_SERVERS", None)
    print(f"command: {' '.join(command())}; {os.cpu_count()} CPUs", flush=True)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bvg-cold-") as tmp:
        plan = [
            ("1 fresh data dir", Path(tmp) / "a"),
            ("2 fresh data dir", Path(tmp) / "b"),
            ("3 reused data dir (of 2)", Path(tmp) / "b"),
        ]
        for name, data_dir in plan:
            if not wait_for_free_ports(args.port_wait):
                runs.append(Run(name, note=f"ports {busy_ports()} stayed busy; skipped"))
                continue
            print(f"run {name} ...", flush=True)
            runs.append(one_run(name, data_dir, args.timeout, env))
    print_table(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

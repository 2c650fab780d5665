"""`bvgconnect simulate --chaos` against a fresh `bvgconnect up`: the invariants hold while
services are SIGKILLed and restarted (issue 9). A small world, so that it takes about a minute;
the full year (50 employers, 5,000 workers) is `benchmarks/bench_simulation.py`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_suite import free_base, start_suite


def test_a_quarter_with_services_killed_keeps_every_invariant(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    env.update({"BVG_DATA_DIR": str(tmp_path / "data"), "BVG_HTTP_PORT_BASE": str(free_base())})
    proc, _ = start_suite(env)
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "services.cli",
                "simulate",
                *("--employers", "4", "--workers", "80", "--months", "3", "--seed", "3"),
                *("--chaos", "--chaos-every", "4"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "all invariants hold" in run.stdout
        killed = re.search(r"services killed \(SIGKILL\)\s+(.*)", run.stdout)
        assert killed is not None and killed.group(1) != "none", run.stdout
        assert re.search(r"lists sent \(ok / faulty first / late\)\s+12 / 2 / 1", run.stdout)
        assert re.search(r"terminations\s+1\b", run.stdout), run.stdout
        # No personal data in what the simulation prints.
        assert not re.search(r"756\.\d{4}\.\d{4}\.\d{2}", run.stdout)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()

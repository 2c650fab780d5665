"""`bvgconnect simulate --chaos` against a fresh `bvgconnect up`: the invariants hold while
services are SIGKILLed and restarted (issue 9). A small world, so that it takes about a minute;
the full year (50 employers, 5,000 workers) is `benchmarks/bench_simulation.py`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from services.runtime import infra
from tests.e2e.test_suite import free_base, start_suite
from tests.integration.test_dunning_notices import Inbox


def recipients(inbox: Inbox) -> set[str]:
    return {rcpt for rcpts, _ in inbox.messages for rcpt in rcpts}


@pytest.mark.timeout(600)
def test_a_quarter_with_services_killed_keeps_every_invariant(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    env.update({"BVG_DATA_DIR": str(tmp_path / "data"), "BVG_HTTP_PORT_BASE": str(free_base())})
    # The notices of a termination go to a real SMTP server (aiosmtpd).
    inbox = Inbox()
    smtp_port = infra.free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    suite_env = {**env, "BVG_SMTP_HOST": "127.0.0.1", "BVG_SMTP_PORT": str(smtp_port)}
    proc, _ = start_suite(suite_env, "--no-demo")
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "services.cli",
                "simulate",
                *("--employers", "4", "--workers", "80", "--months", "3", "--seed", "3"),
                *("--chaos", "--chaos-every", "12"),
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
        # The world's life events: a correction (of a month not insured), an IV decision of
        # 70 % or more (insurance ends by E5), two assignments in a month, a month off ill.
        assert re.search(r"correction rows \(negative hours\), credited\s+1, CHF 0.00", run.stdout)
        assert re.search(r"IV degree changes reported\s+2\b", run.stdout)
        assert re.search(r"coverage ends by rule\s+.*\bE5 1\b", run.stdout), run.stdout
        assert re.search(r"rows with two assignments \(Einsätze\)\s+1\b", run.stdout)
        assert re.search(r"months off ill or after an accident \(code 7/5\)\s+1\b", run.stdout)
        # No personal data in what the simulation prints.
        assert not re.search(r"756\.\d{4}\.\d{4}\.\d{2}", run.stdout)
        # One termination: its three notices reach the mail server (the association's copy
        # of the 2nd reminder, the catch-all institution, the labour office). At least once:
        # a notice whose sender was killed after the server took it is sent again.
        deadline = time.monotonic() + 60
        while len(recipients(inbox)) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(recipients(inbox)) == 3, recipients(inbox)
    finally:
        smtp.stop()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()

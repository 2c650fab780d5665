"""`bvgconnect up` on a fresh data folder: six services ready, demo data flowing, clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import asyncpg

from services.runtime import infra
from services.runtime.settings import SERVICE_NAMES, suite_ports
from tests.support.cli import run_cli
from tests.support.xlsx import EMPLOYER_NO, build_list, sample_row

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def free_base() -> int:
    return infra.free_port_base()


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.status, answer.read().decode()


def start_suite(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.startswith("Ctrl-C stops everything"):
            return proc, lines
    proc.kill()
    raise AssertionError("the suite did not come up:\n" + "\n".join(lines))


async def employers_in(dsn: str, schema: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(f"SELECT employer_no FROM {schema}.employers ORDER BY 1")
        return [r["employer_no"] for r in rows]
    finally:
        await conn.close()


def assert_upload_is_checked_and_priced(env: dict[str, str], intake: str) -> None:
    minted = run_cli(env, "token", "--employer", str(EMPLOYER_NO))
    assert minted.returncode == 0, minted.stderr
    auth = {"Authorization": f"Bearer {minted.stdout.strip()}"}
    request = urllib.request.Request(
        f"{intake}/employers/{EMPLOYER_NO}/lists/2025-03",
        data=build_list([sample_row(i) for i in range(3)]),
        headers={**auth, "Content-Type": XLSX},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 202
        report_url = intake + json.loads(answer.read())["report"]
    deadline = time.monotonic() + 60
    while True:
        with urllib.request.urlopen(
            urllib.request.Request(report_url, headers=auth), timeout=10
        ) as answer:
            report = json.loads(answer.read())
        if report.get("pricing", {}).get("complete"):
            break
        assert time.monotonic() < deadline, f"the list was not priced: {report}"
        time.sleep(0.3)
    assert report["status"] == "ok" and report["rows"] == 3, report
    anonymous = urllib.request.Request(report_url)
    try:
        urllib.request.urlopen(anonymous, timeout=10)
        raise AssertionError("a report without a token")
    except urllib.error.HTTPError as refused:
        assert refused.code == 401


def _post_json(url: str, body: dict[str, str]) -> dict[str, str]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        result: dict[str, str] = json.loads(answer.read())
        return result


def demo_login_works_at_intake(auth_url: str, intake_url: str, sms_file: Path) -> None:
    from services.auth.demo import DEMO_LOGIN, DEMO_PASSWORD

    first = _post_json(
        f"{auth_url}/login/password", {"login": DEMO_LOGIN, "password": DEMO_PASSWORD}
    )
    assert first["method"] == "sms"
    code = json.loads(sms_file.read_text().splitlines()[-1])["text"].split(": ", 1)[1][:6]
    session = _post_json(
        f"{auth_url}/login/sms", {"challenge_id": first["challenge_id"], "code": code}
    )
    template = urllib.request.Request(
        f"{intake_url}/employers/{EMPLOYER_NO}/lists/template",
        headers={"Authorization": f"Bearer {session['access_token']}"},
    )
    with urllib.request.urlopen(template, timeout=10) as answer:
        assert answer.status == 200


def test_up_runs_all_services_and_stops_cleanly(tmp_path: Path) -> None:
    base = free_base()
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    env.update({"BVG_DATA_DIR": str(tmp_path / "data"), "BVG_HTTP_PORT_BASE": str(base)})
    ports = suite_ports(base)

    proc, lines = start_suite(env)
    try:
        assert any(line.startswith("bvgconnect is up in") for line in lines)
        assert any("demo" in line and "1001" in line for line in lines)
        for name in SERVICE_NAMES:
            root = f"http://127.0.0.1:{ports[name]}"
            assert get(f"{root}/healthz")[0] == 200
            status, body = get(f"{root}/readyz")
            assert status == 200 and json.loads(body)["status"] == "ready"
            assert "bvg_outbox_pending" in get(f"{root}/metrics")[1]
            assert get(f"{root}/openapi.json")[0] == 200
        state = json.loads((tmp_path / "data" / "suite.json").read_text())
        dsn = state["database_url"]

        # The demo employer travels auth → outbox → broker → every projection.
        deadline = time.monotonic() + 30
        while asyncio.run(employers_in(dsn, "dunning")) != [1001]:
            assert time.monotonic() < deadline, "demo employer never reached dunning"
            time.sleep(0.2)
        assert asyncio.run(employers_in(dsn, "intake")) == [1001]

        # A list uploaded over HTTP flows intake → coverage → pricing → back into its report.
        assert_upload_is_checked_and_priced(env, f"http://127.0.0.1:{ports['intake']}")
        # The demo user signs in at auth (password + SMS code from the development sink);
        # intake accepts auth's token: one development key for `token` and real logins.
        demo_login_works_at_intake(
            f"http://127.0.0.1:{ports['auth']}",
            f"http://127.0.0.1:{ports['intake']}",
            tmp_path / "data" / "sms-outbox.jsonl",
        )

        tick = run_cli(env, "clock", "tick", "--date", "2026-01-15")
        assert tick.returncode == 0, tick.stderr
        assert "clock.day-started.v1" in tick.stdout
        assert run_cli(env, "dlq", "list").returncode == 0
        assert run_cli(env, "contracts", "export", "--check").returncode == 0
        second = run_cli(env, "up")
        assert second.returncode != 0 and "already runs" in second.stderr

        down = run_cli(env, "down")
        assert down.returncode == 0, down.stderr
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)

    # A second start reuses the data folder: the demo is there already, nothing doubled.
    proc, lines = start_suite(env)
    try:
        assert any("kept from an earlier start" in line for line in lines)
        assert asyncio.run(employers_in(dsn, "auth")) == [1001]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()

"""A process that cannot start says why in one line, and exits non-zero; no stack trace."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run_service(
    env_overrides: dict[str, str], service: str = "intake"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BVG_")}
    env.update({"BVG_DATA_DIR": "/nonexistent-bvg", "BVG_KAFKA_CONNECT_TIMEOUT_S": "3"})
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "run", service],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("variable", "value"),
    [("BVG_HTTP_PORT", "eighty"), ("BVG_RETRY_ATTEMPTS", "0"), ("BVG_LOG_LEVEL", "LOUD")],
)
def test_malformed_setting_is_named(variable: str, value: str) -> None:
    result = run_service({variable: value})
    assert result.returncode == 2
    assert_one_line(result, variable)


def test_unreachable_database_is_named(bootstrap: str) -> None:
    result = run_service(
        {
            "DATABASE_URL": "postgresql://bvg:secret@127.0.0.1:1/bvg",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        }
    )
    assert_one_line(result, "DATABASE_URL", "127.0.0.1:1")
    assert "secret" not in result.stderr


def test_unreachable_broker_is_named(dsn: str) -> None:
    result = run_service({"DATABASE_URL": dsn, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert_one_line(result, "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")


def test_no_servers_and_no_suite_running() -> None:
    result = run_service({})
    assert_one_line(result, "DATABASE_URL", "bvgconnect up")

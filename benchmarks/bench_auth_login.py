"""Password + TOTP login over HTTP (auth issue: p95 ≤ 300 ms with the chosen Argon2id
parameters). Starts the auth service on its own embedded Postgres and broker (or the servers
of DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS), adds `--users` TOTP users, then signs each in
`--rounds` times, one login after the other: `POST /login/password` then `POST /login/totp`
through the ASGI app (no socket). Prints a table; always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pyotp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_outbox_inbox import (
    create_database,
    drop_database,
    infrastructure,
)
from services.auth import domain
from services.auth.demo import DEMO_EMPLOYER
from services.auth.tokens import SigningKey
from services.registry import spec_of
from services.runtime.clock import FixedClock
from services.runtime.service import Runtime, create_app
from services.runtime.settings import Settings
from services.runtime.telemetry import configure_logging

PASSWORD = "correct horse battery staple 7"


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def run(users: int, rounds: int, admin_dsn: str, bootstrap: str, tmp: Path) -> None:
    name, dsn = await create_database(admin_dsn)
    key_dir = tmp / "auth-dev-key"
    key = SigningKey.load_or_create(key_dir)
    settings = Settings(
        topic_prefix=f"b{uuid.uuid4().hex[:8]}.", data_dir=tmp, auth_jwks_file=key_dir / "jwks.json"
    )
    clock = FixedClock()
    runtime = Runtime(spec_of("auth"), settings, dsn=dsn, bootstrap=bootstrap, clock=clock)
    await runtime.start()
    app = create_app(runtime)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://auth"
        ) as client:
            op = key.issue(
                now=clock.now(),
                user_id=uuid.uuid4(),
                kind="operator",
                employer_no=None,
                topics=[],
                level=3,
            )
            await client.put(
                "/employers/3001",
                json=DEMO_EMPLOYER.model_dump(mode="json"),
                headers={"Authorization": f"Bearer {op}"},
            )
            admin = key.issue(
                now=clock.now(),
                user_id=uuid.uuid4(),
                kind="admin",
                employer_no=3001,
                topics=["users"],
                level=3,
            )
            secrets: dict[str, str] = {}
            for i in range(users):
                r = await client.post(
                    "/employers/3001/users",
                    json={"login": f"u{i}@3001", "password": PASSWORD, "topics": ["mutations"]},
                    headers={"Authorization": f"Bearer {admin}"},
                )
                uri = r.json()["otpauth_uri"]
                secrets[f"u{i}@3001"] = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)[
                    "secret"
                ][0]
            latencies: list[float] = []
            for _ in range(rounds):
                clock.advance(timedelta(seconds=31))  # a fresh TOTP step for every user
                for login, secret in secrets.items():
                    start = time.perf_counter()
                    first = await client.post(
                        "/login/password", json={"login": login, "password": PASSWORD}
                    )
                    code = pyotp.TOTP(secret).at(clock.now())
                    second = await client.post(
                        "/login/totp",
                        json={"challenge_id": first.json()["challenge_id"], "code": code},
                    )
                    latencies.append((time.perf_counter() - start) * 1000)
                    assert second.status_code == 200, second.text
    finally:
        await runtime.stop()
        await drop_database(admin_dsn, name)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"# bench_auth_login: {len(latencies)} password + TOTP logins over HTTP (ASGI), "
        f"Argon2id t={domain.ARGON2_TIME_COST}, m={domain.ARGON2_MEMORY_KIB} KiB, "
        f"p={domain.ARGON2_PARALLELISM}\n"
    )
    print("| logins | p50 ms | p95 ms | p99 ms | mean ms | target p95 ≤ 300 ms | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    p95 = pct(latencies, 0.95)
    print(
        f"| {len(latencies)} | {pct(latencies, 0.5):.1f} | **{p95:.1f}** | "
        f"{pct(latencies, 0.99):.1f} | {statistics.mean(latencies):.1f} | "
        f"{'met' if p95 <= 300 else 'missed'} | {rss:.0f} MiB |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    configure_logging("bench", "WARNING", "text")
    with (
        tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp,
        infrastructure(Path(tmp)) as (admin_dsn, bootstrap, _),
    ):
        asyncio.run(run(args.users, args.rounds, admin_dsn, bootstrap, Path(tmp)))


if __name__ == "__main__":
    main()

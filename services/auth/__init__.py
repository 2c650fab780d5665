"""The auth service: employers (tenants), users, credentials, sessions, audit log."""

from __future__ import annotations

from pathlib import Path

from services.runtime.service import ServiceSpec

from .handlers import PRODUCES, SUBSCRIPTIONS


def spec() -> ServiceSpec:
    return ServiceSpec(
        name="auth",
        title="bvgconnect auth",
        migrations=Path(__file__).parent / "migrations",
        subscriptions=SUBSCRIPTIONS,
        produces=PRODUCES,
    )

"""How the auth service is assembled: schema, migrations, subscriptions, topics."""

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

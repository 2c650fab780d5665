"""How the coverage service is assembled: schema, migrations, subscriptions, topics."""

from __future__ import annotations

from pathlib import Path

from services.runtime.service import ServiceSpec

from .handlers import PRODUCES, SUBSCRIPTIONS


def spec() -> ServiceSpec:
    return ServiceSpec(
        name="coverage",
        title="bvgconnect coverage",
        migrations=Path(__file__).parent / "migrations",
        subscriptions=SUBSCRIPTIONS,
        produces=PRODUCES,
    )

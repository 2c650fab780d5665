"""How the intake service is assembled: schema, migrations, subscriptions, topics."""

from __future__ import annotations

from pathlib import Path

from services.runtime.handlers import EMPLOYER_MIGRATIONS
from services.runtime.service import ServiceSpec

from .handlers import PRODUCES, SUBSCRIPTIONS


def spec() -> ServiceSpec:
    return ServiceSpec(
        name="intake",
        title="bvgconnect intake",
        migrations=Path(__file__).parent / "migrations",
        subscriptions=SUBSCRIPTIONS,
        produces=PRODUCES,
        extra_migrations=(EMPLOYER_MIGRATIONS,),
    )

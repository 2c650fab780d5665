"""How the auth service is assembled: schema, migrations, subscriptions, topics."""

from __future__ import annotations

from pathlib import Path

from services.runtime.handlers import BUSINESS_DAY_MIGRATIONS
from services.runtime.service import ServiceSpec

from .api import router
from .handlers import PRODUCES, SUBSCRIPTIONS


def spec() -> ServiceSpec:
    return ServiceSpec(
        name="auth",
        title="bvgconnect auth",
        migrations=Path(__file__).parent / "migrations",
        subscriptions=SUBSCRIPTIONS,
        produces=PRODUCES,
        routers=(router,),
        extra_migrations=(BUSINESS_DAY_MIGRATIONS,),
    )

"""How the billing service is assembled: schema, migrations, subscriptions, topics, API."""

from __future__ import annotations

from pathlib import Path

from services.runtime.handlers import (
    BUSINESS_DAY_MIGRATIONS,
    EMPLOYER_MIGRATIONS,
    REVOCATION_MIGRATIONS,
)
from services.runtime.service import ServiceSpec

from .api import router
from .handlers import PRODUCES, SUBSCRIPTIONS, refresh_open_balance


def spec() -> ServiceSpec:
    return ServiceSpec(
        name="billing",
        title="bvgconnect billing",
        migrations=Path(__file__).parent / "migrations",
        subscriptions=SUBSCRIPTIONS,
        produces=PRODUCES,
        routers=(router,),
        extra_migrations=(EMPLOYER_MIGRATIONS, BUSINESS_DAY_MIGRATIONS, REVOCATION_MIGRATIONS),
        metrics_refresh=(refresh_open_balance,),
    )

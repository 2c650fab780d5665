"""The six services by name."""

from __future__ import annotations

import importlib

from services.runtime.service import ServiceSpec
from services.runtime.settings import SERVICE_NAMES


def spec_of(name: str) -> ServiceSpec:
    if name not in SERVICE_NAMES:
        raise KeyError(f"unknown service {name!r}; known: {', '.join(SERVICE_NAMES)}")
    module = importlib.import_module(f"services.{name}.service")
    spec: ServiceSpec = module.spec()
    return spec


def all_specs() -> list[ServiceSpec]:
    return [spec_of(name) for name in SERVICE_NAMES]

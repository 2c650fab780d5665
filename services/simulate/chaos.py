"""`--chaos`: SIGKILL a random service of the embedded suite at random moments.

`bvgconnect up` starts a service that died again; the simulation's acts retry while it is
away, and the invariants must hold all the same (outbox + inbox: nothing lost, nothing doubled).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
from pathlib import Path

import httpx

from services.runtime import infra
from services.runtime.settings import SERVICE_NAMES


class Chaos:
    def __init__(
        self, data_dir: Path, http: dict[str, str], seed: int, *, every_s: float = 15.0
    ) -> None:
        self.data_dir = data_dir
        self.http = http
        self.rng = random.Random(seed * 31 + 5)
        #: A kill every `every_s` seconds on average (uniformly half to one and a half).
        self.every_s = (every_s / 2, every_s * 1.5)
        self.kills: list[str] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chaos")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _ready(self, name: str) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                return (await client.get(f"{self.http[name]}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(*self.every_s))
            name = self.rng.choice(SERVICE_NAMES)
            state = infra.read_state(self.data_dir)
            if state is None or not await self._ready(name):
                continue  # still starting after the last kill: a kill now proves nothing
            pid = int(state["services"][name]["pid"])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                self.kills.append(name)

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

from services.runtime import infra
from services.runtime.settings import SERVICE_NAMES


class Chaos:
    def __init__(self, data_dir: Path, seed: int, *, every_s: tuple[float, float] = (8.0, 30.0)):
        self.data_dir = data_dir
        self.rng = random.Random(seed * 31 + 5)
        self.every_s = every_s
        self.kills: list[str] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chaos")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(*self.every_s))
            name = self.rng.choice(SERVICE_NAMES)
            state = infra.read_state(self.data_dir)
            if state is None:
                continue
            pid = int(state["services"][name]["pid"])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                self.kills.append(name)

"""Background loops that work through a table until it is empty, woken by NOTIFY.

Intake's checker and dunning's notice sender are this loop around their own `step`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from .consumer import is_transient

log = logging.getLogger("bvgconnect.runtime.workers")


async def drain_on_notify(
    dsn: str,
    *,
    channel: str,
    step: Callable[[], Awaitable[bool]],
    poll_s: float,
    what: str,
) -> None:
    """Run `step` until it returns False, then wait for a NOTIFY on `channel` (or `poll_s`),
    for ever. A database outage is waited out (logged with `what`, never personal data);
    any other error ends the loop."""
    wake = asyncio.Event()
    listener: asyncpg.Connection | None = None
    try:
        while True:
            if listener is None or listener.is_closed():
                listener = await _listen(dsn, channel, wake, what)
            wake.clear()
            try:
                while await step():
                    pass
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("%s waits for the database: %s", what, type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=poll_s)
    finally:
        if listener is not None and not listener.is_closed():
            await listener.close()


async def _listen(
    dsn: str, channel: str, wake: asyncio.Event, what: str
) -> asyncpg.Connection | None:
    try:
        conn: asyncpg.Connection = await asyncpg.connect(dsn)
        await conn.add_listener(channel, lambda *_: wake.set())
        return conn
    except (OSError, asyncpg.PostgresError) as exc:
        log.warning("%s cannot listen yet: %s", what, type(exc).__name__)
        return None

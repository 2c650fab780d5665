"""Pausing Python's cycle collector around a bulk job, safely from several threads at once.

Parsing or checking a big file makes hundreds of thousands of small acyclic objects; the cycle
collector would walk them again and again (a fifth to two fifths of the time). `gc.disable()`
is process-wide, so two threads that each save and restore the flag can leave it off for good
(the second saves "off", the first turns it on, the second turns it off again). Here the pauses
are counted: the collector is off while any job runs and back as it was when the last ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()

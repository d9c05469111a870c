"""Wake long-polling requests when the hub's state changes.

Waiters listen on topics (``task:<id>``, ``node:<name>``) so a change wakes only those it concerns.
They re-check the database when woken, so a missed wake-up costs at most the fallback interval;
with several hub replicas the fallback is what carries changes made by another replica.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field


@dataclass(eq=False)
class Waiter:
    topic: str
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)


class Notifier:
    def __init__(self) -> None:
        self._waiters: set[Waiter] = set()
        self._lock = threading.Lock()

    def register(self, topic: str) -> Waiter:
        waiter = Waiter(topic, asyncio.get_running_loop())
        with self._lock:
            self._waiters.add(waiter)
        return waiter

    def unregister(self, waiter: Waiter) -> None:
        with self._lock:
            self._waiters.discard(waiter)

    def notify(self, *topics: str) -> None:
        """Wake the waiters on these topics (all waiters when none is named); any thread."""
        with self._lock:
            waiters = [w for w in self._waiters if not topics or w.topic in topics]
        for waiter in waiters:
            if not waiter.loop.is_closed():
                waiter.loop.call_soon_threadsafe(waiter.event.set)

"""Long polling: answer when there is something to say, or when the wait is over."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

from fastapi.concurrency import run_in_threadpool

from causeway.hub.notify import Waiter
from causeway.hub.state import HubState

T = TypeVar("T")
MAX_WAIT_SECONDS = 30.0
# What no wake-up announces (a lease running out, a round timing out, a replica whose notification
# was lost) is found by re-checking this often. Every idle long poll re-checks: at 0.5 s, 100 idle
# nodes cost a SQLite hub 200 transactions a second and a quarter of a core (see "Many nodes" in
# docs/benchmarks.md); wake-ups, relayed between PostgreSQL replicas, carry the rest at once.
FALLBACK_POLL_SECONDS = 2.0
# ... and all of them together at most this often a second: each waiter's re-check is spread to
# waiters / RECHECKS_PER_SECOND seconds when that is longer. At 2 s, 1,000 waiting nodes made 500
# re-checks a second, each a transaction on SQLite's one writer: the hub spent more than a core
# on them and stopped answering anything else in time (see "Many nodes" in docs/benchmarks.md).
RECHECKS_PER_SECOND = 50.0


def recheck_seconds(waiting: int) -> float:
    """How long a waiter waits for a wake-up before it re-checks, with ``waiting`` waiters."""
    return max(FALLBACK_POLL_SECONDS, waiting / RECHECKS_PER_SECOND)


async def long_poll(
    hub: HubState,
    fetch: Callable[[], T | None],
    wait: float,
    topic: str,
    *,
    listening: Waiter | None = None,
    handed: Callable[[], T | None] | None = None,
) -> T | None:
    """``fetch()`` (in a worker thread) until it finds something, ``wait`` seconds pass (at most
    :data:`MAX_WAIT_SECONDS`) or the hub closes; woken early by a notification on ``topic``.
    ``listening``: a waiter on ``topic`` the caller registered before it looked for itself and
    found nothing: the first fetch waits for it (a change since it registered wakes it).
    ``handed``: what the change that woke it left in memory for it, looked for first, on the
    event loop (it must not block): found, no fetch is needed."""
    deadline = time.monotonic() + max(0.0, min(wait, MAX_WAIT_SECONDS))
    if hub.relay is not None:
        hub.relay.listen()  # other replicas' changes wake this one's waiters too
    while True:
        waiter = listening or hub.notifier.register(topic)
        try:
            found = handed() if handed is not None else None
            if found is None and listening is None:
                found = await run_in_threadpool(fetch)
            listening = None
            remaining = deadline - time.monotonic()
            if found is not None or remaining <= 0 or hub.closing:
                return found
            with suppress(TimeoutError):
                recheck = recheck_seconds(hub.notifier.waiting)
                await asyncio.wait_for(waiter.event.wait(), min(remaining, recheck))
        finally:
            hub.notifier.unregister(waiter)

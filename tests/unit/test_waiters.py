"""Long polls at scale: a wake-up reaches exactly the waiters of its topics, and the idle re-checks
of all waiters together stay bounded however many nodes wait."""

from __future__ import annotations

import asyncio

from causeway.hub.notify import Notifier
from causeway.hub.polling import FALLBACK_POLL_SECONDS, RECHECKS_PER_SECOND, recheck_seconds


def test_a_wake_up_reaches_only_its_topics_and_the_count_follows() -> None:
    async def scenario() -> tuple[list[str], int, int]:
        notifier = Notifier()
        waiters = [notifier.register(f"node:site{i:04d}") for i in range(1000)]
        twice = notifier.register("node:site0003")
        task = notifier.register("task:t1")
        notifier.notify("task:t1", *(f"node:site{i:04d}" for i in range(0, 1000, 250)))
        await asyncio.sleep(0)  # the wake-ups are scheduled on this loop
        woken = [w.topic for w in [*waiters, twice, task] if w.event.is_set()]
        counted = notifier.waiting
        for waiter in [*waiters, twice, task, task]:  # unregistering twice is harmless
            notifier.unregister(waiter)
        return woken, counted, notifier.waiting

    woken, counted, left = asyncio.run(scenario())
    assert woken == [f"node:site{i:04d}" for i in (0, 250, 500, 750)] + ["task:t1"]
    assert (counted, left) == (1002, 0)


def test_idle_rechecks_are_capped_over_all_waiters() -> None:
    assert recheck_seconds(1) == FALLBACK_POLL_SECONDS
    assert recheck_seconds(100) == FALLBACK_POLL_SECONDS
    for waiting in (300, 1000, 5000):
        per_second = waiting / recheck_seconds(waiting)
        assert per_second <= RECHECKS_PER_SECOND
    assert recheck_seconds(1000) == 20.0

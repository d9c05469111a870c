"""Deliveries in batches: the nodes woken together are served by one transaction.

A task queued at n sites wakes n long polls at once, and each used to claim its own assignment in
a transaction of its own: n transactions one after the other on SQLite's one writer, most of each
the fixed cost of a transaction, not the claim. Here a node's request joins the batch of requests
waiting to claim; one of them (the first in) claims for the whole batch in one transaction and
hands each its own assignments, while the next batch gathers. A claim still happens only for a
node whose request is there to take it, with its lease counted from then, as before.

A task's creation goes further: the nodes it gives work that are waiting in a long poll at this
hub have their assignments claimed in the creation's own transaction (:meth:`Deliveries.claim`),
and handed over when it commits (:meth:`Deliveries.hand_over`): the woken request takes them with
no transaction of its own. A hand-over no request takes soon is dropped (the assignment, claimed,
is delivered again when its lease runs out), so no assignment is ever delivered twice at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from sqlalchemy import select
from sqlalchemy.orm import Session

from causeway.hub import broker
from causeway.hub.db import NodeRecord

Claimed = dict[int, list[broker.Delivery]]  # node id -> its assignments, claimed
# A hand-over is taken within this share of the lease, or dropped (its node's request went away).
HAND_OVER_SHARE = 0.25


class Deliveries:
    """``take(node_id)``: the node's deliverable assignments, claimed for it, in a transaction it
    may share with the other nodes asking at the same time. ``run`` runs one transaction (the
    hub's :meth:`~causeway.hub.state.HubState.run`)."""

    def __init__(
        self, run: Callable[[Callable[[Session], Claimed]], Claimed], lease: float
    ) -> None:
        self._run = run
        self._lease = lease
        self._lock = threading.Lock()  # guards the batch gathering
        self._claiming = threading.Lock()  # one batch claims at a time; the next one gathers
        self._pending: dict[int, list[Future[list[broker.Delivery]]]] = {}
        # claimed for a waiting node by a committed transaction: (when, its assignments)
        self._handed: dict[int, tuple[float, list[broker.Delivery]]] = {}

    def claim(self, session: Session, names: list[str]) -> Claimed:
        """In the caller's transaction: claim the assignments of these nodes (by name; each has a
        request waiting for work). Give them to :meth:`hand_over` once it commits."""
        if not names:
            return {}
        active = list(
            session.scalars(
                select(NodeRecord.id).where(NodeRecord.name.in_(names), NodeRecord.active)
            )
        )
        out: Claimed = {}
        for record in broker.claim_many(session, active, self._lease):
            out.setdefault(record.node_id, []).append(record)
        return out

    def hand_over(self, claimed: Claimed) -> None:
        """What :meth:`claim` claimed, committed: the next :meth:`take` of each node has it."""
        now = time.monotonic()
        with self._lock:
            for node_id, found in claimed.items():
                _, before = self._handed.get(node_id, (now, []))
                self._handed[node_id] = (now, [*before, *found])

    def handed(self, node_id: int) -> list[broker.Delivery]:
        """What was handed over to the node and not yet taken (taken now; never blocks long)."""
        with self._lock:
            when, found = self._handed.pop(node_id, (0.0, []))
        if found and time.monotonic() - when > self._lease * HAND_OVER_SHARE:
            return []  # too late: its lease may have run out, and it be delivered again
        return found

    def take(self, node_id: int) -> list[broker.Delivery]:
        handed = self.handed(node_id)
        if handed:
            return handed
        mine: Future[list[broker.Delivery]] = Future()
        with self._lock:
            self._pending.setdefault(node_id, []).append(mine)
        with self._claiming:
            if not mine.done():  # nobody claimed for this batch yet: claim for all of it
                with self._lock:
                    batch, self._pending = self._pending, {}
                try:
                    found = self._run(lambda s: claim_for(s, list(batch), self._lease))
                except BaseException as exc:
                    for futures in batch.values():
                        for future in futures:
                            future.set_exception(exc)
                    raise
                for node, futures in batch.items():
                    # two requests of one node in one batch: the first takes them all
                    first, *rest = futures
                    first.set_result(found.get(node, []))
                    for future in rest:
                        future.set_result([])
        return mine.result()


def claim_for(session: Session, node_ids: list[int], lease: float) -> Claimed:
    """Each active node's deliverable assignments, claimed (a node retired while it waited gets
    nothing)."""
    active = list(
        session.scalars(select(NodeRecord.id).where(NodeRecord.id.in_(node_ids), NodeRecord.active))
    )
    out: Claimed = {}
    for record in broker.claim_many(session, active, lease):
        out.setdefault(record.node_id, []).append(record)
    return out

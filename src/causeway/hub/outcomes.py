"""Finished tasks handed from the transaction that finished them to the request following them.

A researcher's long poll on a task is woken when the task's last answer is taken, and used to
read the task again in a transaction of its own. The answer's transaction has the finished task
in hand: once it commits, it leaves the task's state here (only when a request follows the task),
and the woken request takes it instead of reading. Only a final state (done or failed) is left,
never a held one (its checkers may release it at any time); a state no request takes soon is
dropped, and a request that finds nothing here reads the database as before.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from causeway.hub.schemas import TaskOut

KEPT_SECONDS = 5.0
KEPT = 1024


class Outcomes:
    """Final task states by task id, with their owner (user id); safe between threads."""

    def __init__(self, kept_seconds: float = KEPT_SECONDS, kept: int = KEPT) -> None:
        self._kept_seconds = kept_seconds
        self._kept = kept
        self._found: OrderedDict[str, tuple[float, int, TaskOut]] = OrderedDict()
        self._lock = threading.Lock()

    def leave(self, owner: int, out: TaskOut) -> None:
        """The committed, final state of ``owner``'s task."""
        with self._lock:
            self._found[out.id] = (time.monotonic(), owner, out)
            while len(self._found) > self._kept:
                self._found.popitem(last=False)

    def take(self, task_id: str, user_id: int) -> TaskOut | None:
        """The task's final state if it was left lately for ``user_id`` (its owner), else None."""
        with self._lock:
            found = self._found.get(task_id)
            if found is None or found[1] != user_id:
                return None
            del self._found[task_id]
        when, _, out = found
        return out if time.monotonic() - when <= self._kept_seconds else None

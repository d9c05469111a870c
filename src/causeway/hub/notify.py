"""Wake long-polling requests when the hub's state changes.

Waiters listen on topics (``task:<id>``, ``node:<name>``) so a change wakes only those it concerns.
They re-check the database when woken, so a missed wake-up costs at most the fallback interval.
Several hub replicas over one PostgreSQL database tell each other of their changes through it
(:class:`PostgresRelay`, ``NOTIFY``/``LISTEN``): without it, a node polling one replica heard of a
task queued on the other only at its next fallback re-check, and the researcher of the answer it
posted only at theirs (about 1.3 s a count with two replicas instead of 0.2 s; see "Many
researchers" in docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import uuid
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import Engine

log = logging.getLogger("causeway.hub")
CHANNEL = "causeway_changed"
MAX_PAYLOAD = 7000  # PostgreSQL takes up to 8000 bytes a notification
_NOTIFY = text("SELECT pg_notify(:channel, :text)")


@dataclass(eq=False)
class Waiter:
    topic: str
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)


class Notifier:
    """Waiters by topic: a wake-up of n nodes (a task queued at n sites) looks up n topics, not
    every waiter against every topic (O(n^2) at a thousand waiting nodes)."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[Waiter]] = {}
        self._count = 0
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        """How many waiters are registered now."""
        return self._count

    def listening(self, topic: str) -> bool:
        """Whether some request waits on ``topic`` now."""
        with self._lock:
            return topic in self._waiters

    def register(self, topic: str) -> Waiter:
        waiter = Waiter(topic, asyncio.get_running_loop())
        with self._lock:
            self._waiters.setdefault(topic, set()).add(waiter)
            self._count += 1
        return waiter

    def unregister(self, waiter: Waiter) -> None:
        with self._lock:
            found = self._waiters.get(waiter.topic)
            if found is None or waiter not in found:
                return
            found.discard(waiter)
            self._count -= 1
            if not found:
                del self._waiters[waiter.topic]

    def notify(self, *topics: str) -> None:
        """Wake the waiters on these topics (all waiters when none is named); any thread."""
        with self._lock:
            if topics:
                waiters = [w for t in set(topics) for w in self._waiters.get(t, ())]
            else:
                waiters = [w for found in self._waiters.values() for w in found]
        for waiter in waiters:
            if not waiter.loop.is_closed():
                waiter.loop.call_soon_threadsafe(waiter.event.set)


class PostgresRelay:
    """Carries wake-ups between the replicas of a hub over their PostgreSQL database: :meth:`publish`
    sends topics (``NOTIFY``), and a thread of each replica wakes its own waiters on the topics
    the others sent (``LISTEN``). Best effort: a lost notification costs a waiter the fallback
    re-check, as before."""

    def __init__(self, engine: Engine, notifier: Notifier) -> None:
        self._engine = engine
        self._notifier = notifier
        self._origin = uuid.uuid4().hex[:12]  # its own notifications, which it skips
        self._url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sender: threading.Thread | None = None
        self._outbox: queue.SimpleQueue[tuple[str, ...] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()

    def listen(self) -> None:
        """Start listening (once; a hub that serves long polls does, at its first)."""
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._listen, name="causeway-relay", daemon=True
                )
                self._thread.start()

    def publish(self, topics: tuple[str, ...]) -> None:
        """Tell the other replicas (an empty ``topics``: wake every waiter). Queued, and sent from
        a thread of its own: a request's event loop never waits on the database for it."""
        with self._lock:
            if self._sender is None and not self._stop.is_set():
                self._sender = threading.Thread(
                    target=self._send, name="causeway-relay-send", daemon=True
                )
                self._sender.start()
        self._outbox.put(topics)

    def _send(self) -> None:
        while True:
            batch = [self._outbox.get()]
            while not self._outbox.empty():  # what came meanwhile goes in the same transaction
                batch.append(self._outbox.get_nowait())
            if None in batch:
                return
            chunks = [c for topics in batch if topics is not None for c in _chunks(topics)]
            try:
                with self._engine.begin() as connection:
                    for part in chunks:
                        connection.execute(
                            _NOTIFY, {"channel": CHANNEL, "text": f"{self._origin}|{part}"}
                        )
            except Exception as exc:  # the replicas' fallback re-check still carries the change
                log.warning("could not tell the other hub replicas of a change: %s", exc)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for note in connection.notifies(timeout=0.5):
                            origin, _, text = note.payload.partition("|")
                            if origin != self._origin:
                                self._notifier.notify(*text.split())
            except Exception as exc:  # the database is away: listen again shortly
                if "does not exist" in str(exc):
                    return  # the database was dropped (a test's): nothing more to hear
                if not self._stop.is_set():
                    log.warning("hub replica relay: %s (listening again)", exc)
                    self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        self._outbox.put(None)
        for thread in (self._thread, self._sender):
            if thread is not None:
                thread.join(timeout=2.0)


def _chunks(topics: tuple[str, ...]) -> list[str]:
    """The topics as space-separated notifications of at most :data:`MAX_PAYLOAD` characters."""
    chunks, chunk = [], ""
    for topic in topics:
        if chunk and len(chunk) + len(topic) + 1 > MAX_PAYLOAD:
            chunks.append(chunk)
            chunk = ""
        chunk = f"{chunk} {topic}" if chunk else topic
    chunks.append(chunk)
    return chunks

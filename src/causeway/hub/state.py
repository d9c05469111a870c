"""What every request of a hub shares: settings, the database, the signing key, the notifier."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from causeway.crypto.keys import load_or_create, public_text
from causeway.hub import accounts, ledger, metrics
from causeway.hub.broker import LEASE_SECONDS, ROUND_TIMEOUT_SECONDS, SITE_SILENCE_SECONDS
from causeway.hub.db import User, make_engine, migrate
from causeway.hub.db import session_factory as make_sessions
from causeway.hub.deliveries import Deliveries
from causeway.hub.limits import NodeInstances, SignInThrottle
from causeway.hub.notify import Notifier, PostgresRelay
from causeway.hub.outcomes import Outcomes
from causeway.model.errors import InvalidRequest

T = TypeVar("T")
MIN_METRICS_TOKEN = 32


@dataclass(frozen=True)
class HubSettings:
    database_url: str
    key_path: Path
    round_timeout: float = ROUND_TIMEOUT_SECONDS
    lease: float = LEASE_SECONDS  # a delivered assignment not answered by then is delivered again
    # a site the round waits for that has not contacted the hub for this long fails the round
    # early (or, securely aggregated, re-runs it without the site), naming it
    site_silence: float = SITE_SILENCE_SECONDS
    # A bearer token good for GET /metrics only (a Prometheus server's); None: admins and auditors.
    metrics_token: str | None = None

    def __post_init__(self) -> None:
        if self.metrics_token is not None and len(self.metrics_token) < MIN_METRICS_TOKEN:
            raise InvalidRequest(
                f"the metrics token must be at least {MIN_METRICS_TOKEN} characters (make one "
                "with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )

    @classmethod
    def in_directory(
        cls,
        data_dir: Path,
        database_url: str | None = None,
        round_timeout: float = ROUND_TIMEOUT_SECONDS,
        *,
        lease: float = LEASE_SECONDS,
        site_silence: float = SITE_SILENCE_SECONDS,
        metrics_token: str | None = None,
    ) -> HubSettings:
        data_dir.mkdir(parents=True, exist_ok=True)
        url = database_url or f"sqlite:///{(data_dir / 'hub.sqlite').resolve()}"
        return cls(url, data_dir / "hub_key.pem", round_timeout, lease, site_silence, metrics_token)


class HubState:
    """What every request shares: the database, the hub's signing key, the notifier."""

    def __init__(self, settings: HubSettings) -> None:
        self.engine = make_engine(settings.database_url)
        migrate(self.engine)
        self.sessions: sessionmaker[Session] = make_sessions(self.engine)
        self._serial = threading.Lock() if self.engine.dialect.name == "sqlite" else None
        self.key = load_or_create(settings.key_path)
        self.public_key = public_text(self.key)
        ledger.install(self.sessions)  # every change of record from here on is an entry
        with self.sessions.begin() as session:
            ledger.start(session, self.key)
        self.notifier = Notifier()
        self.outcomes = Outcomes()  # finished tasks for the requests following them
        # other replicas over the same PostgreSQL database wake our long polls, and we theirs
        self.relay = (
            PostgresRelay(self.engine, self.notifier)
            if self.engine.dialect.name == "postgresql"
            else None
        )
        self.round_timeout = settings.round_timeout
        self.lease = settings.lease
        self.site_silence = settings.site_silence
        self.closing = False
        self.nonces_pruned_at = 0.0
        self.sign_ins = SignInThrottle()
        self.instances = NodeInstances()
        self.metrics_token = settings.metrics_token
        self.metrics = metrics.HubMetrics(lambda: self.run(metrics.snapshot))
        self.deliveries = Deliveries(lambda fn: self.run(fn), self.lease)  # (run as it is then)

    def close(self) -> None:
        """Release long-polling requests at once (for a clean shutdown)."""
        self.closing = True
        self.notifier.notify()
        if self.relay is not None:
            self.relay.stop()

    @contextmanager
    def session(self) -> Iterator[Session]:
        # SQLite has one writer at a time and its busy handler waits by sleeping (1, 2, 5, 10 ms…),
        # which made concurrent node requests stall; queue on a lock instead, which wakes at once.
        # PostgreSQL needs no such thing and takes transactions concurrently.
        with self._serial or nullcontext(), self.sessions.begin() as session:
            yield session
            events = metrics.pending_events(session)
        self.metrics.observe(events)  # committed: a rolled-back transaction counts nothing

    def run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in one transaction."""
        with self.session() as session:
            return fn(session)

    def read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn``, which only reads, beside the writers: on SQLite it does not queue behind
        them (WAL lets readers run while one writes), so a long read (a witness scanning the
        ledger) holds up no node's answer. Each statement sees what was committed when it ran;
        a change ``fn`` leaves is refused, never written."""
        with self.sessions() as session:  # closed, never committed: its transaction rolls back
            found = fn(session)
            if session.new or session.dirty or session.deleted:
                raise RuntimeError(f"{fn.__qualname__} changed rows in a read-only transaction")
            return found

    def changed(self, task_id: str | None, nodes: list[str]) -> None:
        """Wake whoever long-polls the task (None: no task moved) or waits for work at these
        nodes."""
        topics = (*([f"task:{task_id}"] if task_id else []), *(f"node:{name}" for name in nodes))
        self.notifier.notify(*topics)
        if self.relay is not None:
            self.relay.publish(topics)

    def ensure_admin(self, name: str = "admin") -> str | None:
        """Create the first admin if there is no user; returns its token (shown once)."""
        with self.session() as session:
            if session.scalar(select(User).limit(1)) is not None:
                return None
            _user, token = accounts.add_user(session, name, accounts.Role.ADMIN, None)
            return token

"""What the hub counts for its operator, in Prometheus's text format (``GET /metrics``).

Each hub has a registry of its own (never ``prometheus_client``'s global one: a test process starts
many hubs). Two kinds of metric:

- **Counted as it happens** (counters, a histogram): the broker notes each event in the
  transaction's ``session.info`` (:func:`task_created`, :func:`task_finished`,
  :func:`round_completed`, :func:`secure_rerun`), and :class:`HubMetrics` counts them once the
  transaction commits, so a rolled-back request counts nothing. They are per hub process and start
  at zero when it starts; with several replicas, Prometheus sums them.
- **Read from the database at scrape time** (gauges): seconds since each node was last seen, open
  assignments by status, running tasks. Every replica shows the same values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from causeway.hub.db import AssignmentRecord, NodeRecord, Task, utcnow
from causeway.hub.status import OPEN_ASSIGNMENT, TaskStatus

__all__ = [
    "CONTENT_TYPE",
    "HubMetrics",
    "Snapshot",
    "pending_events",
    "round_completed",
    "secure_rerun",
    "snapshot",
    "task_created",
    "task_finished",
]

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
EVENTS = "causeway.metrics"  # the key of a transaction's noted events in ``session.info``
# From a one-site count on loopback to a round that waits for a slow site up to the round timeout.
ROUND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

# A ``<name>_created`` timestamp beside every counter would double the series for no use here.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class TaskCreated:
    algorithm: str


@dataclass(frozen=True)
class TaskFinished:
    algorithm: str
    outcome: str  # done, held or failed
    code: str  # the error code of a failed task, "" otherwise


@dataclass(frozen=True)
class RoundCompleted:
    algorithm: str
    seconds: float  # from the round's first assignment to its combination


@dataclass(frozen=True)
class SecureRerun:
    algorithm: str


Event = TaskCreated | TaskFinished | RoundCompleted | SecureRerun


def _note(session: Session | None, event: Event) -> None:
    if session is not None:
        session.info.setdefault(EVENTS, []).append(event)


def pending_events(session: Session) -> list[Event]:
    """The events noted in this transaction (to count once it has committed)."""
    events: list[Event] = session.info.pop(EVENTS, [])
    return events


def _algorithm(task: Task) -> str:
    return str(task.spec.get("algorithm", "?"))


def task_created(session: Session, task: Task) -> None:
    _note(session, TaskCreated(_algorithm(task)))


def task_finished(task: Task) -> None:
    """Note that ``task`` has just reached its final status (done, held or failed)."""
    code = str((task.error or {}).get("code", "")) if task.status == TaskStatus.FAILED else ""
    _note(object_session(task), TaskFinished(_algorithm(task), str(task.status), code))


def round_completed(session: Session, task: Task, started: dt.datetime | None) -> None:
    """Note that ``task``'s current round was combined; its latency runs from ``started``, when
    the round's first assignment was queued (a securely aggregated round's first attempt and
    phase), to now."""
    seconds = (utcnow() - started).total_seconds() if started is not None else 0.0
    _note(session, RoundCompleted(_algorithm(task), max(seconds, 0.0)))


def secure_rerun(session: Session, task: Task) -> None:
    """Note that a securely aggregated round was queued again among the sites left."""
    _note(session, SecureRerun(_algorithm(task)))


@dataclass(frozen=True)
class Snapshot:
    """What the gauges show, read from the database at scrape time."""

    last_seen: tuple[tuple[str, float], ...]  # (active node, seconds since it was last seen)
    open_assignments: tuple[tuple[str, int], ...]  # (status, how many)
    running_tasks: int


def snapshot(session: Session) -> Snapshot:
    now = utcnow()
    seen = session.execute(
        select(NodeRecord.name, NodeRecord.last_seen)
        .where(NodeRecord.active, NodeRecord.last_seen.is_not(None))
        .order_by(NodeRecord.name)
    ).all()
    counted: dict[str, int] = {
        status: count
        for status, count in session.execute(
            select(AssignmentRecord.status, func.count())
            .where(AssignmentRecord.status.in_(OPEN_ASSIGNMENT))
            .group_by(AssignmentRecord.status)
        )
    }
    running = session.scalar(
        select(func.count()).select_from(Task).where(Task.status == TaskStatus.RUNNING)
    )
    return Snapshot(
        last_seen=tuple(
            (name, max((now - at).total_seconds(), 0.0)) for name, at in seen if at is not None
        ),
        open_assignments=tuple((str(s), int(counted.get(s, 0))) for s in OPEN_ASSIGNMENT),
        running_tasks=int(running or 0),
    )


class _DatabaseGauges(Collector):
    """The gauges, from a :class:`Snapshot` read when Prometheus scrapes."""

    def __init__(self, read: Callable[[], Snapshot]) -> None:
        self._read = read

    def describe(self) -> Iterable[Metric]:
        return list(self._families(None))  # registering asks for names: no database read

    def collect(self) -> Iterable[Metric]:
        return list(self._families(self._read()))

    @staticmethod
    def _families(snap: Snapshot | None) -> Iterator[Metric]:
        seen = GaugeMetricFamily(
            "causeway_node_last_seen_seconds",
            "Seconds since the hub last took a signed request from the node (active nodes that "
            "have been seen).",
            labels=["node"],
        )
        open_ = GaugeMetricFamily(
            "causeway_assignments_open",
            "Assignments waiting for a node's answer, by status (pending: not yet delivered; "
            "claimed: delivered and leased).",
            labels=["status"],
        )
        running = GaugeMetricFamily("causeway_tasks_running", "Tasks with a round out at sites.")
        if snap is not None:
            for name, seconds in snap.last_seen:
                seen.add_metric([name], seconds)
            for status, count in snap.open_assignments:
                open_.add_metric([status], count)
            running.add_metric([], snap.running_tasks)
        yield from (seen, open_, running)


class HubMetrics:
    """One hub's metrics, in a registry of its own."""

    def __init__(self, read: Callable[[], Snapshot]) -> None:
        self.registry = CollectorRegistry()
        self.tasks_created = Counter(
            "causeway_tasks_created",
            "Tasks accepted and queued, by algorithm.",
            ["algorithm"],
            registry=self.registry,
        )
        self.tasks_finished = Counter(
            "causeway_tasks_finished",
            "Tasks that reached a final status, by algorithm and outcome (done, held for output "
            "checking, failed); a failed task's error code in code.",
            ["algorithm", "outcome", "code"],
            registry=self.registry,
        )
        self.rounds_completed = Counter(
            "causeway_rounds_completed",
            "Rounds whose contributions were all in and combined, by algorithm.",
            ["algorithm"],
            registry=self.registry,
        )
        self.round_duration = Histogram(
            "causeway_round_duration_seconds",
            "From a round's first assignment to its combination, by algorithm.",
            ["algorithm"],
            buckets=ROUND_BUCKETS,
            registry=self.registry,
        )
        self.secure_reruns = Counter(
            "causeway_secure_aggregation_reruns",
            "Securely aggregated rounds re-run among the remaining sites after a dropout.",
            ["algorithm"],
            registry=self.registry,
        )
        self.errors = Counter(
            "causeway_errors",
            "Error responses (problem documents) the hub answered, by Causeway error code.",
            ["code"],
            registry=self.registry,
        )
        self.registry.register(_DatabaseGauges(read))

    def observe(self, events: Iterable[Event]) -> None:
        """Count a committed transaction's events."""
        for event in events:
            match event:
                case TaskCreated(algorithm):
                    self.tasks_created.labels(algorithm).inc()
                case TaskFinished(algorithm, outcome, code):
                    self.tasks_finished.labels(algorithm, outcome, code).inc()
                case RoundCompleted(algorithm, seconds):
                    self.rounds_completed.labels(algorithm).inc()
                    self.round_duration.labels(algorithm).observe(seconds)
                case SecureRerun(algorithm):
                    self.secure_reruns.labels(algorithm).inc()

    def error_answered(self, code: str) -> None:
        self.errors.labels(code).inc()

    def exposition(self) -> bytes:
        """Every metric in Prometheus's text format."""
        return prometheus_client.generate_latest(self.registry)

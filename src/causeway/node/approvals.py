"""The steward's decisions at the node: which project's terms may use which dataset, until when.

An approval is bound to the digest of the project's terms as the steward saw them
(:class:`~causeway.model.terms.ProjectTerms`): an assignment whose terms differ in any way (a new
member, another purpose, a longer expiry, a project re-created under the same name) is refused
until the steward approves again. Expiry is the node's own reading of the approved terms, never the
hub's status.

Decisions live in ``approvals.sqlite`` beside the node's data, not in its DuckDB file: DuckDB lets
one process write, and the steward's ``causeway node approve`` or ``revoke`` must take effect while
``causeway node serve`` runs. SQLite lets both processes use the file; every assignment reads the
decision afresh, so a revocation applies to the very next one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from causeway.model.errors import CausewayError, PermissionDenied
from causeway.model.terms import ProjectTerms
from causeway.node.sqlitefile import SqliteFile

APPROVALS_FILE = "approvals.sqlite"

_DDL = """
CREATE TABLE IF NOT EXISTS approvals (
    project TEXT NOT NULL, dataset TEXT NOT NULL, state TEXT NOT NULL, digest TEXT NOT NULL,
    terms TEXT NOT NULL, comment TEXT NOT NULL, decided_at TEXT NOT NULL,
    PRIMARY KEY (project, dataset)
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, dataset TEXT NOT NULL,
    state TEXT NOT NULL, digest TEXT NOT NULL, comment TEXT NOT NULL, decided_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refusals (
    project TEXT NOT NULL, dataset TEXT NOT NULL, refused INTEGER NOT NULL,
    PRIMARY KEY (project, dataset)
);
"""


class State(StrEnum):
    APPROVED = "approved"
    SUSPENDED = "suspended"  # the steward may approve the same terms again
    REVOKED = "revoked"


@dataclass(frozen=True)
class Approval:
    """The steward's current decision on a project's use of one dataset."""

    project: str
    dataset: str
    state: State
    terms: ProjectTerms
    comment: str
    decided_at: str

    @property
    def digest(self) -> str:
        return self.terms.digest()


@dataclass(frozen=True)
class StatedTerms:
    """A project's terms as an assignment states them: the project and the digest of its terms
    (what the steward's approval is bound to). ``explain`` fetches the terms the digest stands
    for, only to name what changed when it is not the approved one (``None``: cannot tell)."""

    project: str
    digest: str
    explain: Callable[[], ProjectTerms | None] = lambda: None

    @classmethod
    def of(cls, terms: ProjectTerms) -> StatedTerms:
        return cls(terms.project, terms.digest(), lambda: terms)

    def changes(self, approved: ProjectTerms) -> str:
        """What differs from the ``approved`` terms, as plainly as the node can tell."""
        try:
            found = self.explain()
        except CausewayError as exc:
            found, why = None, f"; the hub's terms could not be read: {exc}"
        else:
            why = ""
        if found is not None and found.digest() == self.digest:
            return f"changed: {', '.join(approved.differences(found))}"
        return (
            f"the hub states terms {self.digest[:12]}…, the steward approved "
            f"{approved.digest()[:12]}…{why}"
        )


class Approvals(SqliteFile):
    """The node's approvals file (``":memory:"`` for a node held in memory)."""

    FILE = APPROVALS_FILE
    DDL = _DDL

    # -- the steward's decisions ------------------------------------------------------------------

    def approve(self, terms: ProjectTerms, dataset: str, comment: str = "") -> Approval:
        """Approve ``terms`` for ``dataset`` (again, after a change, suspension or revocation).
        Lifts a suspension for refused queries too: the steward has looked."""
        if dataset not in terms.datasets:
            raise PermissionDenied(
                f"project {terms.project!r} does not cover dataset {dataset!r}: nothing to approve"
            )
        if terms.expired():
            raise PermissionDenied(
                f"project {terms.project!r} expired on {terms.expires}: it cannot be approved"
            )
        approval = self._decide(terms, dataset, State.APPROVED, comment)
        with self._lock, self._conn:
            self._conn.execute(
                "DELETE FROM refusals WHERE project = ? AND dataset = ?", (terms.project, dataset)
            )
        return approval

    def suspend(self, project: str, dataset: str, comment: str = "") -> Approval:
        return self._change(project, dataset, State.SUSPENDED, comment)

    def revoke(self, project: str, dataset: str, comment: str = "") -> Approval:
        return self._change(project, dataset, State.REVOKED, comment)

    def _change(self, project: str, dataset: str, state: State, comment: str) -> Approval:
        current = self.current(project, dataset)
        if current is None:
            raise PermissionDenied(
                f"project {project!r} was never approved for dataset {dataset!r} here"
            )
        return self._decide(current.terms, dataset, state, comment)

    def _decide(self, terms: ProjectTerms, dataset: str, state: State, comment: str) -> Approval:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        digest = terms.digest()
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO approvals VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (project, dataset) DO UPDATE SET state = excluded.state, "
                "digest = excluded.digest, terms = excluded.terms, comment = excluded.comment, "
                "decided_at = excluded.decided_at",
                (
                    terms.project,
                    dataset,
                    state.value,
                    digest,
                    json.dumps(terms.to_json()),
                    comment,
                    now,
                ),
            )
            self._conn.execute(
                "INSERT INTO decisions (project, dataset, state, digest, comment, decided_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (terms.project, dataset, state.value, digest, comment, now),
            )
        return Approval(terms.project, dataset, state, terms, comment, now)

    # -- reading them -----------------------------------------------------------------------------

    def current(self, project: str, dataset: str) -> Approval | None:
        # Never cached: a decision made by another process applies to the very next assignment.
        with self._lock:
            row = self._conn.execute(
                "SELECT state, terms, comment, decided_at FROM approvals "
                "WHERE project = ? AND dataset = ?",
                (project, dataset),
            ).fetchone()
        if row is None:
            return None
        terms = ProjectTerms.from_json(json.loads(row[1]))
        return Approval(project, dataset, State(row[0]), terms, row[2], row[3])

    def all(self) -> list[Approval]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT project, dataset FROM approvals ORDER BY project, dataset"
            ).fetchall()
        return [a for a in (self.current(p, d) for p, d in rows) if a is not None]

    def history(self, project: str | None = None) -> list[dict[str, str]]:
        """Every decision, oldest first (of one project, or of all)."""
        sql = "SELECT project, dataset, state, digest, comment, decided_at FROM decisions"
        args: tuple[str, ...] = ()
        if project is not None:
            sql, args = sql + " WHERE project = ?", (project,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY id", args).fetchall()
        keys = ("project", "dataset", "state", "digest", "comment", "decided_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def check(
        self,
        stated: StatedTerms,
        dataset: str,
        algorithm: str,
        requester: str,
        node: str,
        now: dt.datetime | None = None,
    ) -> Approval:
        """The steward's approval that lets this assignment run, or :class:`PermissionDenied`
        saying plainly why not. ``stated`` is what the hub signed in the assignment: the project
        and its terms' digest (the terms themselves travel only when they need explaining)."""
        project = stated.project
        approval = self.current(project, dataset)
        if approval is None:
            raise PermissionDenied(
                f"the steward of {node} has not approved project {project!r} for dataset "
                f"{dataset!r}"
            )
        if approval.state is not State.APPROVED:
            said = f": {approval.comment}" if approval.comment else ""
            raise PermissionDenied(
                f"the steward of {node} {approval.state.value} project {project!r} on dataset "
                f"{dataset!r}{said}"
            )
        if approval.digest != stated.digest:
            raise PermissionDenied(
                f"project {project!r} at the hub is not what the steward of {node} approved "
                f"({stated.changes(approval.terms)}): it needs approving again"
            )
        if approval.terms.expired(now):
            raise PermissionDenied(
                f"project {project!r} expired on {approval.terms.expires} (as approved at {node})"
            )
        if algorithm not in approval.terms.analyses:
            raise PermissionDenied(
                f"project {project!r} was approved at {node} for "
                f"{', '.join(approval.terms.analyses) or 'no analyses'}, not {algorithm}"
            )
        if requester not in approval.terms.members:
            raise PermissionDenied(
                f"{requester!r} is not a member of project {project!r} as approved at {node}"
            )
        return approval

    # -- refusals (a project is suspended after too many) ------------------------------------------

    def refusals(self, project: str, dataset: str) -> int:
        """Refusals that looked at the data since the steward last approved the project."""
        with self._lock:
            row = self._conn.execute(
                "SELECT refused FROM refusals WHERE project = ? AND dataset = ?",
                (project, dataset),
            ).fetchone()
        return int(row[0]) if row else 0

    def count_refusal(self, project: str, dataset: str) -> int:
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO refusals VALUES (?, ?, 1) ON CONFLICT (project, dataset) "
                "DO UPDATE SET refused = refused + 1",
                (project, dataset),
            )
        return self.refusals(project, dataset)

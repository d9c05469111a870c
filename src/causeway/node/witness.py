"""The node as a witness of the hub's ledger (issue #16): it checks every new signed tree head and
co-signs only what it checked, and it keeps its own copy of what concerns it.

Each :meth:`Witness.check`, in order:

1. fetches the hub's latest signed head and verifies the signature with the hub's key pinned in
   ``node.json`` at enrolment;
2. proves it consistent with the last head this node accepted (a smaller or equal size with
   another root, or a larger one the hub cannot prove extends it, is a fork: the hub rewrote or
   dropped what this node saw);
3. fetches the new entries that concern this node (:mod:`causeway.model.concerns`), verifies each
   one's inclusion proof against the new head, and keeps them;
4. re-verifies that entries it kept earlier are still included (a sample each check, all of them
   every ``full_every`` checks): an entry about this node edited or removed since is named;
5. verifies the other witnesses' latest co-signed heads with the keys the steward trusts
   (``causeway node trust``; others are ignored) and proves each consistent with its own head: a
   hub showing two histories (a split view) is caught by any witness it cannot keep apart from the
   others; and requires, ``cosign_grace`` seconds after this node accepted a head, that some
   trusted peer co-signed a head at least that large (a hub hiding the others' co-signatures from
   one node, as a split view must, is caught this way);
6. co-signs the head with the node's signing key, posts it, and records it as accepted.

Any failure raises an **alarm**: kept in ``witness.sqlite`` (beside ``approvals.sqlite``), written
to the node's audit log (a ``ledger_alarm`` event) and the Python log; from then on the node refuses
every assignment (:meth:`WitnessState.refuse_if_alarmed`) and checks no further, until its steward
acknowledges (``causeway node ledger-ack``, or the console). Acknowledging keeps the alarm and the
copy kept so far as evidence, and the next check accepts the hub's log as it then is as the new
starting point. An unreachable hub is no alarm: the check is tried again next time.

The state lives in a SQLite file that ``causeway node serve`` and the steward's commands open
together (like the approvals), so an acknowledgement applies to the very next assignment.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from causeway.crypto.keys import load_public, sign, verify
from causeway.model import merkle
from causeway.model.errors import (
    CausewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    SignatureError,
    Unavailable,
)
from causeway.model.treehead import TreeHead
from causeway.node.audit import AuditLog
from causeway.node.config import NodeConfig
from causeway.node.sqlitefile import SqliteFile
from causeway.node.transport import HubConnection

log = logging.getLogger("causeway.node.witness")

WITNESS_FILE = "witness.sqlite"
WITNESS_INTERVAL = 30.0  # seconds between checks
COSIGN_GRACE = 600.0  # seconds a peer has to co-sign a head at least as large as ours
SAMPLE = 16  # kept entries re-verified per check
FULL_EVERY = 20  # every this many checks, all of them
PROOFS_PER_REQUEST = 100
BASE = "/api/node/ledger"
ACK_HINT = (
    "its steward reviews the alarm and acknowledges it with 'causeway node ledger-ack --comment "
    "TEXT' (or in the node console)"
)

_DDL = """
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER, root TEXT, timestamp INTEGER,
    signature TEXT, key TEXT, accepted_at REAL, through INTEGER NOT NULL DEFAULT -1,
    generation INTEGER NOT NULL DEFAULT 0, checks INTEGER NOT NULL DEFAULT 0,
    rebase INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO head (id) VALUES (1);
CREATE TABLE IF NOT EXISTS kept (
    generation INTEGER NOT NULL, idx INTEGER NOT NULL, text TEXT NOT NULL, kept_at TEXT NOT NULL,
    PRIMARY KEY (generation, idx)
);
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY AUTOINCREMENT, raised_at TEXT NOT NULL, problem TEXT NOT NULL,
    head TEXT NOT NULL, acknowledged_at TEXT, comment TEXT
);
"""


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Accepted:
    """The last head this node checked and co-signed, and when (seconds since the epoch)."""

    head: TreeHead
    accepted_at: float


@dataclass(frozen=True)
class Alarm:
    id: int
    raised_at: str
    problem: str
    head: dict[str, Any] | None
    acknowledged_at: str | None
    comment: str | None

    @property
    def open(self) -> bool:
        return self.acknowledged_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "raised_at": self.raised_at,
            "problem": self.problem,
            "head": self.head,
            "acknowledged_at": self.acknowledged_at,
            "comment": self.comment,
        }


class WitnessState(SqliteFile):
    """``witness.sqlite``: the last accepted head, the entries kept, the alarms (``":memory:"``
    for a node held in memory)."""

    FILE = WITNESS_FILE
    DDL = _DDL

    def __enter__(self) -> WitnessState:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _row(self) -> tuple[Any, ...]:
        with self._lock:
            row = self._conn.execute(
                "SELECT size, root, timestamp, signature, key, accepted_at, through, generation, "
                "checks, rebase FROM head WHERE id = 1"
            ).fetchone()
        assert row is not None
        return tuple(row)

    # -- the accepted head ------------------------------------------------------------------------

    def accepted(self) -> Accepted | None:
        size, root, timestamp, signature, key, accepted_at, *_ = self._row()
        if size is None:
            return None
        head = TreeHead(int(size), str(root), int(timestamp), str(signature), str(key))
        return Accepted(head, float(accepted_at))

    def through(self) -> int:
        """The last index whose entries about this node were fetched."""
        return int(self._row()[6])

    def generation(self) -> int:
        """Which copy of the log the kept entries belong to (one more after each rebase)."""
        return int(self._row()[7])

    def checks(self) -> int:
        """How many heads this node has accepted."""
        return int(self._row()[8])

    def rebase_pending(self) -> bool:
        return bool(self._row()[9])

    def accept(
        self, head: TreeHead, through: int, entries: Sequence[tuple[int, str]], now: float
    ) -> None:
        """Record ``head`` as accepted, with the entries about this node it brought."""
        kept_at = _now_text()
        with self._lock, self._conn:
            generation = int(
                self._conn.execute("SELECT generation FROM head WHERE id = 1").fetchone()[0]
            )
            self._conn.executemany(
                "INSERT OR IGNORE INTO kept VALUES (?, ?, ?, ?)",
                [(generation, index, text, kept_at) for index, text in entries],
            )
            self._conn.execute(
                "UPDATE head SET size = ?, root = ?, timestamp = ?, signature = ?, key = ?, "
                "accepted_at = ?, through = ?, checks = checks + 1 WHERE id = 1",
                (head.size, head.root, head.timestamp, head.signature, head.key, now, through),
            )

    def rebase(self) -> None:
        """Start again from the hub's current log (after the steward acknowledged): the entries
        kept so far stay, as evidence, under the previous generation."""
        with self._lock, self._conn:
            self._conn.execute(
                "UPDATE head SET size = NULL, root = NULL, timestamp = NULL, signature = NULL, "
                "key = NULL, accepted_at = NULL, through = -1, generation = generation + 1, "
                "rebase = 0 WHERE id = 1"
            )

    # -- the kept entries -------------------------------------------------------------------------

    def kept(self, generation: int | None = None) -> list[tuple[int, str]]:
        """The entries about this node kept from the current log (or ``generation``), by index."""
        if generation is None:
            generation = self.generation()
        with self._lock:
            rows = self._conn.execute(
                "SELECT idx, text FROM kept WHERE generation = ? ORDER BY idx", (generation,)
            ).fetchall()
        return [(int(i), str(t)) for i, t in rows]

    def kept_text(self, index: int) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT text FROM kept WHERE generation = (SELECT generation FROM head) "
                "AND idx = ?",
                (index,),
            ).fetchone()
        return None if row is None else str(row[0])

    def kept_count(self, *, every_generation: bool = False) -> int:
        sql = "SELECT count(*) FROM kept"
        if not every_generation:
            sql += " WHERE generation = (SELECT generation FROM head)"
        with self._lock:
            return int(self._conn.execute(sql).fetchone()[0])

    # -- alarms -----------------------------------------------------------------------------------

    def raise_alarm(self, problem: str, head: TreeHead | None) -> Alarm:
        shown = None if head is None else head.to_json()
        raised = _now_text()
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "INSERT INTO alarms (raised_at, problem, head) VALUES (?, ?, ?)",
                (raised, problem, json.dumps(shown)),
            )
            alarm_id = int(cursor.lastrowid or 0)
        return Alarm(alarm_id, raised, problem, shown, None, None)

    def alarms(self, *, only_open: bool = False) -> list[Alarm]:
        """The alarms, newest first."""
        sql = "SELECT id, raised_at, problem, head, acknowledged_at, comment FROM alarms"
        if only_open:
            sql += " WHERE acknowledged_at IS NULL"
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY id DESC").fetchall()
        return [Alarm(int(i), r, p, json.loads(h), a, c) for i, r, p, h, a, c in rows]

    def open_alarms(self) -> list[Alarm]:
        return self.alarms(only_open=True)

    def acknowledge(self, comment: str) -> list[Alarm]:
        """The steward's acknowledgement of every open alarm, with what they found: the node takes
        tasks again, and its next check starts from the hub's log as it then is."""
        comment = comment.strip()
        if not comment:
            raise InvalidRequest("say what you found: acknowledging an alarm needs a comment")
        now = _now_text()
        with self._lock, self._conn:
            ids = [
                int(r[0])
                for r in self._conn.execute(
                    "SELECT id FROM alarms WHERE acknowledged_at IS NULL"
                ).fetchall()
            ]
            if not ids:
                return []
            self._conn.executemany(
                "UPDATE alarms SET acknowledged_at = ?, comment = ? WHERE id = ?",
                [(now, comment, i) for i in ids],
            )
            self._conn.execute("UPDATE head SET rebase = 1 WHERE id = 1")
        return [a for a in self.alarms() if a.id in ids]

    def refuse_if_alarmed(self, node: str) -> None:
        """Refuse an assignment while an alarm is open (read afresh: an acknowledgement made by
        another process applies to the very next assignment)."""
        found = self.open_alarms()
        if not found:
            return
        latest = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise PermissionDenied(
            f"node {node} takes no task: its witness of the hub's ledger raised an alarm on "
            f"{latest.raised_at}: {latest.problem}{more}. It refuses every task until "
            f"{ACK_HINT}"
        )


@dataclass
class WitnessReport:
    """What one check found: ``ok`` (the head was co-signed), or the problems (each an alarm), or
    why it did not check (``skipped``: the hub unreachable, an alarm open)."""

    head: TreeHead | None = None
    problems: list[str] = field(default_factory=list)
    skipped: str = ""
    kept: int = 0  # entries about this node kept by this check
    rechecked: int = 0  # kept entries re-verified
    peers: int = 0  # trusted peers' co-signed heads verified
    cosigned: bool = False

    @property
    def ok(self) -> bool:
        return self.cosigned and not self.problems


@dataclass
class _Check:
    """One check's working state."""

    head: TreeHead
    root: bytes
    previous: Accepted | None
    now: float
    problems: list[str] = field(default_factory=list)


class Witness:
    """A node's witness: checks the hub's new tree heads, co-signs them, keeps what concerns it."""

    def __init__(
        self,
        config: NodeConfig,
        hub: HubConnection,
        signing_key: Ed25519PrivateKey,
        peers: Callable[[], Mapping[str, str]],
        state: WitnessState,
        *,
        audit: AuditLog | None = None,
        cosign_grace: float = COSIGN_GRACE,
        sample: int = SAMPLE,
        full_every: int = FULL_EVERY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``peers`` gives the trusted peers' signing keys by name (``NodeStore.peers``);
        ``hub`` may be replaced (``witness.hub = ...``) to watch the hub through another
        connection."""
        self.config = config
        self.hub = hub
        self.signing_key = signing_key
        self.peers = peers
        self.state = state
        self.audit = audit
        self.cosign_grace = cosign_grace
        self.sample = sample
        self.full_every = max(1, full_every)
        self._clock = clock
        self._hub_key = load_public(config.hub_public_key)
        self._lock = threading.Lock()
        self._random = random.SystemRandom()  # a sample the hub cannot predict

    @property
    def node(self) -> str:
        return self.config.name

    def acknowledge(self, comment: str) -> list[Alarm]:
        return self.state.acknowledge(comment)

    def check(self, *, full: bool = False) -> WitnessReport:
        """Check the hub's latest head and co-sign it (see the module's doc); ``full`` re-verifies
        every kept entry, not a sample."""
        with self._lock:
            if self.state.open_alarms():
                return WitnessReport(skipped="an alarm is open: the steward acknowledges it first")
            try:
                return self._check(full)
            except Unavailable as exc:
                log.warning("node %s: ledger not checked: %s", self.node, exc.detail)
                return WitnessReport(skipped=exc.detail)

    # -- the steps ----------------------------------------------------------------------------------

    def _check(self, full: bool) -> WitnessReport:
        report = WitnessReport()
        head = TreeHead.from_json(self.hub.request("GET", f"{BASE}/head"))
        report.head = head
        try:
            verify(self._hub_key, head.to_sign(), head.signature)
            root = bytes.fromhex(head.root)
            if len(root) != merkle.HASH_SIZE:
                raise ValueError(head.root)
        except (SignatureError, ValueError):
            return self._alarmed(
                report,
                [
                    f"the hub's tree head of {head.size} entries (root {head.root[:16]}…) is not "
                    "signed by the hub's key this node pinned at enrolment"
                ],
            )
        if self.state.rebase_pending():
            self._rebase()
        step = _Check(head, root, self.state.accepted(), self._clock())
        if step.previous is not None:
            stale = self._from_previous(step)
            if stale:
                report.skipped = stale
                return report
        entries: list[tuple[int, str]] = []
        through = self.state.through()
        if not step.problems:
            entries, through = self._about(step, through)
            report.kept = len(entries)
        report.rechecked = self._recheck(step, full or bool(step.problems))
        if not step.problems:
            report.peers = self._peers(step)
        if step.problems:
            return self._alarmed(report, step.problems)
        signature = sign(self.signing_key, head.to_sign())
        try:
            self.hub.request(
                "POST",
                f"{BASE}/cosignatures",
                json={"size": head.size, "root": head.root, "signature": signature},
            )
            report.cosigned = True
        except Unavailable:
            raise
        except CausewayError as exc:
            log.warning("node %s: the hub refused its co-signature: %s", self.node, exc.detail)
        self.state.accept(head, through, entries, step.now)
        return report

    def _rebase(self) -> None:
        acknowledged = [a for a in self.state.alarms() if a.acknowledged_at is not None]
        self.state.rebase()
        latest = acknowledged[0] if acknowledged else None
        log.warning(
            "node %s: the steward acknowledged the ledger alarm(s); witnessing again from the "
            "hub's current log",
            self.node,
        )
        if self.audit is not None:
            self.audit.record(
                "ledger_acknowledged",
                comment=None if latest is None else latest.comment,
                acknowledged_at=None if latest is None else latest.acknowledged_at,
            )

    def _from_previous(self, step: _Check) -> str:
        """Prove the new head consistent with the one accepted before; returns why the check
        stops without an alarm (a stale head), problems go on ``step``."""
        assert step.previous is not None
        old = step.previous.head
        head = step.head
        if head.size < old.size:
            problem = self._consistent(head.size, step.root, old.size, bytes.fromhex(old.root))
            if problem is None:  # a stale view, not another history: try again later
                log.warning(
                    "node %s: the hub shows a head of %d entries, older than the %d this node "
                    "accepted; not co-signed",
                    self.node,
                    head.size,
                    old.size,
                )
                return f"a head older than the one accepted ({head.size} < {old.size})"
        else:
            problem = self._consistent(old.size, bytes.fromhex(old.root), head.size, step.root)
        if problem is not None:
            step.problems.append(
                f"fork: the hub's log of {head.size} entries (root {head.root[:16]}…) does not "
                f"extend the {old.size} entries (root {old.root[:16]}…) this node accepted on "
                f"{_when(step.previous.accepted_at)}: {problem}"
            )
        return ""

    def _consistent(
        self, small: int, small_root: bytes, large: int, large_root: bytes
    ) -> str | None:
        """Why the tree of ``large`` entries does not extend that of ``small`` (None: it does)."""
        if small == large:
            return None if small_root == large_root else "two different roots for one size"
        if small == 0:
            return None if small_root == merkle.EMPTY_ROOT else "a wrong root for the empty log"
        try:
            found = self.hub.request(
                "GET", f"{BASE}/consistency", params={"old": small, "new": large}
            )
            proof = [bytes.fromhex(h) for h in found["proof"]]
        except (NotFound, InvalidRequest) as exc:
            return f"the hub cannot prove it ({exc.detail})"
        except (KeyError, TypeError, ValueError):
            return "the hub's consistency proof is malformed"
        try:
            merkle.verify_consistency(small, large, small_root, large_root, proof)
        except SignatureError as exc:  # ProofError
            return exc.detail
        return None

    def _about(self, step: _Check, through: int) -> tuple[list[tuple[int, str]], int]:
        """The new entries about this node, each proved included in the new head."""
        head = step.head
        found: list[tuple[int, str]] = []
        after = through
        while after < head.size - 1:
            answer = self.hub.request(
                "GET", f"{BASE}/about", params={"after": after, "size": head.size}
            )
            for item in answer.get("entries", []):
                index, text = int(item["index"]), str(item["entry"])
                problem = self._included(step, index, text, item.get("proof"))
                if problem is None and not after < index < head.size:
                    problem = f"entry {index} was not asked for"
                if problem is None:
                    problem = self._differs(index, text)
                if problem is not None:
                    step.problems.append(f"an entry about this node: {problem}")
                    return found, through
                found.append((index, text))
            reached = int(answer.get("through", after))
            if reached <= after:
                step.problems.append(
                    f"the hub serves no entries about this node after index {after} of a log of "
                    f"{head.size} entries"
                )
                return found, through
            after = reached
        return found, after

    def _included(self, step: _Check, index: int, text: str, proof: Any) -> str | None:
        try:
            if json.loads(text).get("index") != index:
                return f"entry {index} says it is another entry"
            path = [bytes.fromhex(h) for h in proof]
            merkle.verify_inclusion(
                merkle.leaf_hash(text.encode()), index, step.head.size, path, step.root
            )
        except SignatureError as exc:  # ProofError
            return f"entry {index} is not in the log of {step.head.size} entries: {exc.detail}"
        except (AttributeError, TypeError, ValueError):
            return f"entry {index} comes with a malformed proof"
        return None

    def _differs(self, index: int, text: str) -> str | None:
        kept = self.state.kept_text(index)
        if kept is not None and kept != text:
            return f"entry {index} is not the entry this node kept at that index"
        return None

    def _recheck(self, step: _Check, full: bool) -> int:
        """Re-verify kept entries' inclusion in the new head (a sample, or all)."""
        kept = self.state.kept()
        if not kept:
            return 0
        if not (full or (self.state.checks() + 1) % self.full_every == 0):
            kept = sorted(self._random.sample(kept, min(self.sample, len(kept))))
        size = step.head.size
        gone = [index for index, _ in kept if index >= size]
        if gone:
            step.problems.append(
                f"entries about this node that it kept ({_indices(gone)}) are beyond the "
                f"{size} entries the hub now signs: removed"
            )
        present = [(index, text) for index, text in kept if index < size]
        implied: dict[int, bytes | None] = {}
        for start in range(0, len(present), PROOFS_PER_REQUEST):
            batch = present[start : start + PROOFS_PER_REQUEST]
            try:
                answer = self.hub.request(
                    "GET",
                    f"{BASE}/inclusion",
                    params={"size": size, "index": [index for index, _ in batch]},
                )
                proofs = {int(p["index"]): p["proof"] for p in answer["proofs"]}
            except (NotFound, InvalidRequest, KeyError, TypeError, ValueError):
                proofs = {}
            for index, text in batch:
                implied[index] = _implied_root(text, index, size, proofs.get(index))
        bad = [index for index, root in implied.items() if root != step.root]
        if bad:
            problem = (
                f"the hub cannot prove that entries about this node it kept ({_indices(bad)}) "
                f"are still in the log it signs (size {size}): changed or removed since"
            )
            # The proofs the hub gives lead to its tree as it now holds it; the kept entries
            # whose proofs lead elsewhere are the ones that tree holds otherwise.
            current, _count = Counter(implied.values()).most_common(1)[0]
            changed = [index for index, root in implied.items() if root != current]
            if current is not None and current != step.root and changed:
                problem += (
                    f"; the hub's tree now holds other entries at {_indices(changed)} "
                    "than the ones this node kept"
                )
            step.problems.append(problem)
        return len(present)

    def _peers(self, step: _Check) -> int:
        """Check the other witnesses' co-signed heads against our own; the freshness rule."""
        trusted = dict(self.peers())
        if not trusted:
            log.info("node %s: no trusted peers: the other witnesses are not checked", self.node)
            return 0
        shown = self.hub.request("GET", f"{BASE}/cosignatures")
        head = step.head
        largest, verified = -1, 0
        for item in shown:
            name = str(item.get("node"))
            key = trusted.get(name)
            if key is None:
                log.info(
                    "node %s: ignoring the co-signature of %s (not a trusted peer)", self.node, name
                )
                continue
            try:
                size, root = int(item["size"]), str(item["root"])
                cosigned = TreeHead(size, root, int(item["timestamp"]))
                verify(load_public(key), cosigned.to_sign(), str(item["signature"]))
                their_root = bytes.fromhex(root)
            except (KeyError, TypeError, ValueError, SignatureError):
                step.problems.append(
                    f"the hub shows a co-signature by {name} that does not verify with the key "
                    "this node's steward trusts for it: a forged co-signature"
                )
                continue
            if size <= head.size:
                problem = self._consistent(size, their_root, head.size, step.root)
            else:
                problem = self._consistent(head.size, step.root, size, their_root)
            if problem is not None:
                step.problems.append(
                    f"split view: {name} co-signed a log of {size} entries (root {root[:16]}…) "
                    f"that is not consistent with the {head.size} entries (root "
                    f"{head.root[:16]}…) the hub shows this node: {problem}"
                )
                continue
            verified += 1
            largest = max(largest, size)
        previous = step.previous
        late = previous is not None and step.now - previous.accepted_at >= self.cosign_grace
        if previous is not None and late and largest < previous.head.size:
            step.problems.append(
                f"split view: no trusted peer ({', '.join(sorted(trusted))}) has co-signed a "
                f"head of at least the {previous.head.size} entries this node accepted on "
                f"{_when(previous.accepted_at)} (allowed: {self.cosign_grace:g}s); the hub "
                "may be showing this node a history the other witnesses do not see"
            )
        return verified

    def _alarmed(self, report: WitnessReport, problems: list[str]) -> WitnessReport:
        report.problems = list(problems)
        for problem in problems:
            self.state.raise_alarm(problem, report.head)
            log.error("node %s: LEDGER ALARM: %s", self.node, problem)
            if self.audit is not None:
                head = report.head
                self.audit.record(
                    "ledger_alarm",
                    problem=problem,
                    size=None if head is None else head.size,
                    root=None if head is None else head.root,
                )
        return report

    # -- running -----------------------------------------------------------------------------------

    def run(self, stop: threading.Event, interval: float = WITNESS_INTERVAL) -> None:
        """Check now and every ``interval`` seconds until ``stop`` is set; never raises."""
        while not stop.is_set():
            try:
                self.check()
            except CausewayError as exc:
                log.warning("node %s: ledger not checked: %s", self.node, exc.detail)
            except Exception:
                log.exception("node %s: the ledger check failed (tried again later)", self.node)
            stop.wait(interval)


def _implied_root(text: str, index: int, size: int, proof: Any) -> bytes | None:
    """The root an inclusion proof leads to from a kept entry (RFC 9162 2.1.3.2), or None for a
    proof that is missing or malformed."""
    try:
        path = [bytes.fromhex(h) for h in proof]
    except (TypeError, ValueError):
        return None
    if not 0 <= index < size or any(len(h) != merkle.HASH_SIZE for h in path):
        return None
    fn, sn, root = index, size - 1, merkle.leaf_hash(text.encode())
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            root = merkle.node_hash(sibling, root)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            root = merkle.node_hash(root, sibling)
        fn >>= 1
        sn >>= 1
    return root if sn == 0 else None


def _indices(indices: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:10])
    return (
        f"entry {shown}"
        if len(indices) == 1
        else f"entries {shown}" + (f" and {len(indices) - 10} more" if len(indices) > 10 else "")
    )


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=0).isoformat()

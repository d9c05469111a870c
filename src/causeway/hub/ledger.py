"""The hub's transparency log: every change of record, as an entry of an append-only Merkle tree.

In the manner of RFC 9162 (Certificate Transparency): an entry is canonical JSON (RFC 8785), its
leaf hash SHA-256(0x00 || entry), interior nodes SHA-256(0x01 || left || right)
(:mod:`causeway.model.merkle`). The hash of every perfect, aligned subtree is stored, so an append
and a proof cost O(log n). Tree heads are signed with the hub's Ed25519 key and kept (two heads of
one size with different roots would prove a fork); witness nodes co-sign the heads they checked.

**No change without its entry, no entry without its change.** The log is written by a listener on
every flush of the hub's sessions, in the same transaction as the change it records: each row
inserted, updated or deleted in a recorded table becomes one entry, naming the table, the row's key
and the values of the changed columns (secrets skipped, large or private values as their SHA-256:
a task's result, a masked contribution, a dataset's dictionary). A table the hub adds must be
declared in :data:`RULES` or :data:`UNRECORDED`, or the hub refuses to start. Leasing an
assignment to a node (``claimed``) is an operational step, not a change of record, and the nonces
that stop replayed node requests are not recorded either.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import bindparam, event, func, insert, inspect, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from causeway.crypto.keys import load_public, public_text, sign, verify
from causeway.crypto.logcheck import Cosignature, LedgerReport, StoredEntry, verify_log
from causeway.hub.db import (
    Base,
    LedgerCosignature,
    LedgerEntry,
    LedgerHash,
    LedgerHead,
    LedgerState,
    NodeRecord,
)
from causeway.model import merkle
from causeway.model.canonical import jcs
from causeway.model.errors import InvalidRequest, NotFound
from causeway.model.treehead import TreeHead

GENESIS = "ledger.genesis"
HUB_KEY = "hub.key"
MAX_RANGE = 1000  # entries per page of GET /api/ledger/entries


@dataclass(frozen=True)
class Rule:
    """How a table's rows are recorded: under ``event``; ``hashed`` columns as their SHA-256,
    ``skipped`` ones not at all (a change to only those is no change of record)."""

    event: str
    hashed: frozenset[str] = frozenset()
    skipped: frozenset[str] = frozenset()


def _rule(event: str, *, hashed: Sequence[str] = (), skipped: Sequence[str] = ()) -> Rule:
    return Rule(event, frozenset(hashed), frozenset(skipped))


RULES: dict[str, Rule] = {
    "organisations": _rule("organisation"),
    "users": _rule("user"),
    "tokens": _rule("token", skipped=("token_hash", "last_used_at")),
    "nodes": _rule("node", skipped=("last_seen",)),
    "datasets": _rule("dataset", hashed=("dictionary",), skipped=("updated_at",)),
    "projects": _rule("project"),
    "documents": _rule("document", skipped=("content",)),
    "applications": _rule("application"),
    "application_reviews": _rule("review"),
    "tasks": _rule("task", hashed=("dictionary", "state", "result"), skipped=("updated_at",)),
    "assignments": _rule(
        "assignment", hashed=("payload", "contribution"), skipped=("claimed_at", "signature")
    ),
    "output_reviews": _rule("output_review"),
    "budgets": _rule("budget", skipped=("updated_at",)),
    "contributions": _rule("contribution"),
}
UNRECORDED = frozenset(
    {
        "nonces",  # replay protection of node requests
        "ledger_entries",
        "ledger_hashes",
        "ledger_heads",
        "ledger_cosignatures",
        "ledger_state",
    }
)
_CLAIMED = "claimed"


def check_rules() -> None:
    """Every table of the hub is recorded or declared unrecorded (a new table needs a decision)."""
    tables = set(Base.metadata.tables)
    undeclared = sorted(tables - set(RULES) - UNRECORDED)
    if undeclared:
        raise RuntimeError(f"declare how the ledger records the table(s) {', '.join(undeclared)}")


# -- appending ------------------------------------------------------------------------------------


class Frontier:
    """The perfect subtrees on the log's right edge (at most log n), cached between appends by one
    hub process (one per database: a process may hold two hubs) and re-read when another process
    (a replica) appended since."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.size = -1
        self.stack: list[tuple[int, int, bytes]] = []  # (level, start, hash), left to right

    def load(self, connection: Connection, size: int) -> None:
        if size == self.size:
            return
        stack = []
        start = 0
        for level in reversed(range(size.bit_length())):
            if size & (1 << level):
                stack.append((level, start, _stored(connection, level, start)))
                start += 1 << level
        self.size, self.stack = size, stack


FRONTIERS: weakref.WeakKeyDictionary[Engine, Frontier] = weakref.WeakKeyDictionary()
_FRONTIERS_LOCK = threading.Lock()


def _frontier(connection: Connection) -> Frontier:
    with _FRONTIERS_LOCK:
        found = FRONTIERS.get(connection.engine)
        if found is None:
            found = FRONTIERS[connection.engine] = Frontier()
        return found


def _stored(connection: Connection, level: int, start: int) -> bytes:
    if level == 0:
        leaf = connection.execute(
            select(LedgerEntry.leaf).where(LedgerEntry.index == start)
        ).scalar_one()
        return bytes.fromhex(leaf)
    found = connection.execute(
        select(LedgerHash.hash).where(LedgerHash.level == level, LedgerHash.start == start)
    ).scalar_one()
    return bytes.fromhex(found)


_ADD_ENTRY = insert(LedgerEntry)
_ADD_HASHES = insert(LedgerHash)
_SET_SIZE = update(LedgerState).where(LedgerState.id == 1).values(size=bindparam("new_size"))
_LOCK_SIZE = select(LedgerState.size).where(LedgerState.id == 1).with_for_update()


def append(connection: Connection, kind: str, body: Mapping[str, Any]) -> int:
    """Append one entry in the connection's transaction; returns its index."""
    return append_many(connection, [(kind, body)])[0]


def append_many(connection: Connection, items: Sequence[tuple[str, Mapping[str, Any]]]) -> range:
    """Append entries in order, in the connection's transaction (one lock of the log's size, one
    insert of the entries and one of the subtree hashes they complete); returns their indices."""
    if not items:
        return range(0)
    size = _lock_size(connection)
    now = _now()
    entries, hashes = [], []
    frontier = _frontier(connection)
    with frontier._lock:
        frontier.load(connection, size)
        stack = list(frontier.stack)
        for index, (kind, body) in enumerate(items, start=size):
            text = jcs({"index": index, "type": kind, "time": now, **body})
            leaf = merkle.leaf_hash(text)
            entries.append(
                {"index": index, "kind": kind, "entry": text.decode(), "leaf": leaf.hex()}
            )
            stack.append((0, index, leaf))
            while len(stack) >= 2 and stack[-1][0] == stack[-2][0]:
                (level, start, left), (_, _, right) = stack[-2], stack[-1]
                parent = merkle.node_hash(left, right)
                stack[-2:] = [(level + 1, start, parent)]
                hashes.append({"level": level + 1, "start": start, "hash": parent.hex()})
        end = size + len(items)
        connection.execute(_ADD_ENTRY, entries)
        if hashes:
            connection.execute(_ADD_HASHES, hashes)
        connection.execute(_SET_SIZE, {"new_size": end})
        frontier.size, frontier.stack = end, stack
    return range(size, end)


def _lock_size(connection: Connection) -> int:
    found = connection.execute(_LOCK_SIZE).scalar()
    if found is None:
        connection.execute(insert(LedgerState).values(id=1, size=0))
        return 0
    return int(found)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# -- recording every change ----------------------------------------------------------------------


def install(sessions: sessionmaker[Session]) -> None:
    """Record every change made through ``sessions`` (call once per session factory)."""
    check_rules()
    event.listen(sessions, "after_flush", _after_flush)


def _after_flush(session: Session, _context: Any) -> None:
    changes = sorted(_changes(session), key=lambda c: (c[0], _order(c[1])))
    if changes:
        append_many(session.connection(), changes)


def _order(body: Mapping[str, Any]) -> str:
    return jcs(body["key"]).decode()


def _changes(session: Session) -> Iterator[tuple[str, dict[str, Any]]]:
    for op, objects in (
        ("insert", session.new),
        ("update", session.dirty),
        ("delete", session.deleted),
    ):
        for obj in objects:
            table = getattr(obj, "__tablename__", None)
            if table is None or table in UNRECORDED:
                continue
            rule = RULES[table]
            found = _change(obj, rule, op)
            if found is not None:
                yield f"{rule.event}.{op}", {"table": table, **found}


def _change(obj: Any, rule: Rule, op: str) -> dict[str, Any] | None:
    state = inspect(obj)
    mapper = state.mapper
    key = {c.key: _value(getattr(obj, c.key)) for c in mapper.primary_key}
    if op == "delete":
        return {"key": key}
    data: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        name = attr.key
        if name in rule.skipped:
            continue
        if op == "update":
            history = state.attrs[name].history
            if not history.has_changes():
                continue
        value = getattr(obj, name)
        if name in rule.hashed:
            data[name] = _preset(obj, name, value) or _digest(value)
        else:
            data[name] = _value(value)
    if op == "update" and (not data or data == {"status": _CLAIMED}):
        return None  # only skipped columns changed, or an assignment leased
    return {"key": key, "data": data}


def _value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return {"sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, float) and value != value:  # NaN has no JSON form
        return "NaN"
    return value


_FORMS = "_ledger_forms"  # an object's attribute: column -> (its value, the value's RFC 8785 bytes)


def hashed_form(obj: Any, column: str, text: bytes) -> None:
    """Say that ``text`` is the RFC 8785 form of ``obj``'s hashed ``column`` as it is now (its
    writer built it more cheaply than the ledger would: see :func:`causeway.model.canonical.
    spliced`), so the ledger hashes ``text`` rather than serialising the value again. Used
    only while the column still holds that same object; do not change the value in place."""
    forms: dict[str, tuple[Any, bytes]] = obj.__dict__.setdefault(_FORMS, {})
    forms[column] = (getattr(obj, column), text)


def _preset(obj: Any, column: str, value: Any) -> dict[str, str] | None:
    said = obj.__dict__.get(_FORMS, {}).get(column)
    if said is None or said[0] is not value:
        return None
    return {"sha256": hashlib.sha256(said[1]).hexdigest()}


def _digest(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    return {"sha256": hashlib.sha256(jcs(_jsonable(value))).hexdigest()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return _value(value)


# -- the start: genesis and the hub's key ---------------------------------------------------------


def start(session: Session, key: Ed25519PrivateKey) -> None:
    """On the hub's start: the genesis entry (naming the hub's key) and a snapshot of every row
    recorded before the log existed, if the log is empty; an entry for a new hub key otherwise."""
    connection = session.connection()
    public = public_text(key)
    if _lock_size(connection) == 0:
        append(connection, GENESIS, {"key": {}, "data": {"hub_key": public}})
        for table in sorted(RULES):
            model = _model(table)
            for obj in session.scalars(select(model)):
                found = _change(obj, RULES[table], "insert")
                if found is not None:
                    append(connection, f"{RULES[table].event}.existing", {"table": table, **found})
        return
    last = connection.execute(
        select(LedgerEntry.entry)
        .where(LedgerEntry.kind.in_((GENESIS, HUB_KEY)))
        .order_by(LedgerEntry.index.desc())
        .limit(1)
    ).scalar_one()
    if f'"hub_key":"{public}"' not in last:
        append(connection, HUB_KEY, {"key": {}, "data": {"hub_key": public}})


def _model(table: str) -> type[Any]:
    for mapper in Base.registry.mappers:
        if getattr(mapper.class_, "__tablename__", None) == table:
            return mapper.class_
    raise KeyError(table)


# -- reading: heads, entries, proofs ---------------------------------------------------------------


def size(session: Session) -> int:
    return int(session.scalar(select(LedgerState.size).where(LedgerState.id == 1)) or 0)


def subtree_of(session: Session) -> merkle.SubtreeHash:
    connection = session.connection()

    def subtree(begin: int, end: int) -> bytes:
        width = end - begin
        if width <= 0 or width & (width - 1) or begin % width:
            raise ValueError(f"[{begin}, {end}) is not a perfect, aligned subtree")
        return _stored(connection, width.bit_length() - 1, begin)

    return subtree


def head(session: Session, key: Ed25519PrivateKey) -> TreeHead:
    """The signed head of the log as it is now (signed once per size, then kept)."""
    current = size(session)
    found = session.get(LedgerHead, current)
    if found is not None:
        return _head(found)
    root = merkle.root_from(current, subtree_of(session)) if current else merkle.EMPTY_ROOT
    unsigned = TreeHead(size=current, root=root.hex(), timestamp=int(time.time() * 1000))
    signed = unsigned.signed(sign(key, unsigned.to_sign()), public_text(key))
    session.add(
        LedgerHead(
            size=signed.size,
            root=signed.root,
            timestamp=signed.timestamp,
            signature=signed.signature,
            key=signed.key,
        )
    )
    return signed


def heads(session: Session, after: int = -1) -> list[TreeHead]:
    found = session.scalars(
        select(LedgerHead).where(LedgerHead.size > after).order_by(LedgerHead.size)
    )
    return [_head(h) for h in found]


def _head(record: LedgerHead) -> TreeHead:
    return TreeHead(
        size=record.size,
        root=record.root,
        timestamp=record.timestamp,
        signature=record.signature,
        key=record.key,
    )


def entries(session: Session, start: int, end: int) -> list[tuple[int, str]]:
    """Entries [start, end) (at most :data:`MAX_RANGE`), as their stored text."""
    if start < 0 or end < start:
        raise InvalidRequest("entries: 0 <= start <= end")
    end = min(end, start + MAX_RANGE, size(session))
    rows = session.execute(
        select(LedgerEntry.index, LedgerEntry.entry)
        .where(LedgerEntry.index >= start, LedgerEntry.index < end)
        .order_by(LedgerEntry.index)
    )
    return [(int(i), str(e)) for i, e in rows]


def inclusion(session: Session, index: int, tree_size: int) -> list[bytes]:
    _check_size(session, tree_size)
    if not 0 <= index < tree_size:
        raise InvalidRequest(f"no entry {index} in a tree of size {tree_size}")
    return merkle.inclusion_proof(index, tree_size, subtree_of(session))


def consistency(session: Session, old: int, new: int) -> list[bytes]:
    _check_size(session, new)
    if not 0 <= old <= new:
        raise InvalidRequest("consistency: 0 <= old <= new")
    return merkle.consistency_proof(old, new, subtree_of(session))


def _check_size(session: Session, tree_size: int) -> None:
    if not 0 < tree_size <= size(session):
        raise NotFound(f"the log has no tree of size {tree_size}")


def cosign(
    session: Session, node: NodeRecord, tree_size: int, root: str, signature: str
) -> LedgerCosignature:
    """Keep a witness's co-signature of a head the hub signed (verified against the node's key)."""
    signed = session.get(LedgerHead, tree_size)
    if signed is None or signed.root != root:
        raise NotFound(f"the hub signed no head of size {tree_size} with root {root[:16]}…")
    verify(load_public(node.public_key), _head(signed).to_sign(), signature)
    found = session.scalar(
        select(LedgerCosignature).where(
            LedgerCosignature.size == tree_size, LedgerCosignature.node_id == node.id
        )
    )
    if found is None:
        found = LedgerCosignature(size=tree_size, root=root, node_id=node.id, signature=signature)
        session.add(found)
    return found


def cosignatures(session: Session, after: int = -1) -> list[dict[str, Any]]:
    rows = session.execute(
        select(LedgerCosignature, NodeRecord.name)
        .join(NodeRecord, NodeRecord.id == LedgerCosignature.node_id)
        .where(LedgerCosignature.size > after)
        .order_by(LedgerCosignature.size, NodeRecord.name)
    )
    return [
        {"size": c.size, "root": c.root, "node": name, "signature": c.signature} for c, name in rows
    ]


def counts(session: Session) -> dict[str, int]:
    """Entries per type (for the operator's overview)."""
    rows = session.execute(select(LedgerEntry.kind, func.count()).group_by(LedgerEntry.kind))
    return {str(k): int(n) for k, n in rows}


# -- verification on the hub's machine ------------------------------------------------------------


def stored_entries(session: Session, batch: int = 10_000) -> Iterator[StoredEntry]:
    """Every entry with the leaf hash stored beside it, in index order, read in batches."""
    start = 0
    while True:
        rows = session.execute(
            select(LedgerEntry.index, LedgerEntry.entry, LedgerEntry.leaf)
            .where(LedgerEntry.index >= start)
            .order_by(LedgerEntry.index)
            .limit(batch)
        ).all()
        if not rows:
            return
        for index, text, leaf in rows:
            yield StoredEntry(int(index), str(text), str(leaf))
        start = int(rows[-1][0]) + 1


def verify_database(
    session: Session, hub_key: str | None = None, *, strict: bool = False
) -> LedgerReport:
    """Check the log as the hub's database holds it: the entries, heads and co-signatures
    (:func:`causeway.crypto.logcheck.verify_log`), then every stored subtree hash."""
    signed = heads(session)
    cosigned = [
        Cosignature(int(c["size"]), str(c["root"]), str(c["node"]), str(c["signature"]))
        for c in cosignatures(session)
    ]
    report = verify_log(
        stored_entries(session),
        signed,
        cosigned,
        hub_key=hub_key,
        strict=strict,
        reread=lambda start, end: _range(session, start, end),
    )
    if report.ok:
        _check_subtrees(session, report)
    return report


def _range(session: Session, start: int, end: int) -> Iterator[StoredEntry]:
    rows = session.execute(
        select(LedgerEntry.index, LedgerEntry.entry, LedgerEntry.leaf)
        .where(LedgerEntry.index >= start, LedgerEntry.index < end)
        .order_by(LedgerEntry.index)
    )
    for index, text, leaf in rows:
        yield StoredEntry(int(index), str(text), str(leaf))


def _check_subtrees(session: Session, report: LedgerReport) -> None:
    """A stored leaf or subtree hash the entries do not give would make the hub serve false
    proofs to its witnesses."""
    tree = merkle.MemoryTree()
    for stored in stored_entries(session):
        index = tree.append(stored.text.encode())
        if tree.subtree(index, index + 1).hex() != stored.leaf:
            report.fail(index, "its text does not hash to the leaf hash stored beside it")
            return
    for record in session.scalars(select(LedgerHash).order_by(LedgerHash.level, LedgerHash.start)):
        end = record.start + (1 << record.level)
        if end > tree.size or tree.subtree(record.start, end).hex() != record.hash:
            report.fail(
                record.start,
                f"the stored hash of entries {record.start}..{end - 1} is not theirs",
            )
            return

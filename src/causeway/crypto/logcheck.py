"""Checking the hub's transparency log from outside: every entry, every signed tree head, every
witness's co-signature, in one pass over the log.

What it catches, and how it names the culprit:

- an entry whose text does not hash to its stored leaf hash (edited behind the hub's back), whose
  own ``index`` is not its place (reordered), a missing index (deleted), or text that is not the
  canonical JSON it was written as: that entry, exactly;
- a tree head whose root is not the root of the entries up to its size (entries and hashes
  rewritten together), whose signature does not verify with the hub's key, or a co-signature that
  does not verify with its witness's key or names another root: the first entry after the last
  head that still holds (exactly, when one entry lies between them).

Used by ``causeway ledger verify``, ``Client.verify_ledger`` and the witness nodes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from causeway.crypto.keys import load_public, verify
from causeway.model import merkle
from causeway.model.canonical import jcs
from causeway.model.errors import SignatureError
from causeway.model.treehead import TreeHead

GENESIS = "ledger.genesis"
HUB_KEY = "hub.key"


@dataclass(frozen=True)
class StoredEntry:
    """An entry as the log holds it: its index, its exact text, and (read from the hub's
    database) the leaf hash stored beside it."""

    index: int
    text: str
    leaf: str | None = None


@dataclass(frozen=True)
class Cosignature:
    size: int
    root: str
    node: str
    signature: str


@dataclass
class LedgerReport:
    """The verdict: ``ok``, and otherwise the first bad entry's index (``first_bad``) and why."""

    entries: int = 0
    heads: int = 0
    cosignatures: int = 0
    first_bad: int | None = None
    problem: str = ""
    witnesses: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problem

    def fail(self, index: int | None, problem: str) -> LedgerReport:
        if self.ok:
            self.first_bad, self.problem = index, problem
        return self

    def __str__(self) -> str:
        checked = (
            f"{self.entries} entries, {self.heads} signed tree heads, {self.cosignatures} "
            f"co-signatures by {len(self.witnesses)} witness(es)"
        )
        if self.ok:
            return f"ledger verified: {checked}"
        where = "" if self.first_bad is None else f"entry {self.first_bad}: "
        return f"ledger verification FAILED at {where}{self.problem} (checked {checked})"


Reread = Callable[[int, int], Iterable[StoredEntry]]


def verify_log(
    entries: Iterable[StoredEntry],
    heads: Sequence[TreeHead],
    cosignatures: Sequence[Cosignature] = (),
    *,
    hub_key: str | None = None,
    strict: bool = False,
    reread: Reread | None = None,
) -> LedgerReport:
    """Check the log in one pass. ``hub_key`` pins the hub's key (default: the one its genesis
    entry names, and each rotation the log records after it).

    Entries a signed head covers are checked by their hashes alone (the hot loop: one SHA-256 per
    entry, and the tree); an entry the heads do not cover yet is also checked against the leaf
    hash stored beside it and for the index its own text gives. When a head's root does not match, ``reread(start, end)`` (entries again, from
    the hub's database or API) lets the verifier name the entry; without it, the range is named.
    ``strict`` also checks every entry's index and that it is the canonical JSON it was written
    as (RFC 8785; slower: each entry parsed and re-encoded) — integrity does not need it, since
    the hashes are over the exact stored text."""
    report = LedgerReport()
    wanted = sorted({h.size for h in heads} | {c.size for c in cosignatures})
    covered = 0 if strict else max((h.size for h in heads), default=0)
    leaves: list[bytes] = []
    keys: dict[int, str] = {}  # the hub's key from this index on
    node_names: dict[object, str] = {}  # a node's row id → its name
    node_keys: dict[str, list[str]] = {}  # every key a node has had
    expected = 0
    sha256, add = hashlib.sha256, leaves.append
    for stored in entries:
        text = stored.text
        if stored.index != expected:
            missing = expected if stored.index > expected else stored.index
            return report.fail(missing, f"expected entry {expected}, found {stored.index}")
        leaf = sha256(_LEAF + text.encode()).digest()  # merkle.leaf_hash, inlined: the hot loop
        if expected >= covered:
            problem = _entry_problem(stored, leaf, strict)
            if problem:
                return report.fail(expected, problem)
        if text.endswith(_SPECIAL):  # the type is the last key: the hub's keys, nodes' keys
            body = json.loads(text)
            if body["type"] in (GENESIS, HUB_KEY):
                keys[expected] = str(body["data"]["hub_key"])
            if body.get("table") == "nodes":
                _node_key(body, node_names, node_keys)
        add(leaf)
        expected += 1
    report.entries = expected
    roots = merkle.roots_at(leaves, [s for s in wanted if s <= expected])
    good = 0
    for head in sorted(heads, key=lambda h: h.size):
        if head.size > expected:
            return report.fail(
                expected, f"a head signs {head.size} entries; the log has {expected}"
            )
        key = hub_key or _key_at(keys, head.size)
        if key is None or head.key != key:
            return report.fail(good, f"the head of size {head.size} is signed by another key")
        try:
            verify(load_public(key), head.to_sign(), head.signature)
        except SignatureError:
            return report.fail(good, f"the signature of the head of size {head.size} is forged")
        if head.size and roots[head.size].hex() != head.root:
            named = _name_in(reread, good, head.size) if reread else None
            if named is not None:
                return report.fail(named[0], named[1])
            first = good if head.size - good > 1 else head.size - 1
            return report.fail(
                first,
                f"the entries up to {head.size} do not hash to the root the hub signed "
                f"(rewritten between entries {good} and {head.size - 1})",
            )
        good = head.size
        report.heads += 1
    for cosigned in cosignatures:
        if cosigned.size > expected:
            return report.fail(expected, f"{cosigned.node} co-signed {cosigned.size} entries")
        witnessed = next((h for h in heads if h.size == cosigned.size), None)
        if witnessed is None or roots[cosigned.size].hex() != cosigned.root:
            return report.fail(
                cosigned.size - 1,
                f"witness {cosigned.node} co-signed a root the entries up to {cosigned.size} "
                "do not give",
            )
        if not _signed_by_any(node_keys.get(cosigned.node, []), witnessed, cosigned.signature):
            return report.fail(
                cosigned.size - 1, f"the co-signature of {cosigned.node} does not verify"
            )
        report.cosignatures += 1
        report.witnesses.add(cosigned.node)
    return report


def _node_key(
    body: Mapping[str, object], names: dict[object, str], keys: dict[str, list[str]]
) -> None:
    data = body.get("data")
    row = body.get("key")
    if not isinstance(data, Mapping) or not isinstance(row, Mapping):
        return
    if "name" in data:
        names[row.get("id")] = str(data["name"])
    name = names.get(row.get("id"))
    if name is not None and "public_key" in data:
        keys.setdefault(name, []).append(str(data["public_key"]))


def _signed_by_any(keys: Sequence[str], head: TreeHead, signature: str) -> bool:
    for key in keys:
        try:
            verify(load_public(key), head.to_sign(), signature)
        except SignatureError:
            continue
        return True
    return False


_LEAF = b"\x00"
_SPECIAL = tuple(
    f'"type":"{kind}"}}'
    for kind in (GENESIS, HUB_KEY, "node.insert", "node.update", "node.existing")
)
_INDEX = '"index":'
_NUMBER = re.compile(r"-?[0-9]+")


def _said_index(text: str) -> int | None:
    """The ``index`` an entry's text gives itself. In canonical form the top-level key comes
    after ``data`` (which may hold anything) and before ``key``, ``table``, ``time`` and ``type``
    (which hold no such key), so it is the last ``"index":`` in the text."""
    at = text.rfind(_INDEX)
    found = _NUMBER.match(text, at + len(_INDEX)) if at >= 0 else None
    return None if found is None else int(found.group())


def _entry_problem(stored: StoredEntry, leaf: bytes, strict: bool) -> str:
    if stored.leaf is not None and leaf.hex() != stored.leaf:
        return "its text does not hash to the leaf hash stored beside it"
    said = _said_index(stored.text)
    if said != stored.index:
        return f"it says it is entry {said}"
    return _form_problem(stored.text) if strict else ""


def _name_in(reread: Reread, start: int, end: int) -> tuple[int, str] | None:
    """The first entry in [start, end) that is not what its place says, read again."""
    expected = start
    for stored in reread(start, end):
        if stored.index != expected:
            return expected, f"expected entry {expected}, found {stored.index}"
        leaf = hashlib.sha256(_LEAF + stored.text.encode()).digest()
        problem = _entry_problem(stored, leaf, strict=True)
        if problem:
            return expected, problem
        expected += 1
    return None


def _form_problem(text: str) -> str:
    """What is wrong with an entry's form: not JSON, or not the canonical JSON it was written as."""
    try:
        body = json.loads(text)
    except ValueError:
        return "its text is not JSON"
    if not isinstance(body, Mapping):
        return "its text is not a JSON object"
    if jcs(body).decode() != text:
        return "its text is not the canonical JSON it was written as"
    return ""


def _key_at(keys: Mapping[int, str], size: int) -> str | None:
    """The hub's key in force for a head of ``size`` entries: the last named before it."""
    found = [index for index in keys if index < size]
    return keys[max(found)] if found else None


def mentions(value: object, keys: frozenset[str], wanted: str) -> bool:
    """Whether a decoded entry names ``wanted`` under any of ``keys``, at any depth (a task's
    ``spec.dataset``, a dataset row's ``name``, ...)."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key in keys and (inner == wanted or (isinstance(inner, list) and wanted in inner)):
                return True
            if mentions(inner, keys, wanted):
                return True
    elif isinstance(value, list):
        return any(mentions(inner, keys, wanted) for inner in value)
    return False

"""The Merkle tree of the ledger, as RFC 9162 (Certificate Transparency v2, section 2.1) and RFC
6962 define it: pure functions over SHA-256, no I/O.

* ``leaf_hash(e) = SHA-256(0x00 || e)``, ``node_hash(l, r) = SHA-256(0x01 || l || r)``, and the
  root of the empty tree is ``SHA-256("")`` (:data:`EMPTY_ROOT`).
* ``MTH(D[n])`` splits ``D[n]`` at ``k``, the largest power of two smaller than ``n``:
  ``MTH(D[n]) = node_hash(MTH(D[0:k]), MTH(D[k:n]))``.

Proof generation never sees the leaves: it asks a :data:`SubtreeHash` for the hash of *perfect,
aligned* subtrees (``end - start`` a power of two and ``start`` a multiple of it), which a store
keeps one per node and answers in O(1). Every range RFC 9162's recursion produces is a run of such
subtrees of decreasing size, so a root or a proof costs O(log n) calls.

The verifiers (:func:`verify_inclusion`, :func:`verify_consistency`) follow RFC 9162 2.1.3.2 and
2.1.4.2 and raise :class:`~causeway.model.errors.ProofError` saying what failed.
:func:`root_of_leaves` and :func:`roots_at` check a whole log in one streaming pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from causeway.model.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryTree",
    "ProofError",
    "SubtreeHash",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "root_from",
    "root_of_leaves",
    "roots_at",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_sha256 = hashlib.sha256
_LEAF = b"\x00"
_NODE = b"\x01"

EMPTY_ROOT: bytes = _sha256(b"").digest()
"""MTH({}) = SHA-256() — the root of the empty tree (RFC 9162 2.1.1)."""

SubtreeHash = Callable[[int, int], bytes]
"""``subtree(start, end)``: MTH(D[start:end]) for a perfect, aligned range (``end - start`` a
power of two, ``start`` a multiple of it); for ``end - start == 1`` the leaf hash."""


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return _sha256(_LEAF + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return _sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    """k: the largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


# -- roots and ranges from perfect subtrees -------------------------------------------------------


def range_hash(start: int, end: int, subtree: SubtreeHash) -> bytes:
    """MTH(D[start:end]) for a range RFC 9162's recursion produces: ``start`` a multiple of the
    largest power of two <= ``end - start`` (so the range is a run of perfect aligned subtrees of
    decreasing size, folded right to left). O(log n) calls of ``subtree``.

    Raises ValueError for an empty, negative or unaligned range."""
    n = end - start
    if start < 0 or n <= 0:
        raise ValueError(f"no Merkle range [{start}, {end})")
    if start % (1 << (n.bit_length() - 1)):
        raise ValueError(
            f"range [{start}, {end}) is not one the tree's recursion produces: {start} is not a "
            f"multiple of {1 << (n.bit_length() - 1)}"
        )
    pieces: list[bytes] = []
    at = start
    while at < end:
        size = 1 << ((end - at).bit_length() - 1)
        pieces.append(subtree(at, at + size))
        at += size
    result = pieces[-1]
    for piece in reversed(pieces[:-1]):
        result = _sha256(_NODE + piece + result).digest()
    return result


def root_from(size: int, subtree: SubtreeHash) -> bytes:
    """MTH(D[0:size]): the binary decomposition of ``size`` into perfect subtrees, folded right to
    left; :data:`EMPTY_ROOT` for size 0. O(log n) calls of ``subtree``."""
    if size < 0:
        raise ValueError(f"a tree cannot have size {size}")
    if size == 0:
        return EMPTY_ROOT
    return range_hash(0, size, subtree)


# -- proofs ---------------------------------------------------------------------------------------


def inclusion_proof(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 2.1.3.1, leaf to root: the sibling hashes on the way from
    leaf ``index`` to the root of the tree of ``size`` leaves. Raises ValueError unless
    ``0 <= index < size``."""
    if not 0 <= index < size:
        raise ValueError(f"no leaf {index} in a tree of size {size}")
    path: list[bytes] = []  # root to leaf, reversed at the end
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            # The right sibling D[start+k:end]; once the path turns left, every range below is
            # perfect, so at most one of these is not a single subtree.
            path.append(range_hash(start + k, end, subtree))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
            m -= k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 2.1.4.1 (SUBPROOF with b = true at the top).
    Empty when ``old_size`` is 0 or equals ``new_size``. Raises ValueError unless
    ``0 <= old_size <= new_size``."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    proof: list[bytes] = []  # root to leaves, reversed at the end
    start, end, m, whole = 0, new_size, old_size, True
    while True:
        n = end - start
        if m == n:
            if not whole:
                proof.append(range_hash(start, end, subtree))
            break
        k = _split(n)
        if m <= k:
            proof.append(range_hash(start + k, end, subtree))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start += k
            m -= k
            whole = False
    proof.reverse()
    return proof


# -- verification (RFC 9162 2.1.3.2 and 2.1.4.2) --------------------------------------------------


def _check_hash(what: str, value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        got = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte hash (got {got})")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` (a leaf *hash*) is entry ``index`` of the tree of ``size`` leaves whose
    root is ``root``, by the audit path ``proof`` (RFC 9162 2.1.3.2). Returns None when it holds;
    raises ProofError saying what failed."""
    _check_hash("the leaf hash (leaf_hash(entry))", leaf)
    _check_hash("the root", root)
    if size < 1 or not 0 <= index < size:
        raise ProofError(f"no leaf {index} in a tree of size {size}")
    for i, p in enumerate(proof):
        _check_hash(f"proof hash {i}", p)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError(
                f"the inclusion proof is too long: {len(proof)} hashes for leaf {index} of {size}"
            )
        if fn & 1 or fn == sn:
            r = _sha256(_NODE + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(_NODE + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"the inclusion proof is too short: {len(proof)} hashes for leaf {index} of {size}"
        )
    if r != root:
        raise ProofError(
            f"the inclusion proof for leaf {index} of {size} leads to root {r.hex()}, "
            f"not {root.hex()}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``new_size`` leaves with root ``new_root`` extends the tree of
    ``old_size`` leaves with root ``old_root``, by ``proof`` (RFC 9162 2.1.4.2). An empty tree is
    consistent with every tree (empty proof, and ``old_root`` must be :data:`EMPTY_ROOT`); equal
    sizes need equal roots (empty proof). Returns None when it holds; raises ProofError saying
    what failed."""
    _check_hash("the old root", old_root)
    _check_hash("the new root", new_root)
    if old_size < 0 or new_size < old_size:
        raise ProofError(f"a tree of size {new_size} cannot extend one of size {old_size}")
    for i, p in enumerate(proof):
        _check_hash(f"proof hash {i}", p)
    if old_size == 0 or old_size == new_size:
        if proof:
            raise ProofError(
                f"the consistency proof from size {old_size} to {new_size} must be empty, "
                f"it has {len(proof)} hashes"
            )
        if old_size == new_size and old_root != new_root:
            raise ProofError(f"two different roots for the same size {old_size}")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError(
                f"the root of the empty tree is {EMPTY_ROOT.hex()}, not {old_root.hex()}"
            )
        return
    if not proof:
        raise ProofError(f"the consistency proof from size {old_size} to {new_size} is empty")
    path = [old_root, *proof] if _is_power_of_two(old_size) else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(
                f"the consistency proof from size {old_size} to {new_size} is too long "
                f"({len(proof)} hashes)"
            )
        if fn & 1 or fn == sn:
            fr = _sha256(_NODE + c + fr).digest()
            sr = _sha256(_NODE + c + sr).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(_NODE + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"the consistency proof from size {old_size} to {new_size} is too short "
            f"({len(proof)} hashes)"
        )
    if fr != old_root:
        raise ProofError(
            f"the consistency proof leads to old root {fr.hex()} for size {old_size}, "
            f"not {old_root.hex()}"
        )
    if sr != new_root:
        raise ProofError(
            f"the consistency proof leads to new root {sr.hex()} for size {new_size}, "
            f"not {new_root.hex()}"
        )


# -- a whole log in one pass ----------------------------------------------------------------------


def _fold(stack: list[bytes]) -> bytes:
    """The root of the tree whose perfect subtrees (left to right, decreasing) are ``stack``."""
    if not stack:
        return EMPTY_ROOT
    sha256, node = _sha256, _NODE
    result = stack[-1]
    for i in range(len(stack) - 2, -1, -1):
        result = sha256(node + stack[i] + result).digest()
    return result


def root_of_leaves(leaves: Iterable[bytes]) -> bytes:
    """MTH of a sequence of leaf hashes, in one streaming pass keeping O(log n) hashes: a stack of
    the perfect subtrees so far (the binary decomposition of the count), merged as they fill."""
    sha256, node = _sha256, _NODE
    stack: list[bytes] = []
    push, pop = stack.append, stack.pop
    for count, leaf in enumerate(leaves, 1):
        h, c = leaf, count
        while not c & 1:  # each trailing zero of the new count completes one subtree
            h = sha256(node + pop() + h).digest()
            c >>= 1
        push(h)
    return _fold(stack)


def roots_at(leaves: Iterable[bytes], sizes: Iterable[int]) -> dict[int, bytes]:
    """The root at each size in ``sizes``, from one streaming pass over the leaf hashes (a
    verifier checks every signed tree head while it reads the log once). Raises ValueError for a
    negative size or one beyond the number of leaves."""
    wanted = sorted(set(sizes))
    if wanted and wanted[0] < 0:
        raise ValueError(f"a tree cannot have size {wanted[0]}")
    roots: dict[int, bytes] = {}
    at = 0
    if wanted and wanted[0] == 0:
        roots[0] = EMPTY_ROOT
        at = 1
    if at == len(wanted):
        return roots
    target = wanted[at]
    sha256, node = _sha256, _NODE
    stack: list[bytes] = []
    push, pop = stack.append, stack.pop
    count = 0
    for h in leaves:
        count += 1
        c = count
        while not c & 1:
            h = sha256(node + pop() + h).digest()
            c >>= 1
        push(h)
        if count == target:
            roots[count] = _fold(stack)
            at += 1
            if at == len(wanted):
                return roots
            target = wanted[at]
    raise ValueError(f"the log has {count} leaves: no root at size {target}")


# -- an append-only tree in memory ----------------------------------------------------------------


class MemoryTree:
    """An append-only tree in memory that keeps every perfect aligned subtree hash (the scheme the
    hub's database uses): ``levels[h][i]`` is MTH(D[i * 2^h : (i + 1) * 2^h]). An append adds the
    leaf and the subtrees it completes, O(log n) hashes."""

    def __init__(self, entries: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for entry in entries:
            self.append(entry)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def __len__(self) -> int:
        return self.size

    def append(self, entry: bytes) -> int:
        """Add an entry (hashed as a leaf); returns its index."""
        return self.append_hash(leaf_hash(entry))

    def append_hash(self, leaf: bytes) -> int:
        """Add a leaf by its leaf hash; returns its index."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash has {HASH_SIZE} bytes, not {len(leaf)}")
        levels = self._levels
        index = len(levels[0])
        levels[0].append(leaf)
        h, i, value = 0, index, leaf
        while i & 1:  # a right child completes its parent
            value = _sha256(_NODE + levels[h][i - 1] + value).digest()
            h, i = h + 1, i >> 1
            if h == len(levels):
                levels.append([])
            levels[h].append(value)
        return index

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) of a perfect aligned range; ValueError for any other range."""
        n = end - start
        if not _is_power_of_two(n) or start < 0 or start % n:
            raise ValueError(
                f"[{start}, {end}) is not a perfect aligned subtree (its size must be a power of "
                "two and its start a multiple of it)"
            )
        if end > self.size:
            raise ValueError(f"[{start}, {end}) goes past the tree's {self.size} leaves")
        h = n.bit_length() - 1
        return self._levels[h][start >> h]

    def root(self, size: int | None = None) -> bytes:
        """MTH(D[0:size]), the current root by default."""
        return root_from(self._size(size), self.subtree)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(index, self._size(size), self.subtree)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        return consistency_proof(old, self._size(new), self.subtree)

    def _size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise ValueError(f"the tree has {self.size} leaves, not {size}")
        return size

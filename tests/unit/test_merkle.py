"""The ledger's Merkle tree (causeway.model.merkle) against RFC 9162 / RFC 6962.

* The published test vectors (the 8-leaf reference tree, its roots, inclusion and consistency
  proofs), hard-coded below.
* Every tree size 1..300: every inclusion proof (every index) and every consistency proof (every
  pair 1 <= m <= n <= 300, the full grid of 45,150 pairs) verifies against roots recomputed by a
  naive recursive MTH written here, independent of the module; for n <= 64 the proofs also equal
  the ones the RFC's recursive PATH and SUBPROOF (written here too) give.
* Tampering: one flipped byte in any proof hash, the leaf or a root, a changed index or size,
  swapped roots, a proof made longer or shorter are all refused. (A tree size off by one *with
  the same root* can keep a proof's shape and verify — RFC 9162's verifiers cannot tell, the
  signed tree head binds a size to its root — so such sizes are tested against their own roots.) Every proof hash of every proof
  for sizes <= 64; for larger sizes a deterministic sample (seeded) of indices, pairs and bytes.
* Hypothesis property tests (50 examples each) on random logs.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causeway.model import merkle
from causeway.model.errors import ProofError, SignatureError, error_for_code
from causeway.model.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MemoryTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_hash,
    root_from,
    root_of_leaves,
    roots_at,
    verify_consistency,
    verify_inclusion,
)

# -- an independent reference, straight from RFC 9162 2.1.1, 2.1.3.1 and 2.1.4.1 ------------------


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(hashes: list[bytes]) -> bytes:
    """MTH of a list of leaf hashes, by the RFC's recursion."""
    if not hashes:
        return _sha(b"")
    if len(hashes) == 1:
        return hashes[0]
    k = _k(len(hashes))
    return _sha(b"\x01" + naive_mth(hashes[:k]) + naive_mth(hashes[k:]))


def naive_path(m: int, hashes: list[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = _k(len(hashes))
    if m < k:
        return [*naive_path(m, hashes[:k]), naive_mth(hashes[k:])]
    return [*naive_path(m - k, hashes[k:]), naive_mth(hashes[:k])]


def naive_subproof(m: int, hashes: list[bytes], whole: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if whole else [naive_mth(hashes)]
    k = _k(n)
    if m <= k:
        return [*naive_subproof(m, hashes[:k], whole), naive_mth(hashes[k:])]
    return [*naive_subproof(m - k, hashes[k:], False), naive_mth(hashes[:k])]


def flip(value: bytes, position: int = 0) -> bytes:
    out = bytearray(value)
    out[position % len(out)] ^= 0x01
    return bytes(out)


N = 300
ENTRIES = [
    f'{{"seq":{i},"kind":"task","node":"site{i % 7:02d}","digest":"{i * 7919:08x}"}}'.encode()
    for i in range(N)
]
LEAVES = [_sha(b"\x00" + e) for e in ENTRIES]
ROOTS = [naive_mth(LEAVES[:n]) for n in range(N + 1)]
TREE = MemoryTree(ENTRIES)


# -- the published vectors ------------------------------------------------------------------------
#
# From RFC 6962's reference tree as used by Google's Certificate Transparency implementation:
# google/certificate-transparency cpp/merkletree/merkle_tree_test.cc (kInputs, kSHA256Roots,
# kSHA256Paths, kSHA256Proofs) and transparency-dev/merkle proof/verify_test.go (the same vectors
# plus the 6 -> 7 consistency proof) and rfc6962/rfc6962_test.go (the hasher's vectors). Only the
# data is taken from there.

VECTOR_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
VECTOR_ROOTS = [  # the roots of the trees of the first 1..8 inputs
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (0-based index, tree size, path leaf to root); the sources number leaves from 1.
VECTOR_PATHS = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
VECTOR_PROOFS = [  # (old size, new size, consistency proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
VECTOR_TREE = MemoryTree(VECTOR_INPUTS)


def test_the_hashes_are_the_rfcs() -> None:
    assert HASH_SIZE == 32
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert (
        leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert (
        leaf_hash(b"L123456").hex()
        == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert (
        node_hash(b"N123", b"N456").hex()
        == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )
    # Domain separation: a node is never the leaf of its children's concatenation.
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) != leaf_hash(a + b) and node_hash(a, b) != node_hash(b, a)


def test_the_roots_of_the_reference_tree() -> None:
    leaves = [leaf_hash(e) for e in VECTOR_INPUTS]
    assert VECTOR_TREE.root(0) == EMPTY_ROOT
    for size, expected in enumerate(VECTOR_ROOTS, 1):
        assert VECTOR_TREE.root(size).hex() == expected
        assert root_from(size, VECTOR_TREE.subtree).hex() == expected
        assert root_of_leaves(leaves[:size]).hex() == expected
        assert naive_mth(leaves[:size]).hex() == expected  # the reference here is right too
    assert {s: r.hex() for s, r in roots_at(leaves, range(1, 9)).items()} == dict(
        enumerate(VECTOR_ROOTS, 1)
    )


@pytest.mark.parametrize(("index", "size", "path"), VECTOR_PATHS)
def test_the_published_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    proof = VECTOR_TREE.inclusion_proof(index, size)
    assert [h.hex() for h in proof] == path
    root = bytes.fromhex(VECTOR_ROOTS[size - 1])
    leaf = leaf_hash(VECTOR_INPUTS[index])
    verify_inclusion(leaf, index, size, proof, root)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = flip(bad[i], 3)
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, bad, root)


@pytest.mark.parametrize(("old", "new", "path"), VECTOR_PROOFS)
def test_the_published_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    proof = VECTOR_TREE.consistency_proof(old, new)
    assert [h.hex() for h in proof] == path
    old_root, new_root = (bytes.fromhex(VECTOR_ROOTS[s - 1]) for s in (old, new))
    verify_consistency(old, new, old_root, new_root, proof)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = flip(bad[i], 4)
        with pytest.raises(ProofError):
            verify_consistency(old, new, old_root, new_root, bad)


# -- roots ----------------------------------------------------------------------------------------


def test_root_from_agrees_with_the_naive_mth_at_every_size() -> None:
    for size in range(N + 1):
        assert root_from(size, TREE.subtree) == ROOTS[size], size
        assert TREE.root(size) == ROOTS[size]
        assert root_of_leaves(iter(LEAVES[:size])) == ROOTS[size]
    assert TREE.root() == ROOTS[N] and TREE.size == len(TREE) == N
    with pytest.raises(ValueError):
        root_from(-1, TREE.subtree)


def test_roots_at_gives_every_size_asked_in_one_pass() -> None:
    consumed = 0

    def once() -> Iterator[bytes]:
        nonlocal consumed
        for leaf in LEAVES:
            consumed += 1
            yield leaf

    sizes = [300, 0, 1, 7, 7, 128, 255, 256, 257, 2, 299]
    roots = roots_at(once(), sizes)
    assert roots == {s: ROOTS[s] for s in sizes}
    assert consumed == N
    assert roots_at(LEAVES, range(N + 1)) == dict(enumerate(ROOTS))
    assert roots_at(LEAVES, []) == {}
    assert roots_at([], [0]) == {0: EMPTY_ROOT}
    # It stops reading once the largest size asked for is reached.
    consumed = 0
    assert roots_at(once(), [10]) == {10: ROOTS[10]} and consumed == 10
    with pytest.raises(ValueError, match="301"):
        roots_at(LEAVES, [5, 301])
    with pytest.raises(ValueError):
        roots_at(LEAVES, [-1])


def test_subtree_gives_every_perfect_aligned_range_and_refuses_any_other() -> None:
    size = 1
    while size <= N:
        for start in range(0, N - size + 1, size):
            assert TREE.subtree(start, start + size) == naive_mth(LEAVES[start : start + size])
        size *= 2
    assert TREE.subtree(5, 6) == LEAVES[5]
    for start, end in [(0, 3), (1, 3), (2, 6), (4, 4), (5, 4), (0, 0), (-1, 0), (3, 5), (8, 24)]:
        with pytest.raises(ValueError):
            TREE.subtree(start, end)
    with pytest.raises(ValueError):
        TREE.subtree(256, 512)  # aligned and perfect, but past the end
    with pytest.raises(ValueError):
        MemoryTree().subtree(0, 1)


def _recursion_ranges(start: int, end: int, out: set[tuple[int, int]]) -> None:
    out.add((start, end))
    if end - start > 1:
        k = _k(end - start)
        _recursion_ranges(start, start + k, out)
        _recursion_ranges(start + k, end, out)


def test_range_hash_covers_every_range_the_recursion_produces() -> None:
    ranges: set[tuple[int, int]] = set()
    for size in range(1, N + 1):
        _recursion_ranges(0, size, ranges)
    for start, end in ranges:
        assert range_hash(start, end, TREE.subtree) == naive_mth(LEAVES[start:end])

    # Refused by range_hash itself, even with a subtree function that would answer any range.
    def any_range(start: int, end: int) -> bytes:
        return naive_mth(LEAVES[start:end])

    for start, end in [(1, 3), (2, 6), (4, 4), (6, 5), (-2, 0), (3, 9), (4, 12)]:
        with pytest.raises(ValueError):
            range_hash(start, end, any_range)


def test_roots_and_proofs_ask_for_o_log_n_subtrees() -> None:
    calls = 0

    def counted(start: int, end: int) -> bytes:
        nonlocal calls
        calls += 1
        return TREE.subtree(start, end)

    for size in range(1, N + 1):
        bound = 2 * size.bit_length()
        calls = 0
        root_from(size, counted)
        assert calls == bin(size).count("1")
        for index in range(0, size, 7):
            calls = 0
            inclusion_proof(index, size, counted)
            assert calls <= bound, (index, size)
        for old in range(1, size, 7):
            calls = 0
            consistency_proof(old, size, counted)
            assert calls <= bound, (old, size)


def test_an_append_hashes_o_log_n(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = MemoryTree()
    real = hashlib.sha256
    calls = 0

    def counted(data: bytes = b"") -> hashlib._Hash:
        nonlocal calls
        calls += 1
        return real(data)

    monkeypatch.setattr(merkle, "_sha256", counted)
    for i, entry in enumerate(ENTRIES[:257]):
        calls = 0
        assert tree.append(entry) == i
        # the leaf, then one node per subtree this leaf completes (trailing ones of its index)
        assert calls == 1 + (len(bin(i + 1)) - len(bin(i + 1).rstrip("0")))
        assert calls <= 1 + (i + 1).bit_length()
    monkeypatch.undo()
    assert tree.root() == ROOTS[257]


def test_a_memory_tree_checks_sizes_and_leaf_hashes() -> None:
    tree = MemoryTree(ENTRIES[:10])
    assert tree.append_hash(LEAVES[10]) == 10 and tree.root() == ROOTS[11]
    assert tree.inclusion_proof(3) == tree.inclusion_proof(3, 11)
    assert tree.consistency_proof(4) == tree.consistency_proof(4, 11)
    for call in (
        lambda: tree.root(12),
        lambda: tree.root(-1),
        lambda: tree.inclusion_proof(3, 12),
        lambda: tree.inclusion_proof(11),
        lambda: tree.consistency_proof(4, 12),
        lambda: tree.consistency_proof(5, 4),
        lambda: tree.append_hash(b"short"),
    ):
        with pytest.raises(ValueError):
            call()


# -- inclusion ------------------------------------------------------------------------------------


def test_every_inclusion_proof_verifies_up_to_300() -> None:
    for size in range(1, N + 1):
        root = ROOTS[size]
        for index in range(size):
            proof = TREE.inclusion_proof(index, size)
            if size <= 64:
                assert proof == naive_path(index, LEAVES[:size]), (index, size)
            verify_inclusion(LEAVES[index], index, size, proof, root)


def _inclusion_refused(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, root)


def _tamper_inclusion(index: int, size: int, rng: random.Random, every_hash: bool) -> None:
    leaf, root = LEAVES[index], ROOTS[size]
    proof = TREE.inclusion_proof(index, size)
    positions = (
        range(len(proof)) if every_hash else rng.sample(range(len(proof)), min(2, len(proof)))
    )
    for i in positions:
        bad = list(proof)
        bad[i] = flip(bad[i], rng.randrange(HASH_SIZE))
        _inclusion_refused(leaf, index, size, bad, root)
    _inclusion_refused(flip(leaf, rng.randrange(HASH_SIZE)), index, size, proof, root)
    _inclusion_refused(leaf, index, size, proof, flip(root, rng.randrange(HASH_SIZE)))
    # Another leaf of the same tree, the proof cut short, made longer, or a hash inserted.
    if size > 1:
        _inclusion_refused(LEAVES[(index + 1) % size], index, size, proof, root)
        _inclusion_refused(leaf, index, size, proof[:-1], root)
        _inclusion_refused(leaf, index, size, proof[1:], root)
        _inclusion_refused(leaf, index, size, [proof[0], EMPTY_ROOT, *proof[1:]], root)
    _inclusion_refused(leaf, index, size, [*proof, root], root)
    _inclusion_refused(leaf, index, size, [root, *proof], root)
    # A changed index, with the same root.
    for other in {index - 1, index + 1, index ^ 2} - {index}:
        _inclusion_refused(leaf, other, size, proof, root)
    # A changed size: halved or doubled with the same root, and off by one against the root of
    # that size (off by one with the same root may keep the path's shape and verify: the size is
    # bound to its root by the signed tree head, not by the proof).
    for other in {size // 2, size * 2} - {size}:
        _inclusion_refused(leaf, index, other, proof, root)
    for other in {size - 1, size + 1, size // 2, size * 2} - {size}:
        if index < other <= N:
            _inclusion_refused(leaf, index, other, proof, ROOTS[other])


def test_a_tampered_inclusion_proof_is_refused() -> None:
    """Every index and every proof hash for sizes <= 64; above, three indices per size and two
    proof hashes each (seeded)."""
    rng = random.Random(9162)
    for size in range(1, N + 1):
        if size <= 64:
            for index in range(size):
                _tamper_inclusion(index, size, rng, every_hash=True)
        else:
            for index in {0, size - 1, rng.randrange(size)}:
                _tamper_inclusion(index, size, rng, every_hash=False)


def test_inclusion_edge_cases_say_what_failed() -> None:
    leaf = LEAVES[0]
    verify_inclusion(leaf, 0, 1, [], leaf)  # a tree of one leaf: the root is the leaf hash
    with pytest.raises(ProofError, match="no leaf 0 in a tree of size 0"):
        verify_inclusion(leaf, 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="no leaf 1 in a tree of size 1"):
        verify_inclusion(leaf, 1, 1, [], leaf)
    with pytest.raises(ProofError, match="no leaf -1"):
        verify_inclusion(leaf, -1, 4, TREE.inclusion_proof(0, 4), ROOTS[4])
    with pytest.raises(ProofError, match="32-byte"):
        verify_inclusion(ENTRIES[0], 0, 1, [], leaf)  # the entry, not its leaf hash
    with pytest.raises(ProofError, match="32-byte"):
        verify_inclusion(leaf, 0, 1, [], b"")
    with pytest.raises(ProofError, match="proof hash 1"):
        verify_inclusion(leaf, 0, 4, [LEAVES[1], b"x" * 31], ROOTS[4])
    with pytest.raises(ProofError, match="too long"):
        verify_inclusion(leaf, 0, 2, [LEAVES[1], LEAVES[1]], ROOTS[2])
    with pytest.raises(ProofError, match="too short"):
        verify_inclusion(leaf, 0, 4, [LEAVES[1]], ROOTS[4])
    with pytest.raises(ProofError, match="leads to root"):
        verify_inclusion(leaf, 0, 2, [LEAVES[2]], ROOTS[2])
    for bad in [(-1, 3), (3, 3), (0, 0)]:
        with pytest.raises(ValueError):
            inclusion_proof(*bad, TREE.subtree)


def test_a_proof_error_is_a_signature_error_with_its_own_code() -> None:
    assert issubclass(ProofError, SignatureError)
    assert ProofError.code == "E212" and error_for_code("E212") is ProofError
    assert merkle.ProofError is ProofError
    try:
        verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[1])
    except ProofError as error:
        assert error.detail == str(error) and "leads to root" in error.detail
    else:
        raise AssertionError("a wrong root verified")


# -- consistency ----------------------------------------------------------------------------------


def test_every_consistency_proof_verifies_up_to_300() -> None:
    """The full grid, 1 <= m <= n <= 300 (45,150 pairs)."""
    pairs = 0
    for new in range(1, N + 1):
        new_root = ROOTS[new]
        for old in range(1, new + 1):
            proof = TREE.consistency_proof(old, new)
            if new <= 64:
                assert proof == naive_subproof(old, LEAVES[:new], True), (old, new)
            verify_consistency(old, new, ROOTS[old], new_root, proof)
            pairs += 1
    assert pairs == 45_150


def _consistency_refused(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> None:
    with pytest.raises(ProofError):
        verify_consistency(old, new, old_root, new_root, proof)


def _tamper_consistency(old: int, new: int, rng: random.Random, every_hash: bool) -> None:
    old_root, new_root = ROOTS[old], ROOTS[new]
    proof = TREE.consistency_proof(old, new)
    positions = (
        range(len(proof)) if every_hash else rng.sample(range(len(proof)), min(2, len(proof)))
    )
    for i in positions:
        bad = list(proof)
        bad[i] = flip(bad[i], rng.randrange(HASH_SIZE))
        _consistency_refused(old, new, old_root, new_root, bad)
    _consistency_refused(old, new, flip(old_root, rng.randrange(HASH_SIZE)), new_root, proof)
    _consistency_refused(old, new, old_root, flip(new_root, rng.randrange(HASH_SIZE)), proof)
    _consistency_refused(old, new, new_root, old_root, proof)  # swapped roots
    _consistency_refused(old, new, old_root, new_root, [])
    _consistency_refused(old, new, old_root, new_root, proof[:-1])
    _consistency_refused(old, new, old_root, new_root, proof[1:])
    _consistency_refused(old, new, old_root, new_root, [*proof, proof[-1]])
    _consistency_refused(old, new, old_root, new_root, [proof[0], *proof])
    _consistency_refused(old, new, old_root, new_root, [old_root, *proof])
    # Wrong sizes. An old size off by one or two is refused with the same roots; so is a new size
    # halved or doubled. A new size off by one with the *same* new root can describe a tree of the
    # same shape and verify: the RFC's verifier cannot tell, which is why a size is only ever
    # taken from a signed tree head together with its root. So those are checked against the
    # true root of that size.
    for other in {old - 1, old + 1, old ^ 2} - {old}:
        if 0 <= other <= new:
            _consistency_refused(other, new, old_root, new_root, proof)
            _consistency_refused(other, new, ROOTS[other], new_root, proof)
    for other in {new // 2, new * 2} - {new}:
        if old <= other:
            _consistency_refused(old, other, old_root, new_root, proof)
    for other in {new - 1, new + 1, new // 2, new * 2} - {new}:
        if old <= other <= N:
            _consistency_refused(old, other, old_root, ROOTS[other], proof)


def test_a_tampered_consistency_proof_is_refused() -> None:
    """Every pair 1 <= m < n <= 64 with every proof hash flipped; above, 600 pairs (seeded) with two
    proof hashes each."""
    rng = random.Random(6962)
    for new in range(2, 65):
        for old in range(1, new):
            _tamper_consistency(old, new, rng, every_hash=True)
    for _ in range(600):
        new = rng.randrange(65, N + 1)
        _tamper_consistency(rng.randrange(1, new), new, rng, every_hash=False)


def test_consistency_edge_cases() -> None:
    some = ROOTS[5]
    # From the empty tree: anything is consistent, with an empty proof.
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 7, EMPTY_ROOT, ROOTS[7], [])
    assert consistency_proof(0, 7, TREE.subtree) == [] == TREE.consistency_proof(0, 7)
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(0, 7, EMPTY_ROOT, ROOTS[7], [EMPTY_ROOT])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 7, some, ROOTS[7], [])
    # Equal sizes: equal roots, empty proof.
    verify_consistency(5, 5, some, some, [])
    assert TREE.consistency_proof(5, 5) == []
    with pytest.raises(ProofError, match="two different roots"):
        verify_consistency(5, 5, some, ROOTS[4], [])
    with pytest.raises(ProofError, match="two different roots"):
        verify_consistency(0, 0, EMPTY_ROOT, some, [])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(5, 5, some, some, [EMPTY_ROOT])
    # Bad sizes.
    for old, new in [(1, 0), (6, 5), (-1, 3)]:
        with pytest.raises(ProofError, match="cannot extend"):
            verify_consistency(old, new, some, some, [])
        with pytest.raises(ValueError):
            consistency_proof(old, new, TREE.subtree)
    # A non-trivial pair needs a proof.
    with pytest.raises(ProofError, match="is empty"):
        verify_consistency(1, 2, ROOTS[1], ROOTS[2], [])
    # An old size that is a power of two: the old root is the first step, not in the proof.
    proof = TREE.consistency_proof(4, 9)
    assert TREE.subtree(0, 4) not in proof
    verify_consistency(4, 9, ROOTS[4], ROOTS[9], proof)
    with pytest.raises(ProofError, match="new root"):  # the wrong old root is the first step
        verify_consistency(4, 9, ROOTS[3], ROOTS[9], proof)
    with pytest.raises(ProofError, match="old root"):
        verify_consistency(5, 9, ROOTS[4], ROOTS[9], TREE.consistency_proof(5, 9))
    with pytest.raises(ProofError, match="32-byte"):
        verify_consistency(4, 9, b"WrongRoot", ROOTS[9], proof)
    with pytest.raises(ProofError, match="proof hash 0"):
        verify_consistency(4, 9, ROOTS[4], ROOTS[9], [b"", *proof])
    with pytest.raises(ProofError, match="too long"):
        verify_consistency(2, 4, ROOTS[2], ROOTS[4], [*TREE.consistency_proof(2, 4), some, some])
    with pytest.raises(ProofError, match="too short"):
        verify_consistency(3, 9, ROOTS[3], ROOTS[9], TREE.consistency_proof(3, 9)[:2])


# -- properties -----------------------------------------------------------------------------------

entries = st.lists(st.binary(max_size=24), min_size=1, max_size=80)


@settings(max_examples=50, deadline=None)
@given(entries, st.data())
def test_any_log_proves_inclusion_of_each_entry(items: list[bytes], data: st.DataObject) -> None:
    leaves = [_sha(b"\x00" + e) for e in items]
    tree = MemoryTree(items)
    size = data.draw(st.integers(1, len(items)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    root = naive_mth(leaves[:size])
    assert tree.root(size) == root == root_of_leaves(leaves[:size])
    proof = tree.inclusion_proof(index, size)
    assert proof == naive_path(index, leaves[:size])
    verify_inclusion(leaves[index], index, size, proof, root)
    if proof:
        at = data.draw(st.integers(0, len(proof) * HASH_SIZE - 1), label="byte")
        bad = list(proof)
        bad[at // HASH_SIZE] = flip(bad[at // HASH_SIZE], at % HASH_SIZE)
        with pytest.raises(ProofError):
            verify_inclusion(leaves[index], index, size, bad, root)


@settings(max_examples=50, deadline=None)
@given(entries, st.data())
def test_any_log_proves_it_only_grew(items: list[bytes], data: st.DataObject) -> None:
    leaves = [_sha(b"\x00" + e) for e in items]
    tree = MemoryTree(items)
    new = data.draw(st.integers(1, len(items)), label="new")
    old = data.draw(st.integers(1, new), label="old")
    proof = tree.consistency_proof(old, new)
    assert proof == naive_subproof(old, leaves[:new], True)
    old_root, new_root = naive_mth(leaves[:old]), naive_mth(leaves[:new])
    verify_consistency(old, new, old_root, new_root, proof)
    # A log that rewrote one old entry cannot prove it extends the old head.
    if old < new:
        changed = data.draw(st.integers(0, old - 1), label="rewritten")
        forged = MemoryTree([*items[:changed], items[changed] + b"!", *items[changed + 1 :]])
        with pytest.raises(ProofError):
            verify_consistency(
                old, new, old_root, forged.root(new), forged.consistency_proof(old, new)
            )


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=200), st.lists(st.integers(0, 200)))
def test_roots_at_matches_the_naive_root_at_each_size(
    leaves: list[bytes], sizes: list[int]
) -> None:
    sizes = [s for s in sizes if s <= len(leaves)]
    assert roots_at(iter(leaves), sizes) == {s: naive_mth(leaves[:s]) for s in sizes}
    assert root_of_leaves(iter(leaves)) == naive_mth(leaves)

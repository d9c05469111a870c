"""Secure aggregation's masks: they cancel over the participants, hide each share, bind to the round,
and the keys they come from are announced so that a relay cannot substitute one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from causeway.crypto import secagg
from causeway.crypto.keys import generate_key, public_text
from causeway.model.errors import DisclosureRefused, InvalidRequest, SignatureError
from causeway.node.store import MaskStep, NodeStore

NAMES = ("east", "north", "south", "west")


def _keys() -> dict[str, X25519PrivateKey]:
    return {name: X25519PrivateKey.generate() for name in NAMES}


def _publics(keys: dict[str, X25519PrivateKey]) -> dict[str, X25519PublicKey]:
    return {name: key.public_key() for name, key in keys.items()}


def test_pairwise_masks_cancel_and_self_masks_are_removed_by_their_seeds() -> None:
    keys, rng = _keys(), np.random.default_rng(1)
    context = secagg.round_context("task", 3, 0, NAMES, "q")
    values = {n: rng.integers(0, 2**63, size=1000, dtype=np.uint64) for n in NAMES}
    seeds = {n: secagg.new_seed() for n in NAMES}
    masked = {
        n: secagg.mask(values[n], n, keys[n], _publics(keys), context, seeds[n]) for n in NAMES
    }
    total = np.zeros(1000, dtype=np.uint64)
    for n in NAMES:
        total = total + masked[n] - secagg.keystream(seeds[n], 1000)
    expected = np.zeros(1000, dtype=np.uint64)
    for n in NAMES:
        expected = expected + values[n]
    assert np.array_equal(total, expected)
    # each masked vector alone looks nothing like its values
    for n in NAMES:
        assert not np.any(masked[n] == values[n])


def test_without_every_self_seed_the_sum_stays_masked() -> None:
    keys = _keys()
    context = secagg.round_context("task", 0, 0, NAMES, "q")
    seeds = {n: secagg.new_seed() for n in NAMES}
    zeros = np.zeros(64, dtype=np.uint64)
    total = np.zeros(64, dtype=np.uint64)
    for n in NAMES:
        total = total + secagg.mask(zeros, n, keys[n], _publics(keys), context, seeds[n])
    for n in NAMES[:-1]:  # one seed withheld
        total = total - secagg.keystream(seeds[n], 64)
    assert np.array_equal(total, secagg.keystream(seeds[NAMES[-1]], 64))
    assert np.count_nonzero(total) == 64


def test_masks_are_bound_to_the_round_the_attempt_and_the_participants() -> None:
    keys, zeros, seed = _keys(), np.zeros(32, dtype=np.uint64), bytes(32)
    contexts = [
        secagg.round_context("task", 0, 0, NAMES, "q"),
        secagg.round_context("task", 1, 0, NAMES, "q"),
        secagg.round_context("task", 0, 1, NAMES, "q"),
        secagg.round_context("task", 0, 0, NAMES[:3], "q"),
        secagg.round_context("other", 0, 0, NAMES, "q"),
        secagg.round_context("task", 0, 0, NAMES, "another question"),
    ]
    outputs = [
        secagg.mask(zeros, "north", keys["north"], _publics(keys), c, seed).tobytes()
        for c in contexts
    ]
    assert len(set(outputs)) == len(outputs)


def test_keystream_is_deterministic_uniform_looking_and_seed_dependent() -> None:
    a = secagg.keystream(bytes(32), 100_000)
    assert np.array_equal(a, secagg.keystream(bytes(32), 100_000))
    assert not np.array_equal(a, secagg.keystream(b"\x01" + bytes(31), 100_000))
    # each of the 8 bytes of a word is uniform: means near 127.5
    means = a.view(np.uint8).reshape(-1, 8).mean(axis=0)
    assert np.all(np.abs(means - 127.5) < 2.0)


def test_announcements_bind_node_key_and_version_to_the_signing_key() -> None:
    signing, other = generate_key(), generate_key()
    agreement = X25519PrivateKey.generate()
    public = secagg.agreement_public_text(agreement)
    signed = secagg.KeyAnnouncement("north", public, 1).signed(signing)
    assert secagg.agreement_public_text(signed.verify(signing.public_key())) == public
    with pytest.raises(SignatureError, match="not signed by its signing key"):
        signed.verify(other.public_key())
    substitute = secagg.agreement_public_text(X25519PrivateKey.generate())
    for forged in (
        secagg.KeyAnnouncement("north", substitute, 1, signed.signature),
        secagg.KeyAnnouncement("south", public, 1, signed.signature),
        secagg.KeyAnnouncement("north", public, 2, signed.signature),
    ):
        with pytest.raises(SignatureError):
            forged.verify(signing.public_key())


def test_pack_round_trips_and_refuses_the_wrong_size() -> None:
    vector = np.array([0, 1, 2**64 - 1, 2**63], dtype=np.uint64)
    assert np.array_equal(secagg.unpack(secagg.pack(vector), 4), vector)
    with pytest.raises(InvalidRequest, match="holds 4 values, not 5"):
        secagg.unpack(secagg.pack(vector), 5)
    with pytest.raises(InvalidRequest, match="not base64"):
        secagg.unpack("***", 1)


def test_agreement_key_file_is_created_once_and_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "aggregation_key.pem"
    first = secagg.load_or_create_agreement_key(path)
    again = secagg.load_or_create_agreement_key(path)
    assert secagg.agreement_public_text(first) == secagg.agreement_public_text(again)
    assert path.stat().st_mode & 0o777 == 0o600


def _step(attempt: int, round_: int = 0, question: str = "q", sites: str = "abc") -> MaskStep:
    return MaskStep("t", round_, attempt, f"sent-{round_}-{attempt}", question, tuple(sites))


def test_a_node_reveals_one_attempt_of_a_round_and_masks_no_other_after() -> None:
    """A hub that claims a dropout to get two sums over different sites gets at most one of them
    unmasked: revealing an attempt's self mask locks the round."""
    store = NodeStore(":memory:")
    first, answered = store.masking(_step(0))
    assert answered is None
    store.keep_masked(_step(0), "the masked answer")
    assert store.masking(_step(0)) == (first, "the masked answer")  # redelivered: the same bytes
    second, _ = store.masking(_step(1, sites="ab"))  # a re-run after a (claimed) dropout
    assert second != first
    with pytest.raises(DisclosureRefused, match="took part in another"):
        store.reveal_seed("t", 0, 0)  # it masked a later attempt: the earlier one stays masked
    assert store.reveal_seed("t", 0, 1) == second
    with pytest.raises(DisclosureRefused, match="no other attempt"):
        store.masking(_step(2))
    with pytest.raises(DisclosureRefused, match="masked nothing"):
        store.reveal_seed("t", 1, 0)
    assert store.masking(_step(0, round_=1, question="q1"))[0] != second  # the next round: fresh


def test_another_question_under_a_masked_attempt_is_refused() -> None:
    store = NodeStore(":memory:")
    store.masking(_step(0))
    other = dataclasses.replace(_step(0), assignment="a different question")
    with pytest.raises(DisclosureRefused, match="another question under an attempt"):
        store.masking(other)


def test_the_same_question_is_revealed_among_one_set_of_participants_only() -> None:
    """Across tasks and rounds: two unmasked totals of one question over different sites would
    give a site's share by subtraction."""
    store = NodeStore(":memory:")
    store.masking(MaskStep("task-a", 0, 0, "sent-a", "same", ("a", "b", "c", "d")))
    store.reveal_seed("task-a", 0, 0)
    store.masking(MaskStep("task-b", 0, 0, "sent-b", "same", ("a", "b", "c")))
    with pytest.raises(DisclosureRefused, match="same question among other participants"):
        store.reveal_seed("task-b", 0, 0)
    store.masking(MaskStep("task-c", 0, 0, "sent-c", "same", ("a", "b", "c", "d")))
    store.reveal_seed("task-c", 0, 0)  # the same participants: the same total, nothing new


def test_only_peers_the_steward_trusts_take_part() -> None:
    store = NodeStore(":memory:")
    key = public_text(generate_key())
    with pytest.raises(SignatureError, match="not among this node's trusted peers"):
        store.check_peer("south", key, 1)
    store.trust_peer("south", key)
    store.check_peer("south", key, 1)
    store.check_peer("south", key, 2)  # a rotation
    with pytest.raises(SignatureError, match="other than the one this node's steward trusts"):
        store.check_peer("south", public_text(generate_key()), 3)
    with pytest.raises(SignatureError, match="older than version 2"):
        store.check_peer("south", key, 1)
    with pytest.raises(InvalidRequest):
        store.trust_peer("west", "not a key")
    assert store.peers() == {"south": key}
    assert store.own_key_version("pub-1") == 1
    assert store.own_key_version("pub-1") == 1
    assert store.own_key_version("pub-2") == 2


def test_the_hub_refuses_a_layout_that_is_not_the_vector_sent() -> None:
    """A node declaring a huge shape beside a small vector would make the hub allocate it."""
    from causeway.hub.secure import MASK, Step, check_contribution
    from causeway.model.contribution import Contribution, PartKind, PartLayout

    vector = np.zeros(4, dtype=np.uint64)
    layout = (PartLayout("n", PartKind.COUNT, (2,)),)  # 2 values + 2 marks = 4 slots
    step = Step(0, MASK, ("a", "b", "c"))
    fine = Contribution("t", 0, "d", "count", masked=secagg.pack(vector), layout=layout)
    check_contribution(fine, step)
    for shape in ((10**12,), (3,), (1,)):
        lying = Contribution(
            "t",
            0,
            "d",
            "count",
            masked=secagg.pack(vector),
            layout=(PartLayout("n", PartKind.COUNT, shape),),
        )
        with pytest.raises(InvalidRequest, match="does not match the layout"):
            check_contribution(lying, step)

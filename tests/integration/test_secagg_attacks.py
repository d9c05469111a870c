"""A compromised hub (it holds the hub's signing key, forges, re-orders and replays assignments,
invents participants) and colluding nodes try to recover ONE site's share under secure
aggregation. A security review found each of these attacks recovering a site's exact count from
the first version; every one is refused now, by the node.
"""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from projects import approved
from sqlalchemy import select

import causeway
from causeway.crypto import secagg
from causeway.crypto.keys import generate_key, public_text, sign
from causeway.hub import secure as hub_secure
from causeway.hub.db import NodeRecord
from causeway.model import masking
from causeway.model.canonical import canonical_json
from causeway.model.contribution import Contribution, PartKind
from causeway.model.errors import DisclosureRefused, SignatureError
from causeway.model.task import Assignment, Participant, SecureRound, TaskSpec
from causeway.query import as_wire
from causeway.synthetic import hospitals

BASE = hospitals()
SIZES = {"north": 1237, "south": 2011, "east": 1579, "west": 1693}
FRAMES = {
    site: pd.concat(list(BASE.values()), ignore_index=True)
    .sample(n=n, random_state=i)
    .reset_index(drop=True)
    for i, (site, n) in enumerate(SIZES.items())
}
SECURE = dataclasses.replace(causeway.Policy.unrestricted(), secure_aggregation=True)
WHERE = causeway.col("age") >= 50
TRUE = {site: int((f.age >= 50).sum()) for site, f in FRAMES.items()}
VICTIM = "north"


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(FRAMES, dataset="cohort", policy=SECURE) as federation:
        yield federation


# -- the compromised hub's toolbox ---------------------------------------------------------------


@dataclasses.dataclass
class Fake:
    """A participant the hub invents: it holds both its keys."""

    name: str
    signing: Any = dataclasses.field(default_factory=generate_key)
    agreement: X25519PrivateKey = dataclasses.field(default_factory=X25519PrivateKey.generate)

    def participant(self, version: int = 1) -> Participant:
        public = secagg.agreement_public_text(self.agreement)
        signed = secagg.KeyAnnouncement(self.name, public, version).signed(self.signing)
        return Participant(self.name, public_text(self.signing), public, version, signed.signature)


def real(fed: causeway.LocalFederation, names: Sequence[str]) -> dict[str, Participant]:
    """The real participants as the hub's database holds them."""
    with fed.hub.session() as session:
        nodes = list(session.scalars(select(NodeRecord).where(NodeRecord.name.in_(names))))
        return {p.node: p for p in hub_secure.participants(nodes)}


def spec(fed: causeway.LocalFederation, where: Any = WHERE, algorithm: str = "count") -> TaskSpec:
    return TaskSpec(
        algorithm=algorithm,
        dataset="cohort",
        project=fed.project,
        where=None if where is None else as_wire(where),
        params={},
    )


def ask(
    fed: causeway.LocalFederation,
    site: str,
    task_id: str,
    participants: Sequence[Participant],
    *,
    phase: str = "mask",
    attempt: int = 0,
    round_: int = 0,
    task: TaskSpec | None = None,
    state: dict[str, Any] | None = None,
) -> Contribution:
    """Hand ``site`` a forged, validly signed assignment; return what it would post."""
    payload = Assignment(
        task_id=task_id,
        round=round_,
        node=site,
        spec=task or spec(fed),
        state=state or {},
        dictionary=fed.dictionary.to_json(),
        issued_at=time.time(),
        **approved(fed, (task or spec(fed)).project, site),
        secure=SecureRound(attempt, phase, tuple(sorted(participants, key=lambda p: p.node))),
    ).to_json()
    out = fed.agents[site].compute(payload, sign(fed.hub.key, canonical_json(payload)))
    return Contribution.from_json(out)


def vector(item: Contribution) -> np.ndarray:
    return secagg.unpack(str(item.masked), masking.size(item.layout))


def seed(item: Contribution) -> bytes:
    return base64.b64decode(str(item.self_seed))


def count_of(item: Contribution, total: np.ndarray) -> int:
    """Decode a count from a single-site 'total' (slot 0 is the count, slot 1 its mark)."""
    parts = masking.unflatten(item.layout, total, 1)
    return int(parts["n"].values)


def run_round(
    fed: causeway.LocalFederation, task_id: str, names: Sequence[str], task: TaskSpec | None = None
) -> int:
    """Play the whole protocol honestly for ``names`` (mask, then unmask) and return the total
    as the hub would decode it."""
    ps = list(real(fed, names).values())
    masked = {s: ask(fed, s, task_id, ps, task=task) for s in names}
    seeds = {s: ask(fed, s, task_id, ps, phase="unmask", task=task) for s in names}
    first = next(iter(masked.values()))
    size = masking.size(first.layout)
    total = np.zeros(size, dtype=np.uint64)
    for s in names:
        total = total + vector(masked[s]) - secagg.keystream(seed(seeds[s]), size)
    return int(masking.unflatten(first.layout, total, len(names))["n"].values)


# == the attacks, each refused by the node ========================================================


def test_invented_participants_are_refused(fed: causeway.LocalFederation) -> None:
    """Sybils: the hub invents two sites whose keys it holds (masking with them, the victim would
    hand the hub every mask). Only peers the steward trusts take part."""
    fakes = [Fake("zz_fake_a"), Fake("zz_fake_b")]
    victim = real(fed, [VICTIM])[VICTIM]
    with pytest.raises(SignatureError, match="not among this node's trusted peers"):
        ask(fed, VICTIM, "sybil-1", [victim, *(f.participant() for f in fakes)])


def test_a_real_peer_with_the_hubs_keys_is_refused_even_at_first_contact() -> None:
    with causeway.LocalFederation(FRAMES, dataset="cohort", policy=SECURE) as fresh:
        victim = real(fresh, [VICTIM])[VICTIM]
        fakes = [Fake("south"), Fake("west")]
        with pytest.raises(SignatureError, match="other than the one this node's steward trusts"):
            ask(fresh, VICTIM, "subst-1", [victim, *(f.participant() for f in fakes)])
        # and the genuine peers still work afterwards (nothing was pinned)
        ask(fresh, VICTIM, "subst-2", list(real(fresh, list(SIZES)).values()))


def test_another_question_under_the_same_masks_is_refused(fed: causeway.LocalFederation) -> None:
    """Two-time pad: the same secure round delivered again with another question (one whose
    answer the hub knows, or another of the victim's counts) would give the difference."""
    ps = list(real(fed, list(SIZES)).values())
    ask(fed, VICTIM, "reuse-1", ps, task=spec(fed, causeway.col("age") >= 51))
    for other in (causeway.col("age") < -1000, causeway.col("age") >= 71):
        with pytest.raises(DisclosureRefused, match="another question under an attempt"):
            ask(fed, VICTIM, "reuse-1", ps, task=spec(fed, other))


def test_a_question_delivered_again_gets_the_same_bytes(fed: causeway.LocalFederation) -> None:
    ps = list(real(fed, list(SIZES)).values())
    a = ask(fed, VICTIM, "replay-1", ps, task=spec(fed, causeway.col("age") >= 52))
    b = ask(fed, VICTIM, "replay-1", ps, task=spec(fed, causeway.col("age") >= 52))
    assert a.masked == b.masked


def test_the_same_question_over_two_site_sets_is_unmasked_once(
    fed: causeway.LocalFederation,
) -> None:
    """'Claim a dropout and subtract', across task ids: the hub asks one question as task A over
    all four sites and as task B over the three without the victim. The victim takes part in
    both, but reveals its self mask for one participant set only."""
    where = causeway.col("age") >= 53
    everyone = run_round(fed, "diff-a", list(SIZES), task=spec(fed, where))
    assert everyone == sum(int((f.age >= 53).sum()) for f in FRAMES.values())
    others = [s for s in SIZES if s != VICTIM]
    ps = list(real(fed, others).values())
    for site in others:  # the other three mask and reveal as asked ...
        ask(fed, site, "diff-b", ps, task=spec(fed, where))
    with pytest.raises(DisclosureRefused, match="same question among other participants"):
        ask(fed, "east", "diff-b", ps, phase="unmask", task=spec(fed, where))


def test_the_same_round_state_over_two_site_sets_is_unmasked_once(
    fed: causeway.LocalFederation,
) -> None:
    """Inside one task: round 0 over everyone, then round 1 with the same state (a GLM) over all
    but the victim. The question (parameters, state, cohort) is the same: one set only."""
    from causeway.algorithms import get_algorithm

    task = TaskSpec(
        algorithm="glm", dataset="cohort", project=fed.project, params={"formula": "sbp ~ age"}
    )
    algorithm = get_algorithm("glm")
    state = dict(
        algorithm.initial_state(algorithm.prepare(task.params, fed.dictionary), fed.dictionary)
    )
    everyone = list(real(fed, list(SIZES)).values())
    for site in SIZES:
        ask(fed, site, "glm-rounds", everyone, task=task, state=state)
    for site in SIZES:
        ask(fed, site, "glm-rounds", everyone, phase="unmask", task=task, state=state)
    others = [p for p in everyone if p.node != VICTIM]
    for p in others:
        ask(fed, p.node, "glm-rounds", others, round_=1, task=task, state=state)
    with pytest.raises(DisclosureRefused, match="same question among other participants"):
        ask(fed, "east", "glm-rounds", others, phase="unmask", round_=1, task=task, state=state)


def test_the_gate_report_and_budget_of_a_site_stay_at_the_node() -> None:
    """Which site had fewer than k rows, or answered a question about the same rows for free (the
    replay of a noisy answer), would describe that site alone: under secure aggregation a masked
    contribution carries only the noise's checks, which the policy alone sets."""
    frames = {
        s: f.assign(ward=np.where(np.arange(len(f)) < (5 if s == VICTIM else 40), "rare", "common"))
        for s, f in FRAMES.items()
    }
    policy = dataclasses.replace(causeway.Policy(), secure_aggregation=True)
    with causeway.LocalFederation(
        frames, dataset="cohort", policy=policy, categorical=["ward"]
    ) as local:
        result = local.client.count("cohort", where=causeway.col("ward") == "rare")
        assert result.securely_aggregated and result.total is None  # a site withheld it
        assert all(not checks for checks in result.disclosure.sites.values())
    with causeway.LocalFederation(FRAMES, dataset="cohort", level="L2") as fed:
        ps = list(real(fed, list(SIZES)).values())
        private = {"private": True}
        first = ask(
            fed, VICTIM, "dp-1", ps, task=spec(fed, causeway.col("age") >= 50), state=private
        )
        probe = (causeway.col("age") >= 50) | (causeway.col("bmi") == 1234.5)
        again = ask(fed, VICTIM, "dp-2", ps, task=spec(fed, probe), state=private)
        for item in (first, again):
            assert item.budget is None
            assert {c.check for c in item.report} == {"dp"}
            assert not any("asked before" in c.detail for c in item.report)


def test_refused_duplicate_participant(fed: causeway.LocalFederation) -> None:
    ps = list(real(fed, list(SIZES)).values())
    with pytest.raises(SignatureError, match="not distinct"):
        ask(fed, VICTIM, "dup-1", [*ps, real(fed, ["east"])["east"]])


def test_refused_fewer_than_three(fed: causeway.LocalFederation) -> None:
    ps = list(real(fed, [VICTIM, "east"]).values())
    with pytest.raises(DisclosureRefused, match="at least 3"):
        ask(fed, VICTIM, "few-1", ps)


def test_a_forged_key_announcement_is_refused_and_pins_nothing(
    fed: causeway.LocalFederation,
) -> None:
    ps = real(fed, list(SIZES))
    bad = dataclasses.replace(ps["west"], key_version=10**9)  # signature no longer matches
    with pytest.raises(SignatureError, match="not signed"):
        ask(fed, VICTIM, "pinv-1", list({**ps, "west": bad}.values()))
    other = Fake("south")
    announced = secagg.KeyAnnouncement(
        "south", secagg.agreement_public_text(other.agreement), ps["south"].key_version + 1
    ).signed(other.signing)
    forged = dataclasses.replace(
        ps["south"],
        key=announced.key,
        key_version=announced.version,
        key_signature=announced.signature,
    )
    with pytest.raises(SignatureError, match="not signed"):
        ask(fed, VICTIM, "pinv-2", [ps["north"], ps["east"], ps["west"], forged])
    ask(fed, VICTIM, "pinv-3", list(ps.values()), task=spec(fed, causeway.col("age") >= 54))


def test_refused_own_keys_misrepresented(fed: causeway.LocalFederation) -> None:
    ps = real(fed, list(SIZES))
    me = Fake(VICTIM).participant()
    with pytest.raises(SignatureError, match="own keys"):
        ask(fed, VICTIM, "own-1", [me, ps["east"], ps["south"]])


def test_refused_reveal_then_rerun_and_rerun_then_reveal(fed: causeway.LocalFederation) -> None:
    ps4 = list(real(fed, list(SIZES)).values())
    ps3 = [p for p in ps4 if p.node != "west"]
    task = spec(fed, causeway.col("age") >= 55)
    ask(fed, VICTIM, "att-1", ps4, attempt=0, task=task)
    ask(fed, VICTIM, "att-1", ps3, attempt=1, task=task)
    with pytest.raises(DisclosureRefused, match="took part in another"):
        ask(fed, VICTIM, "att-1", ps4, phase="unmask", attempt=0, task=task)
    ask(fed, VICTIM, "att-1", ps3, phase="unmask", attempt=1, task=task)
    with pytest.raises(DisclosureRefused, match="takes part in no other attempt"):
        ask(fed, VICTIM, "att-1", ps4, attempt=2, task=task)
    with pytest.raises(DisclosureRefused, match="masked nothing"):
        ask(fed, VICTIM, "att-2", ps4, phase="unmask", task=task)


def test_refused_plaintext_when_policy_requires_secure(fed: causeway.LocalFederation) -> None:
    payload = Assignment(
        task_id="plain-1",
        round=0,
        node=VICTIM,
        spec=spec(fed),
        state={},
        dictionary=fed.dictionary.to_json(),
        issued_at=time.time(),
        **approved(fed, spec(fed).project, VICTIM),
    ).to_json()
    with pytest.raises(DisclosureRefused, match="requires secure"):
        fed.agents[VICTIM].compute(payload, sign(fed.hub.key, canonical_json(payload)))


def test_masked_contribution_carries_no_meta(fed: causeway.LocalFederation) -> None:
    ps = list(real(fed, list(SIZES)).values())
    item = ask(fed, VICTIM, "meta-1", ps, task=spec(fed, causeway.col("age") >= 56))
    assert not item.parts and not item.meta and item.masked
    assert [p.kind for p in item.layout] == [PartKind.COUNT]

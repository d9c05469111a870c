"""Secure aggregation at the hub: who takes part in a round, its phases and attempts, and the total.

A secure round has two phases. In ``mask`` every participant sends its parts fixed-point encoded
and masked (pairwise masks that cancel in the sum, plus a self mask); in ``unmask``, once every
masked vector is in, each reveals its self-mask seed. The hub sums the masked vectors mod 2^64,
removes the self masks and decodes the total; it never receives one site's share (what the nodes
refuse, so that no share is the difference of two totals, is in ``docs/privacy.md``). A participant
silent in the ``mask`` phase aborts the attempt, which re-runs among the rest (at least
:data:`MIN_PARTICIPANTS`) with fresh masks; one silent in ``unmask`` fails the task (those who
revealed take part in no other attempt of the round, by design).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from causeway.crypto.keys import load_public
from causeway.crypto.secagg import KeyAnnouncement, keystream, unpack
from causeway.hub.db import AssignmentRecord, NodeRecord, Task
from causeway.model import masking
from causeway.model.contribution import Aggregate, Contribution
from causeway.model.errors import InvalidRequest, SignatureError
from causeway.model.task import Participant, SecureRound

MIN_PARTICIPANTS = 3
MASK, UNMASK, PLAIN = "mask", "unmask", "plain"


@dataclass(frozen=True)
class Step:
    """Where a secure task stands: attempt, phase and participants of its current round."""

    attempt: int
    phase: str
    participants: tuple[str, ...]

    @classmethod
    def of(cls, task: Task) -> Step:
        if task.secure is None:
            return cls(0, PLAIN, tuple(task.sites))
        data = task.secure
        return cls(int(data["attempt"]), str(data["phase"]), tuple(data["participants"]))

    def to_json(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "phase": self.phase,
            "participants": list(self.participants),
        }


def required(policies: Sequence[tuple[str, dict[str, Any] | None]]) -> bool:
    """Whether a task must be securely aggregated: a participating site's policy asks for it."""
    return any(bool((summary or {}).get("secure_aggregation")) for _, summary in policies)


def check_participants(sites: Sequence[str]) -> None:
    if len(sites) < MIN_PARTICIPANTS:
        raise InvalidRequest(
            f"secure aggregation needs at least {MIN_PARTICIPANTS} sites, so that no total is "
            f"one site's share; {len(sites)} take part ({', '.join(sites) or 'none'})"
        )


def announce(node: NodeRecord, key: str, version: int, signature: str) -> None:
    """Record a node's aggregation key, announced and signed with its enrolled signing key; a
    rotation must raise the version."""
    announcement = KeyAnnouncement(node.name, key, version, signature)
    announcement.verify(load_public(node.public_key))
    current = node.agg_key_version
    if current is not None and (version < current or (version == current and key != node.agg_key)):
        raise SignatureError(
            f"node {node.name}'s aggregation key is at version {current}; a new key needs a "
            "higher version"
        )
    node.agg_key, node.agg_key_version, node.agg_key_signature = key, version, signature


def participants(nodes: Sequence[NodeRecord]) -> tuple[Participant, ...]:
    missing = [n.name for n in nodes if n.agg_key is None]
    if missing:
        raise InvalidRequest(
            f"site(s) {', '.join(missing)} have not announced an aggregation key, which secure "
            "aggregation needs (a node announces it when it starts)"
        )
    return tuple(
        Participant(
            n.name,
            n.public_key,
            str(n.agg_key),
            int(n.agg_key_version or 0),
            str(n.agg_key_signature),
        )
        for n in sorted(nodes, key=lambda n: n.name)
    )


def round_of(step: Step, nodes: Sequence[NodeRecord]) -> SecureRound | None:
    if step.phase == PLAIN:
        return None
    if step.phase == MASK:
        return SecureRound(step.attempt, "mask", participants(nodes))
    return SecureRound(step.attempt, "unmask", participants(nodes))


def check_contribution(item: Contribution, step: Step) -> None:
    """What a node may send in each phase: masked parts and no plain part or meta, or a seed."""
    if step.phase == PLAIN:
        if item.secure:
            raise InvalidRequest("a masked contribution for a round that is not secure")
        return
    if step.phase == MASK and (item.masked is None or item.parts or item.meta):
        raise InvalidRequest("a secure round takes masked parts only (no plain part, no meta)")
    if step.phase == MASK:
        # the layout a node declares must be the vector it sent: checked from the text's length
        # before anything is allocated for it (a huge declared shape would exhaust the hub)
        slots = masking.size(item.layout)
        if len(str(item.masked)) != 4 * -(-8 * slots // 3):
            raise InvalidRequest("a masked vector does not match the layout sent with it")
    if step.phase == UNMASK and item.self_seed is None:
        raise InvalidRequest("the unmask phase takes the attempt's self-mask seed")


def total(session: Session, task: Task, step: Step) -> Aggregate:
    """The sum over the attempt's participants: their masked vectors added mod 2^64, less their
    self masks, decoded. Every participant must have sent the same layout."""
    records = list(
        session.scalars(
            select(AssignmentRecord).where(
                AssignmentRecord.task_id == task.id,
                AssignmentRecord.round == task.round,
                AssignmentRecord.attempt == step.attempt,
            )
        )
    )
    masked = [Contribution.from_json(r.contribution or {}) for r in records if r.phase == MASK]
    seeds = [Contribution.from_json(r.contribution or {}) for r in records if r.phase == UNMASK]
    if not masked or len(seeds) != len(masked):
        raise InvalidRequest("the secure round is missing a masked vector or a seed")
    layout = masked[0].layout
    if any(item.layout != layout for item in masked):
        raise InvalidRequest("sites disagree on the shape of the parts")
    slots = masking.size(layout)
    sum_ = np.zeros(slots, dtype=np.uint64)
    for item in masked:
        sum_ = sum_ + unpack(str(item.masked), slots)
    for item in seeds:
        try:
            seed = base64.b64decode(str(item.self_seed), validate=True)
        except ValueError:
            raise InvalidRequest("a self-mask seed is not base64") from None
        if len(seed) != 32:
            raise InvalidRequest("a self-mask seed is 32 bytes")
        sum_ = sum_ - keystream(seed, slots)
    return Aggregate(masking.unflatten(layout, sum_, len(masked)), (), len(masked))

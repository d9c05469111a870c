"""A federated task as the researcher asks for it and as a node receives it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from causeway.model import codec


@dataclass(frozen=True)
class TaskSpec:
    """What a researcher asks for: an algorithm over a dataset, within a project.

    ``where`` is the filter in its JSON wire form (see :mod:`causeway.query`), ``params`` the
    algorithm's parameters (JSON). ``held`` is set by the hub, never the researcher: the output
    waits for two output checkers before anyone sees it (nodes whose policy asks for that refuse
    a task that is not held). With ``allow_missing_sites`` (additive analyses summed in one round), a
    site that stays silent past the hub's ``site_silence`` is left out instead of failing the
    task, and the result names it.
    """

    algorithm: str
    dataset: str
    project: str
    where: Mapping[str, Any] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    held: bool = False
    # the hub's business alone: not in the assignment a node receives (whose wire form it keeps
    # as older nodes know it), written in the task's own JSON only when set
    allow_missing_sites: bool = field(default=False, metadata={"wire": False})

    def to_json(self) -> dict[str, Any]:
        encoded: dict[str, Any] = codec.encode(self)
        if self.allow_missing_sites:
            encoded["allow_missing_sites"] = True
        return encoded

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskSpec:
        body = dict(data)
        allow = body.pop("allow_missing_sites", False)
        if not isinstance(allow, bool):
            raise codec.WireError("task.allow_missing_sites", "expected true or false")
        spec: TaskSpec = codec.decode(cls, body, path="task")
        return replace(spec, allow_missing_sites=allow) if allow else spec


@dataclass(frozen=True)
class Participant:
    """A site taking part in a securely aggregated round: its signing key (which its peers pin on
    first sight) and its aggregation key's announcement, signed with that signing key."""

    node: str
    signing_key: str
    key: str
    key_version: int
    key_signature: str


@dataclass(frozen=True)
class SecureRound:
    """How one round is securely aggregated. ``phase`` ``mask``: send the masked parts; ``unmask``:
    reveal this attempt's self-mask seed (once every participant's masked parts are in). A dropout
    aborts the attempt; the next ``attempt`` runs among the rest with fresh masks."""

    attempt: int
    phase: Literal["mask", "unmask"]
    participants: tuple[Participant, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.node for p in self.participants)


@dataclass(frozen=True)
class Assignment:
    """One round of one task for one node, as the hub signs and the node verifies it.

    ``state`` carries what an iterative algorithm's hub step passes to the next round
    (e.g. the current coefficients); ``dictionary`` is the catalog's merged dictionary, which fixes
    the shape of every additive part so that sites' contributions line up. ``terms_digest`` is the
    digest of the project's terms as the hub holds them and ``requester`` who asked: the node runs
    the task only if its steward approved exactly the terms of that digest and the requester is
    among their members. (The terms themselves, which list every site, stay out of the assignment:
    at a thousand sites they made every round's assignments a hundred megabytes.)
    """

    task_id: str
    round: int
    node: str
    spec: TaskSpec
    state: Mapping[str, Any]
    dictionary: list[dict[str, Any]]
    issued_at: float
    terms_digest: str
    requester: str
    secure: SecureRound | None = None

    def to_json(self) -> dict[str, Any]:
        encoded: dict[str, Any] = codec.encode(self)
        return encoded

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Assignment:
        assignment: Assignment = codec.decode(cls, data, path="assignment")
        return assignment

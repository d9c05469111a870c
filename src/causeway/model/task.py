"""A federated task as the researcher asks for it and as a node receives it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from causeway.model.errors import InvalidRequest


@dataclass(frozen=True)
class TaskSpec:
    """What a researcher asks for: an algorithm over a dataset, within a project.

    ``where`` is the filter in its JSON wire form (see :mod:`causeway.query`), ``params`` the
    algorithm's parameters (JSON). ``held`` is set by the hub, never the researcher: the output
    waits for two output checkers before anyone sees it (nodes whose policy asks for that refuse
    a task that is not held).
    """

    algorithm: str
    dataset: str
    project: str
    where: Mapping[str, Any] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    held: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "algorithm": self.algorithm,
            "dataset": self.dataset,
            "project": self.project,
            "where": dict(self.where) if self.where is not None else None,
            "params": dict(self.params),
        }
        if self.held:
            out["held"] = True
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskSpec:
        try:
            return cls(
                algorithm=str(data["algorithm"]),
                dataset=str(data["dataset"]),
                project=str(data["project"]),
                where=data.get("where"),
                params=dict(data.get("params") or {}),
                held=data.get("held", False) is True,
            )
        except KeyError as exc:
            raise InvalidRequest(f"task lacks {exc}") from None


@dataclass(frozen=True)
class Assignment:
    """One round of one task for one node, as the hub signs and the node verifies it.

    ``state`` carries what an iterative algorithm's hub step passes to the next round
    (e.g. the current coefficients); ``dictionary`` is the catalog's merged dictionary, which fixes
    the shape of every additive part so that sites' contributions line up.
    """

    task_id: str
    round: int
    node: str
    spec: TaskSpec
    state: Mapping[str, Any]
    dictionary: list[dict[str, Any]]
    issued_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "round": self.round,
            "node": self.node,
            "spec": self.spec.to_json(),
            "state": dict(self.state),
            "dictionary": self.dictionary,
            "issued_at": self.issued_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Assignment:
        try:
            return cls(
                task_id=str(data["task_id"]),
                round=int(data["round"]),
                node=str(data["node"]),
                spec=TaskSpec.from_json(data["spec"]),
                state=dict(data["state"]),
                dictionary=list(data["dictionary"]),
                issued_at=float(data["issued_at"]),
            )
        except KeyError as exc:
            raise InvalidRequest(f"assignment lacks {exc}") from None

"""The researcher's Python client: ``causeway.Client(url, token)``.

Every analysis is a task on the hub; the client submits it, waits for it (long-polling, with an
optional progress callback per round) and returns a typed result that prints well and converts to
pandas. Errors arrive as the same exception classes the hub raised.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pandas as pd

from causeway.algorithms import get_algorithm
from causeway.algorithms.base import Released, Result
from causeway.algorithms.count import CountResult
from causeway.algorithms.summary import Summary
from causeway.model.disclosure import DisclosureReport
from causeway.model.errors import (
    InvalidRequest,
    NotFound,
    OutputHeld,
    TaskFailed,
    error_for_code,
)
from causeway.problems import request_json
from causeway.query import Filter, as_wire

Where = Filter | dict[str, Any] | None
WAIT_SECONDS = 25.0


@dataclass(frozen=True)
class Progress:
    """What a running task reports after each round."""

    task_id: str
    round: int
    note: str


ProgressCallback = Callable[[Progress], None]


class Client:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        project: str | None = None,
        timeout: float = 600.0,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.project = project
        self.timeout = timeout
        self.progress = progress
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(WAIT_SECONDS + 10.0, connect=10.0),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # -- catalog ----------------------------------------------------------------------------------

    def datasets(self) -> pd.DataFrame:
        """The catalog: one row per dataset, with its level, sites, rows and columns."""
        entries = self._request("GET", "/api/datasets")
        columns = ["name", "level", "sites", "rows", "columns", "description"]
        rows = [
            {
                "name": e["name"],
                "level": e["level"],
                "sites": len(e["sites"]),
                "rows": e["rows"],
                "columns": ", ".join(c["name"] for c in e["columns"]),
                "description": e["description"],
            }
            for e in entries
        ]
        return pd.DataFrame(rows, columns=columns)

    def projects(self) -> pd.DataFrame:
        found = self._request("GET", "/api/projects")
        return pd.DataFrame(found, columns=["name", "status", "datasets", "members"])

    # -- analyses -----------------------------------------------------------------------------

    def count(
        self, dataset: str, where: Where = None, *, project: str | None = None
    ) -> CountResult:
        """Rows of ``dataset`` passing ``where``, over all sites; the pooled value is ``.total``."""
        result = self.run("count", dataset, where=where, project=project)
        assert isinstance(result, CountResult)
        return result

    def summary(
        self, dataset: str, column: str, where: Where = None, *, project: str | None = None
    ) -> Summary:
        """n, mean, variance and sd of a numeric column, or ``.counts`` per level of a categorical."""
        result = self.run("summary", dataset, {"column": column}, where=where, project=project)
        return result  # type: ignore[return-value]

    def quantiles(
        self,
        dataset: str,
        column: str,
        probs: list[float] | tuple[float, ...] = (0.25, 0.5, 0.75),
        where: Where = None,
        *,
        bins: int = 1024,
        project: str | None = None,
    ) -> Any:
        """Quantiles from a histogram shared by all sites; the result states its error bound."""
        params = {"column": column, "probs": list(probs), "bins": bins}
        return self.run("quantiles", dataset, params, where=where, project=project)

    def crosstab(
        self, dataset: str, row: str, col: str, where: Where = None, *, project: str | None = None
    ) -> Any:
        """Counts of ``row`` × ``col`` (``.table``) with a chi-square test (``.chi2``, ``.dof``,
        ``.p_value``)."""
        return self.run("crosstab", dataset, {"row": row, "col": col}, where=where, project=project)

    def ttest(
        self, dataset: str, column: str, by: str, where: Where = None, *, project: str | None = None
    ) -> Any:
        """Welch and pooled-variance t-tests of ``column`` between the two groups of ``by``."""
        return self.run(
            "ttest", dataset, {"column": column, "by": by}, where=where, project=project
        )

    def corr(
        self,
        dataset: str,
        columns: list[str],
        where: Where = None,
        *,
        method: str = "pairwise",
        project: str | None = None,
    ) -> Any:
        """Pearson correlations with their n, over pairwise or complete cases."""
        params = {"columns": list(columns), "method": method}
        return self.run("corr", dataset, params, where=where, project=project)

    def glm(
        self,
        dataset: str,
        formula: str,
        family: str = "gaussian",
        where: Where = None,
        offset: str | None = None,
        weights: str | None = None,
        *,
        per_site: bool = False,
        max_iter: int | None = None,
        project: str | None = None,
    ) -> Any:
        """A generalised linear model by federated IRLS (equal to the pooled fit); with
        ``per_site=True``, fits at each site combined by fixed- and random-effects meta-analysis
        (which, like any meta-analysis, lets the hub learn each site's estimates)."""
        params: dict[str, Any] = {"formula": formula, "family": family, "per_site": per_site}
        if offset is not None:
            params["offset"] = offset
        if weights is not None:
            params["weights"] = weights
        if max_iter is not None:
            params["max_iter"] = max_iter
        return self.run("glm", dataset, params, where=where, project=project)

    def km(
        self,
        dataset: str,
        duration: str,
        event: str,
        by: str | None = None,
        where: Where = None,
        *,
        project: str | None = None,
    ) -> Any:
        """Kaplan–Meier curves with Greenwood bands, median survival and a log-rank test across ``by``."""
        params = {"duration": duration, "event": event, "by": by}
        return self.run("km", dataset, params, where=where, project=project)

    def cox(
        self,
        dataset: str,
        formula: str,
        duration: str,
        event: str,
        where: Where = None,
        *,
        project: str | None = None,
    ) -> Any:
        """Cox proportional hazards stratified by site (Efron ties), equal to the pooled stratified fit."""
        params = {"formula": formula, "duration": duration, "event": event}
        return self.run("cox", dataset, params, where=where, project=project)

    def run(
        self,
        algorithm: str,
        dataset: str,
        params: dict[str, Any] | None = None,
        *,
        where: Where = None,
        project: str | None = None,
    ) -> Result:
        """Run any registered algorithm and wait for its result."""
        body = {
            "algorithm": algorithm,
            "dataset": dataset,
            "project": project or self._project_for(dataset),
            "where": as_wire(where),
            "params": params or {},
        }
        task = self._request("POST", "/api/tasks", json=body, params={"wait": WAIT_SECONDS})
        done = self.wait(task["id"], task)
        return _typed(algorithm, done["result"])

    def wait(self, task_id: str, last: dict[str, Any] | None = None) -> dict[str, Any]:
        """Block until the task finishes; raise its error if it failed. ``last`` is a state of the
        task already in hand (saves a request when it is final)."""
        deadline = time.monotonic() + self.timeout
        seen_round = 0
        task = last
        while True:
            if task is not None:
                if task["status"] == "done":
                    return dict(task)
                if task["status"] == "held":
                    raise OutputHeld(
                        f"task {task_id}: the result is held for two output checkers; "
                        f"client.result({task_id!r}) returns it once they release it",
                        task_id,
                    )
                if task["status"] == "failed":
                    error = task["error"] or {}
                    raise error_for_code(str(error.get("code", "E400")))(
                        str(error.get("detail", "the task failed"))
                    )
                if task["round"] > seen_round:
                    seen_round = int(task["round"])
                    if self.progress is not None:
                        self.progress(Progress(task_id, seen_round, str(task["note"])))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TaskFailed(f"task {task_id} did not finish within {self.timeout:.0f}s")
            task = self._request(
                "GET",
                f"/api/tasks/{task_id}",
                params={"wait": min(WAIT_SECONDS, remaining), "after_round": seen_round},
            )

    def result(self, task_id: str) -> Result:
        """A finished task's typed result (for example one that output checkers released)."""
        task = self._request("GET", f"/api/tasks/{task_id}")
        done = self.wait(task_id, task)
        return _typed(str(done["algorithm"]), done["result"])

    def budget(self, project: str, dataset: str) -> pd.DataFrame:
        """Each site's differential-privacy budget of ``project`` on ``dataset``: epsilon total,
        spent and left, and delta (as each node last reported it; the node enforces its own)."""
        rows = self._request("GET", "/api/budgets", params={"project": project, "dataset": dataset})
        columns = ["site", "epsilon", "epsilon_spent", "epsilon_left", "delta", "updated_at"]
        return pd.DataFrame(rows, columns=columns).set_index("site")

    # -- output checking (the output_checker role) ----------------------------------------------

    def held(self) -> list[dict[str, Any]]:
        """Held outputs waiting for your decision: the question, the result and its disclosure
        report (never another checker's decision)."""
        return list(self._request("GET", "/api/reviews"))

    def decide(self, task_id: str, decision: str, comment: str = "") -> str:
        """Release, reject or ask for changes to a held output; returns the task's status."""
        body = {"decision": decision, "comment": comment}
        return str(self._request("POST", f"/api/reviews/{task_id}", json=body)["status"])

    def decisions(self, task_id: str) -> list[dict[str, Any]]:
        """Both checkers' decisions on a task once both have decided (empty until then)."""
        return list(self._request("GET", f"/api/reviews/{task_id}"))

    def _project_for(self, dataset: str) -> str:
        if self.project is not None:
            return self.project
        covering = [
            p["name"] for p in self._request("GET", "/api/projects") if dataset in p["datasets"]
        ]
        if len(covering) == 1:
            return str(covering[0])
        if not covering:
            raise NotFound(f"you are in no approved project that covers dataset {dataset!r}")
        raise InvalidRequest(
            f"several of your projects cover {dataset!r} ({', '.join(covering)}): pass project=..."
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return request_json(self._http, method, path, **kwargs)


def _typed(algorithm: str, data: dict[str, Any]) -> Result:
    """The typed result, with the disclosure report of the releases behind it."""
    result = get_algorithm(algorithm).result_from_json(data)
    report = DisclosureReport.from_json(data.get("disclosure") or {})
    if isinstance(result, Released):
        result = dataclasses.replace(result, disclosure=report)
    return result

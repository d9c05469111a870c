"""The researcher's Python client: ``causeway.Client(url, token)``.

Every analysis is a task on the hub; the client submits it, waits for it (long-polling, with an
optional progress callback per round) and returns a typed result that prints well and converts to
pandas. Errors arrive as the same exception classes the hub raised.
"""

from __future__ import annotations

import dataclasses
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

import httpx
import pandas as pd

from causeway.algorithms import get_algorithm
from causeway.algorithms.anova import Anova, AnovaParams, AnovaResult
from causeway.algorithms.base import Algorithm, Checked, Released
from causeway.algorithms.corr import Correlation, CorrParams, CorrResult, Method
from causeway.algorithms.count import Count, CountParams, CountResult
from causeway.algorithms.cox import Cox, CoxParams, CoxResult, Ties
from causeway.algorithms.crosstab import Crosstab, CrosstabParams, CrosstabResult
from causeway.algorithms.family import Family
from causeway.algorithms.fisher import Alternative, Fisher, FisherParams, FisherResult
from causeway.algorithms.glm import GLM
from causeway.algorithms.glm_cluster import GLMClustered
from causeway.algorithms.glm_result import GLMResult
from causeway.algorithms.glm_spec import CovType, GLMParams
from causeway.algorithms.km import KaplanMeier, KMParams, KMResult
from causeway.algorithms.link import Link
from causeway.algorithms.mannwhitney import MannWhitney, MannWhitneyParams, MannWhitneyResult
from causeway.algorithms.meta import GLMMeta, MetaResult
from causeway.algorithms.quantiles import Quantiles, QuantilesParams, QuantilesResult
from causeway.algorithms.spearman import Spearman, SpearmanParams, SpearmanResult
from causeway.algorithms.summary import Summary, SummaryAlgorithm, SummaryParams
from causeway.algorithms.table_one import TableOne, TableOneParams, TableOneResult
from causeway.algorithms.ttest import TTestParams, TTestResult, TwoSampleTTest
from causeway.client.applications import Application, Document
from causeway.client.catalog import DatasetDescription, search_frame
from causeway.crypto.logcheck import Cosignature, LedgerReport, StoredEntry, verify_log
from causeway.model.disclosure import DisclosureReport
from causeway.model.errors import (
    InvalidRequest,
    NotFound,
    OutputHeld,
    TaskFailed,
    Unavailable,
    error_for_code,
)
from causeway.model.treehead import TreeHead
from causeway.problems import request_json
from causeway.query import Filter, as_wire

P = TypeVar("P", bound=Checked[Any])
R = TypeVar("R", bound=Released)
Where = Filter | Mapping[str, Any] | str | None
WAIT_SECONDS = 25.0
RECONNECT_SECONDS = 2.0


@dataclass(frozen=True)
class Progress:
    """What a running task reports after each round."""

    task_id: str
    round: int
    note: str
    # each site of the round: answered, computing, waiting or silent
    sites: Mapping[str, str] = dataclasses.field(default_factory=dict)


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
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | str | bool = True,
    ) -> None:
        """``transport`` replaces the network (for example the hub's app in process, in tests);
        ``verify`` how the hub's certificate is checked (a CA bundle's path; default: the
        system's authorities, and ``SSL_CERT_FILE`` if set). Proxies come from ``HTTPS_PROXY``."""
        self.url = url.rstrip("/")
        self.project = project
        self.timeout = timeout
        self.progress = progress
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(WAIT_SECONDS + 10.0, connect=10.0),
            transport=transport,
            verify=verify,
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

    def datasets(
        self,
        q: str = "",
        *,
        level: str | None = None,
        hospital: str | None = None,
        column: str | None = None,
    ) -> pd.DataFrame:
        """The catalog, or the datasets matching ``q`` (words in the name, title, description,
        keywords or column names) and the filters: one row per dataset with its title, level,
        hospitals, number of sites (and of those online), rounded rows, keywords and columns (as
        lists). The facet counts by level, hospital and column are in ``.attrs["facets"]``."""
        params = {"q": q, "level": level, "hospital": hospital, "column": column}
        answer = self._request(
            "GET", "/api/datasets", params={k: v for k, v in params.items() if v}
        )
        return search_frame(answer)

    def describe(self, dataset: str) -> DatasetDescription:
        """What the catalog says of ``dataset``: metadata, dictionary (types, units, levels,
        coarse bounds) and which sites hold it and are online."""
        return DatasetDescription.from_json(self._request("GET", f"/api/datasets/{dataset}"))

    def projects(self) -> pd.DataFrame:
        found = self._request("GET", "/api/projects")
        return pd.DataFrame(found, columns=["name", "status", "datasets", "members"])

    # -- analyses -----------------------------------------------------------------------------
    # Each method builds its algorithm's parameter dataclass, where the defaults live (a default
    # here is the dataclass's own, read from it). Options are keyword-only.

    def count(
        self,
        dataset: str,
        *,
        where: Where = None,
        project: str | None = None,
        allow_missing_sites: bool = False,
    ) -> CountResult:
        """Rows of ``dataset`` passing ``where``, over all sites; the pooled value is ``.total``."""
        return self.run(
            Count(),
            dataset,
            CountParams(),
            where=where,
            project=project,
            allow_missing_sites=allow_missing_sites,
        )

    def summary(
        self,
        dataset: str,
        column: str,
        *,
        where: Where = None,
        project: str | None = None,
        allow_missing_sites: bool = False,
    ) -> Summary:
        """n, mean, variance and sd of a numeric column, or ``.counts`` per level of a categorical."""
        params = SummaryParams(column)
        return self.run(
            SummaryAlgorithm(),
            dataset,
            params,
            where=where,
            project=project,
            allow_missing_sites=allow_missing_sites,
        )

    def quantiles(
        self,
        dataset: str,
        column: str,
        *,
        probs: Sequence[float] = QuantilesParams.probs,
        bins: int = QuantilesParams.bins,
        where: Where = None,
        project: str | None = None,
        allow_missing_sites: bool = False,
    ) -> QuantilesResult:
        """Quantiles from a histogram shared by all sites; the result states its error bound."""
        params = QuantilesParams(column, tuple(probs), bins)
        return self.run(
            Quantiles(),
            dataset,
            params,
            where=where,
            project=project,
            allow_missing_sites=allow_missing_sites,
        )

    def crosstab(
        self,
        dataset: str,
        row: str,
        col: str,
        *,
        where: Where = None,
        project: str | None = None,
        allow_missing_sites: bool = False,
    ) -> CrosstabResult:
        """Counts of ``row`` × ``col`` (``.table``) with a chi-square test (``.chi2``, ``.dof``,
        ``.p_value``)."""
        params = CrosstabParams(row, col)
        return self.run(
            Crosstab(),
            dataset,
            params,
            where=where,
            project=project,
            allow_missing_sites=allow_missing_sites,
        )

    def table_one(
        self,
        dataset: str,
        columns: Sequence[str],
        *,
        by: str | None = TableOneParams.by,
        nonnormal: Sequence[str] = TableOneParams.nonnormal,
        where: Where = None,
        project: str | None = None,
        allow_missing_sites: bool = False,
    ) -> TableOneResult:
        """Table 1 of a clinical paper over all sites, per group of ``by`` (a categorical or
        boolean column; None: one overall group): n; for each of ``columns`` mean (SD), or
        median [IQR] for those also named in ``nonnormal`` (from a histogram of fixed bins over
        the dictionary's bounds, within the resolution the result states), n (%) per level of a
        categorical or boolean column, and missing counts; and per row a test across the groups
        (Welch's t-test for two, one-way ANOVA for more, Pearson's chi-square for levels).

        ``.table()`` is the table as a paper prints it (a DataFrame: one column per group,
        "Overall" and "p-value"), ``.summary()`` the same as text with its notes, and ``.rows``
        the numbers. Cells a site's disclosure control withheld show as ``<k`` and are left out
        of the tests, which say so."""
        params = TableOneParams(tuple(columns), by, tuple(nonnormal))
        return self.run(
            TableOne(),
            dataset,
            params,
            where=where,
            project=project,
            allow_missing_sites=allow_missing_sites,
        )

    def ttest(
        self,
        dataset: str,
        column: str,
        by: str,
        *,
        where: Where = None,
        project: str | None = None,
        allow_missing_sites: bool = False,
    ) -> TTestResult:
        """Welch and pooled-variance t-tests of ``column`` between the two groups of ``by``."""
        params = TTestParams(column, by)
        return self.run(
            TwoSampleTTest(),
            dataset,
            params,
            where=where,
            project=project,
            allow_missing_sites=allow_missing_sites,
        )

    def corr(
        self,
        dataset: str,
        columns: Sequence[str],
        *,
        method: Method = CorrParams.method,
        where: Where = None,
        project: str | None = None,
        allow_missing_sites: bool = False,
    ) -> CorrResult:
        """Pearson correlations with their n, over pairwise or complete cases."""
        params = CorrParams(tuple(columns), method)
        return self.run(
            Correlation(),
            dataset,
            params,
            where=where,
            project=project,
            allow_missing_sites=allow_missing_sites,
        )

    def anova(
        self,
        dataset: str,
        column: str,
        by: str,
        *,
        where: Where = None,
        project: str | None = None,
        allow_missing_sites: bool = False,
    ) -> AnovaResult:
        """One-way ANOVA of ``column`` across the groups of ``by``: F, its degrees of freedom
        and p-value, and per group n, mean and SD (``.to_frame()``), equal to the pooled rows."""
        return self.run(
            Anova(),
            dataset,
            AnovaParams(column, by),
            where=where,
            project=project,
            allow_missing_sites=allow_missing_sites,
        )

    def fisher(
        self,
        dataset: str,
        row: str,
        col: str,
        *,
        alternative: Alternative = FisherParams.alternative,
        where: Where = None,
        project: str | None = None,
        allow_missing_sites: bool = False,
    ) -> FisherResult:
        """Fisher's exact test on the 2 × 2 table of two two-level columns (the sample odds
        ratio, as scipy); refused when a site's gate suppressed a cell."""
        return self.run(
            Fisher(),
            dataset,
            FisherParams(row, col, alternative),
            where=where,
            project=project,
            allow_missing_sites=allow_missing_sites,
        )

    def mannwhitney(
        self,
        dataset: str,
        column: str,
        by: str,
        *,
        bins: int = MannWhitneyParams.bins,
        continuity: bool = MannWhitneyParams.continuity,
        where: Where = None,
        project: str | None = None,
        allow_missing_sites: bool = False,
    ) -> MannWhitneyResult:
        """The Mann–Whitney U test of ``column`` between the two groups of ``by``, from
        histograms every site's data supports, with the bounds [u_min, u_max] and
        [p_min, p_max] that the unbinned data's U and p satisfy."""
        return self.run(
            MannWhitney(),
            dataset,
            MannWhitneyParams(column, by, bins, continuity),
            where=where,
            project=project,
            allow_missing_sites=allow_missing_sites,
        )

    def spearman(
        self,
        dataset: str,
        x: str,
        y: str,
        *,
        bins: int = SpearmanParams.bins,
        where: Where = None,
        project: str | None = None,
        allow_missing_sites: bool = False,
    ) -> SpearmanResult:
        """Spearman's rho of ``x`` and ``y`` from a 2-D histogram every site's data supports,
        with the bounds [rho_min, rho_max] that the unbinned data's rho satisfies."""
        return self.run(
            Spearman(),
            dataset,
            SpearmanParams(x, y, bins),
            where=where,
            project=project,
            allow_missing_sites=allow_missing_sites,
        )

    @overload
    def glm(
        self,
        dataset: str,
        formula: str,
        *,
        family: Family | str = ...,
        where: Where = ...,
        offset: str | None = ...,
        weights: str | None = ...,
        var_weights: str | None = ...,
        freq_weights: str | None = ...,
        inference: Literal["z", "t"] = ...,
        link: Link | str | None = ...,
        alpha: float | None = ...,
        cov_type: CovType = ...,
        per_site: Literal[False] = ...,
        max_iter: int | None = ...,
        tol: float = ...,
        project: str | None = ...,
    ) -> GLMResult: ...

    @overload
    def glm(
        self,
        dataset: str,
        formula: str,
        *,
        family: Family | str = ...,
        where: Where = ...,
        offset: str | None = ...,
        weights: str | None = ...,
        var_weights: str | None = ...,
        freq_weights: str | None = ...,
        inference: Literal["z", "t"] = ...,
        link: Link | str | None = ...,
        alpha: float | None = ...,
        cov_type: CovType = ...,
        per_site: Literal[True],
        max_iter: int | None = ...,
        tol: float = ...,
        project: str | None = ...,
    ) -> MetaResult: ...

    def glm(
        self,
        dataset: str,
        formula: str,
        *,
        family: Family | str = GLMParams.family,
        where: Where = None,
        offset: str | None = GLMParams.offset,
        weights: str | None = GLMParams.weights,
        var_weights: str | None = GLMParams.var_weights,
        freq_weights: str | None = GLMParams.freq_weights,
        inference: Literal["z", "t"] = GLMParams.inference,
        link: Link | str | None = GLMParams.link,
        alpha: float | None = GLMParams.alpha,
        cov_type: CovType = GLMParams.cov_type,
        per_site: bool = False,
        max_iter: int | None = GLMParams.max_iter,
        tol: float = GLMParams.tol,
        project: str | None = None,
    ) -> GLMResult | MetaResult:
        """A generalised linear model by federated IRLS (equal to the pooled fit); with
        ``per_site=True``, fits at each site combined by fixed- and random-effects meta-analysis
        (the ``glm_meta`` algorithm, which, like any meta-analysis, lets the hub learn each
        site's estimates).

        ``family`` gaussian, binomial, poisson, gamma or negative_binomial; ``link`` one the
        family takes (its default if None: e.g. ``family="binomial", link="probit"``);
        ``alpha`` the negative binomial's dispersion (None: estimated by maximum likelihood);
        ``cov_type`` nonrobust, HC0, HC1 or cluster, as statsmodels' ``fit(cov_type=...)``:
        cluster (each site a cluster) runs the ``glm_cluster`` algorithm, which a dataset's
        policy may refuse since it releases per-site score products."""
        params = GLMParams(
            formula,
            Family.parse(family),
            offset,
            weights,
            max_iter,
            tol,
            var_weights=var_weights,
            freq_weights=freq_weights,
            inference=inference,
            link=None if link is None else Link.parse(link),
            alpha=alpha,
            cov_type=cov_type,
        )
        if per_site:
            return self.run(GLMMeta(), dataset, params, where=where, project=project)
        chosen = GLMClustered() if cov_type == "cluster" else GLM()
        return self.run(chosen, dataset, params, where=where, project=project)

    def km(
        self,
        dataset: str,
        duration: str,
        event: str,
        *,
        by: str | None = KMParams.by,
        where: Where = None,
        project: str | None = None,
    ) -> KMResult:
        """Kaplan–Meier curves with Greenwood bands, median survival and a log-rank test across
        ``by``; ``.rmst(tau)`` on the result gives the restricted mean survival time."""
        params = KMParams(duration, event, by)
        return self.run(KaplanMeier(), dataset, params, where=where, project=project)

    def cox(
        self,
        dataset: str,
        formula: str,
        duration: str,
        event: str,
        *,
        max_iter: int = CoxParams.max_iter,
        tol: float = CoxParams.tol,
        ties: Ties = CoxParams.ties,
        strata: Sequence[str] = CoxParams.strata,
        strata_by_site: bool = CoxParams.strata_by_site,
        where: Where = None,
        project: str | None = None,
    ) -> CoxResult:
        """Cox proportional hazards stratified by site (and by each of ``strata``, categorical
        columns: every site × level its own baseline), with Efron or Breslow ``ties``, equal to
        the pooled stratified fit. ``strata_by_site=False`` is refused (see the docs)."""
        params = CoxParams(
            formula, duration, event, max_iter, tol, ties, tuple(strata), strata_by_site
        )
        return self.run(Cox(), dataset, params, where=where, project=project)

    def run(
        self,
        algorithm: Algorithm[P, Any, R],
        dataset: str,
        params: P,
        *,
        where: Where = None,
        project: str | None = None,
        allow_missing_sites: bool = False,
    ) -> R:
        """Run any algorithm with its typed parameters and wait for its typed result. With
        ``allow_missing_sites`` (additive analyses), a site that stays silent past
        the hub's ``site_silence`` is left out instead of failing the task; the result names it
        in ``.missing_sites``."""
        task = self.submit(
            algorithm,
            dataset,
            params,
            where=where,
            project=project,
            allow_missing_sites=allow_missing_sites,
        )
        done = self.wait(task["id"], task)
        return _typed(algorithm, done["result"])

    def submit(
        self,
        algorithm: Algorithm[P, Any, R],
        dataset: str,
        params: P,
        *,
        where: Where = None,
        project: str | None = None,
        allow_missing_sites: bool = False,
    ) -> dict[str, Any]:
        """Start a task without waiting for it; returns its state (``["id"]`` names it)."""
        body: dict[str, Any] = {
            "algorithm": algorithm.name,
            "dataset": dataset,
            "project": project or self._project_for(dataset),
            "where": as_wire(where),
            "params": algorithm.encode_params(params),
        }
        if allow_missing_sites:
            body["allow_missing_sites"] = True
        task: dict[str, Any] = self._request(
            "POST", "/api/tasks", json=body, params={"wait": WAIT_SECONDS}
        )
        return task

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
                        sites = dict(task.get("sites") or {})
                        self.progress(Progress(task_id, seen_round, str(task["note"]), sites))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TaskFailed(f"task {task_id} did not finish within {self.timeout:.0f}s")
            task = self._poll(task_id, seen_round, remaining, deadline)

    def _poll(
        self, task_id: str, after_round: int, remaining: float, deadline: float
    ) -> dict[str, Any] | None:
        """The task's next state; a hub that is down (restarting, say) is waited for until the
        deadline, keeping the task: the task id is in every message, for :meth:`result` later."""
        try:
            found: dict[str, Any] = self._request(
                "GET",
                f"/api/tasks/{task_id}",
                params={"wait": min(WAIT_SECONDS, remaining), "after_round": after_round},
            )
            return found
        except Unavailable as exc:
            if time.monotonic() + RECONNECT_SECONDS >= deadline:
                raise Unavailable(
                    f"{exc.detail}; task {task_id} may still finish: client.result({task_id!r}) "
                    "fetches it once the hub is back"
                ) from None
            time.sleep(RECONNECT_SECONDS)
            return None

    def result(self, task_id: str) -> Released:
        """A finished task's typed result (for example one that output checkers released)."""
        task = self._request("GET", f"/api/tasks/{task_id}")
        done = self.wait(task_id, task)
        algorithm: Algorithm[Any, Any, Released] = get_algorithm(str(done["algorithm"]))
        return _typed(algorithm, done["result"])

    def tasks(self, *, limit: int = 100) -> pd.DataFrame:
        """Your most recent tasks, newest first: id, algorithm, dataset, status, round, note, when
        created (a task's result: :meth:`result`)."""
        found = self._request("GET", "/api/tasks", params={"limit": limit})
        columns = ["id", "algorithm", "dataset", "status", "round", "note", "created_at"]
        return pd.DataFrame([{c: t.get(c) for c in columns} for t in found], columns=columns)

    def cancel(self, task_id: str) -> str:
        """Stop a running task; returns its status (a finished task is left as it is)."""
        return str(self._request("POST", f"/api/tasks/{task_id}/cancel")["status"])

    def budget(self, project: str, dataset: str) -> pd.DataFrame:
        """Each site's differential-privacy budget of ``project`` on ``dataset``: epsilon total,
        spent and left, and delta (as each node last reported it; the node enforces its own)."""
        rows = self._request("GET", "/api/budgets", params={"project": project, "dataset": dataset})
        columns = ["site", "epsilon", "epsilon_spent", "epsilon_left", "delta", "updated_at"]
        return pd.DataFrame(rows, columns=columns).set_index("site")

    # -- applications (researchers apply; reviewers decide) -------------------------------------

    def upload(self, path: str | Path, *, media_type: str = "application/pdf") -> Document:
        """Upload a document (the ethics approval) to the hub; cite its ``sha256`` in
        :meth:`apply`."""
        source = Path(path)
        try:
            content = source.read_bytes()
        except OSError as exc:
            raise InvalidRequest(f"cannot read {source}: {exc.strerror or exc}") from None
        answer = self._request(
            "PUT",
            "/api/documents",
            params={"name": source.name},
            content=content,
            headers={"Content-Type": media_type},
        )
        return Document.from_json(answer)

    def apply(
        self,
        project: str,
        *,
        title: str,
        purpose: str,
        protocol: str,
        datasets: Sequence[str],
        analyses: Sequence[str],
        duration_days: int,
        team: Sequence[str] = (),
        ethics_reference: str = "",
        ethics_document: str | None = None,
        sites: Sequence[str] | None = None,
        use: str = "research",
    ) -> Application:
        """Apply for a project. The approvals it needs follow the highest level of its datasets
        (L2: ethics, then each steward; L3, senior researchers only: ethics, data center, data
        committee, then each steward). You are always on its team. ``use`` is what the project is
        for (``causeway.model.usage.PURPOSES``); the datasets' usage terms must allow it."""
        body = {
            "project": project,
            "title": title,
            "purpose": purpose,
            "protocol": protocol,
            "datasets": list(datasets),
            "analyses": list(analyses),
            "duration_days": duration_days,
            "team": list(team),
            "ethics_reference": ethics_reference,
            "ethics_document": ethics_document,
            "sites": None if sites is None else list(sites),
            "use": use,
        }
        return Application.from_json(self._request("POST", "/api/applications", json=body))

    def applications(self) -> list[Application]:
        """The applications you may see: your organisation's, the ones you are on or review."""
        return [Application.from_json(a) for a in self._request("GET", "/api/applications")]

    def application(self, application_id: int) -> Application:
        return Application.from_json(self._request("GET", f"/api/applications/{application_id}"))

    def review_application(
        self, application_id: int, decision: str, comment: str = ""
    ) -> Application:
        """A committee's decision on the stage that is due: ``approve`` or ``reject`` (a
        rejection needs a comment, and ends the application)."""
        body = {"decision": decision, "comment": comment}
        answer = self._request("POST", f"/api/applications/{application_id}/reviews", json=body)
        return Application.from_json(answer)

    def withdraw(self, application_id: int) -> Application:
        answer = self._request("POST", f"/api/applications/{application_id}/withdraw")
        return Application.from_json(answer)

    def contributions(
        self,
        project: str | None = None,
        *,
        since: str | None = None,
        until: str | None = None,
    ) -> pd.DataFrame:
        """What each hospital contributed to released results (of ``project``, over
        [``since``, ``until``), ISO dates or times): results, rounds, rows, credits owed and share
        (pro rata to rows x rounds), one row per site."""
        params = {k: v for k, v in (("project", project), ("since", since), ("until", until)) if v}
        rows = self._request("GET", "/api/contributions", params=params)
        columns = ["hospital", "site", "results", "rounds", "rows", "credits", "share"]
        return pd.DataFrame(rows, columns=columns).set_index("site")

    # -- the ledger (admins and auditors read its entries) ---------------------------------------

    def ledger_entries(self, start: int = 0, end: int | None = None) -> Iterator[StoredEntry]:
        """The log's entries from ``start`` (to ``end``, default: all), as stored."""
        stop = end if end is not None else int(self._request("GET", "/api/ledger/head")["size"])
        while start < stop:
            page = self._request("GET", "/api/ledger/entries", params={"start": start, "end": stop})
            if not page:
                break
            for item in page:
                yield StoredEntry(int(item["index"]), str(item["entry"]))
            start = int(page[-1]["index"]) + 1

    def verify_ledger(self, *, hub_key: str | None = None, strict: bool = False) -> LedgerReport:
        """Re-check the whole log: every entry, every tree head the hub signed and every witness's
        co-signature (admins and auditors). ``.ok``; otherwise ``.first_bad`` and ``.problem``.
        ``hub_key`` pins the hub's key (default: the one the log's genesis entry names)."""
        heads = [TreeHead.from_json(h) for h in self._request("GET", "/api/ledger/heads")]
        latest = TreeHead.from_json(self._request("GET", "/api/ledger/head"))
        if all(h.size != latest.size for h in heads):
            heads.append(latest)
        cosigned = [
            Cosignature(int(c["size"]), str(c["root"]), str(c["node"]), str(c["signature"]))
            for c in self._request("GET", "/api/ledger/cosignatures")
        ]
        entries = self.ledger_entries(0, max(h.size for h in heads))
        return verify_log(
            entries, heads, cosigned, hub_key=hub_key, strict=strict, reread=self.ledger_entries
        )

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


def _typed(algorithm: Algorithm[Any, Any, R], data: dict[str, Any]) -> R:
    """The typed result, with the disclosure report of the releases behind it."""
    result = algorithm.decode_result(data)
    return dataclasses.replace(
        result,
        disclosure=DisclosureReport.from_json(data.get("disclosure") or {}),
        participants=tuple(str(site) for site in data.get("participants") or ()),
        securely_aggregated=data.get("secure_aggregation") is True,
        missing_sites=tuple(str(site) for site in data.get("missing_sites") or ()),
    )

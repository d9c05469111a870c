"""Data ownership, usage terms and contribution statements on a real federation.

- every registration carries the hospital's signed claim (content fingerprint, dictionary); new
  content is a new version, recorded in the ledger, never a silent change; a forged claim is
  refused;
- a dataset's usage terms are enforced by its node on every task — even for a project the hub's
  database was edited to let through — and an application must accept them;
- each released result records what each hospital contributed and the credits owed to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

import causeway
from causeway.client.admin import AdminClient
from causeway.crypto.keys import generate_key
from causeway.hub import ledger
from causeway.hub.db import DatasetRecord, Project
from causeway.model.errors import InvalidRequest, PermissionDenied
from causeway.model.usage import UsageTerms

rng = np.random.default_rng(21)
SITES = ("north", "south")
FRAMES = {site: pd.DataFrame({"age": rng.integers(20, 90, 120).astype(float)}) for site in SITES}
_numbers = iter(range(1000))


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(FRAMES, dataset="cohort") as federation:
        yield federation


def records(fed: causeway.LocalFederation) -> dict[str, DatasetRecord]:
    """The hub's registrations of the cohort, by the node their claim names."""
    return fed.hub.run(
        lambda s: {
            r.claim["node"]: r
            for r in s.scalars(select(DatasetRecord).where(DatasetRecord.name == "cohort"))
            if r.claim
        }
    )


def set_usage(fed: causeway.LocalFederation, site: str, usage: UsageTerms) -> None:
    """The steward sets the usage terms (as `causeway node set-terms`) and the node publishes."""
    store = fed.stores[site]
    store.set_metadata("cohort", dataclasses.replace(store.dataset("cohort").metadata, usage=usage))
    fed.agents[site].publish_catalog()


# -- ownership ------------------------------------------------------------------------------------


def test_every_registration_carries_the_hospitals_signed_claim(
    fed: causeway.LocalFederation,
) -> None:
    found = records(fed)
    assert set(found) == set(SITES)
    for site, record in found.items():
        assert record.claim_signature and record.version == 1
        assert record.claim["organisation"] == f"{site} hospital"
        assert record.claim["fingerprint"] == fed.stores[site].dataset("cohort").fingerprint


def test_the_fingerprint_is_of_the_rows_whatever_their_order() -> None:
    from causeway.node.store import NodeStore

    frame = FRAMES["north"]
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    one, two = NodeStore(":memory:"), NodeStore(":memory:")
    first = one.add_dataset("cohort", frame).fingerprint
    assert two.add_dataset("cohort", shuffled).fingerprint == first
    changed = frame.copy()
    changed.loc[0, "age"] += 1
    assert NodeStore(":memory:").add_dataset("cohort", changed).fingerprint != first


def test_new_content_is_a_new_version_in_the_ledger_never_a_silent_change(
    fed: causeway.LocalFederation,
) -> None:
    store = fed.stores["south"]
    fed.agents["south"].publish_catalog()  # the same content again: no new version
    assert records(fed)["south"].version == 1
    before = fed.hub.run(ledger.size)
    grown = pd.concat([FRAMES["south"], FRAMES["south"].head(10)], ignore_index=True)
    store.add_dataset("cohort", grown, dictionary=fed.dictionary, replace=True)
    fed.agents["south"].publish_catalog()
    record = records(fed)["south"]
    assert (
        record.version == 2 and record.claim["fingerprint"] == store.dataset("cohort").fingerprint
    )
    written = fed.hub.run(lambda s: [json.loads(e) for _, e in ledger.entries(s, before, 10**6)])
    versions = [e for e in written if e["type"] == "dataset.update" and "version" in e["data"]]
    assert versions and versions[-1]["data"]["version"] == 2
    assert versions[-1]["data"]["claim"]["fingerprint"] == record.claim["fingerprint"]
    store.add_dataset("cohort", FRAMES["south"], dictionary=fed.dictionary, replace=True)
    fed.agents["south"].publish_catalog()
    assert records(fed)["south"].version == 3  # back to the old rows: still a new version


def test_a_forged_claim_is_refused(fed: causeway.LocalFederation) -> None:
    agent = fed.agents["north"]
    info = fed.stores["north"].dataset("cohort")
    entry = agent._catalog_entry(info)
    forged = {**entry, "claim": {**entry["claim"], "organisation": "south hospital"}}
    with pytest.raises(causeway.SignatureError):
        agent.hub.request("PUT", "/api/node/datasets", json={"datasets": [forged]})
    lying = {**entry, "fingerprint": "0" * 64}
    with pytest.raises(InvalidRequest, match="does not describe what north registered"):
        agent.hub.request("PUT", "/api/node/datasets", json={"datasets": [lying]})
    other_key = generate_key()
    from causeway.crypto.keys import sign
    from causeway.model.ownership import Claim

    resigned = {
        **entry,
        "claim_signature": sign(other_key, Claim.from_json(entry["claim"]).to_sign()),
    }
    with pytest.raises(causeway.SignatureError):
        agent.hub.request("PUT", "/api/node/datasets", json={"datasets": [resigned]})
    assert records(fed)["north"].claim_signature == entry["claim_signature"]  # nothing changed


# -- usage terms ----------------------------------------------------------------------------------


def forge_project(fed: causeway.LocalFederation, use: str, analyses: list[str]) -> str:
    """A project written into the hub's database by hand, accepting the sites' current terms
    whatever they say (the hub's checks never run); every steward then approves its terms."""
    name = f"forged-{next(_numbers)}"

    def write(session: object) -> None:
        accepted = [
            ["cohort", site, fed.stores[site].dataset("cohort").metadata.usage.digest()]
            for site in SITES
        ]
        session.add(  # type: ignore[attr-defined]
            Project(
                name=name,
                status="approved",
                datasets=["cohort"],
                members=[fed.researcher],
                sites=list(SITES),
                analyses=analyses,
                use=use,
                accepted=accepted,
            )
        )

    fed.hub.run(write)
    fed.approve(name)
    return name


@pytest.fixture
def restricted(fed: causeway.LocalFederation) -> Iterator[UsageTerms]:
    usage = UsageTerms.of(
        purposes=["research", "drug-safety"],
        analyses=["count", "summary"],
        attribution="North Hospital data office",
        credits_per_use=2.5,
    )
    set_usage(fed, "north", usage)
    yield usage
    set_usage(fed, "north", UsageTerms())


def test_the_node_refuses_a_use_or_analysis_its_terms_do_not_allow(
    fed: causeway.LocalFederation, restricted: UsageTerms
) -> None:
    insurance = forge_project(fed, "insurance-review", ["count"])
    with pytest.raises(
        PermissionDenied,
        match=r"site north: the usage terms of dataset 'cohort' at north refuse this task: its "
        r"use \(insurance-review\) is not among those allowed \(drug-safety, research\)",
    ):
        fed.client.count("cohort", project=insurance)
    quantiles = forge_project(fed, "research", ["quantiles"])
    with pytest.raises(PermissionDenied, match="quantiles is not among the analyses allowed"):
        fed.client.quantiles("cohort", "age", project=quantiles)
    allowed = forge_project(fed, "drug-safety", ["count"])
    assert fed.client.count("cohort", project=allowed).total == 240


def test_the_node_refuses_past_the_terms_expiry(fed: causeway.LocalFederation) -> None:
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    set_usage(fed, "south", UsageTerms.of(expires=yesterday))
    try:
        late = forge_project(fed, "research", ["count"])
        with pytest.raises(PermissionDenied, match=f"the terms expired on {yesterday}"):
            fed.client.count("cohort", project=late)
    finally:
        set_usage(fed, "south", UsageTerms())


def test_changed_terms_must_be_accepted_again(
    fed: causeway.LocalFederation, restricted: UsageTerms
) -> None:
    project = forge_project(fed, "research", ["count"])
    assert fed.client.count("cohort", project=project).total == 240
    set_usage(fed, "north", dataclasses.replace(restricted, credits_per_use=5.0))
    with pytest.raises(PermissionDenied, match=r"changed since project .* accepted them"):
        fed.client.count("cohort", project=project)
    with AdminClient(fed.url, fed.admin_token) as admin:
        admin._request("POST", f"/api/projects/{project}/accept-terms")
    fed.approve(project)  # new terms: the stewards approve again
    assert fed.client.count("cohort", project=project).total == 240


def test_an_application_must_be_for_a_use_and_analyses_the_terms_allow(
    fed: causeway.LocalFederation, restricted: UsageTerms
) -> None:
    form = {
        "title": "t",
        "purpose": "p",
        "protocol": "q",
        "datasets": ["cohort"],
        "duration_days": 30,
    }
    with pytest.raises(InvalidRequest, match=r"at north refuse it: its use \(teaching\)"):
        fed.client.apply(f"app-{next(_numbers)}", analyses=["count"], use="teaching", **form)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="glm is not among the analyses allowed"):
        fed.client.apply(f"app-{next(_numbers)}", analyses=["glm"], **form)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="unknown use 'fun'"):
        fed.client.apply(f"app-{next(_numbers)}", analyses=["count"], use="fun", **form)  # type: ignore[arg-type]
    ok = fed.client.apply(f"app-{next(_numbers)}", analyses=["count"], use="drug-safety", **form)  # type: ignore[arg-type]
    assert ok.use == "drug-safety"


# -- contributions --------------------------------------------------------------------------------


def test_each_released_result_records_each_hospitals_contribution_and_credits(
    fed: causeway.LocalFederation, restricted: UsageTerms
) -> None:
    project = forge_project(fed, "research", ["count", "summary"])
    fed.client.count("cohort", project=project)
    fed.client.summary("cohort", "age", project=project)
    statement = fed.client.contributions(project)
    assert list(statement.index) == ["north", "south"]
    assert statement.loc["north", "results"] == 2 and statement.loc["south", "results"] == 2
    assert statement.loc["north", "credits"] == pytest.approx(5.0)  # 2.5 per use, twice
    assert statement.loc["south", "credits"] == 0.0
    rows = {site: fed.stores[site].dataset("cohort").rows for site in SITES}
    assert statement.loc["north", "rows"] == 2 * rows["north"]
    assert statement["share"].sum() == pytest.approx(1.0)
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
    assert fed.client.contributions(project, since=later).empty
    with AdminClient(fed.url, fed.admin_token) as admin:
        steward = causeway.Client(
            fed.url, admin.add_user(f"stew{next(_numbers)}", "steward", "north hospital")
        )
        stranger = causeway.Client(
            fed.url, admin.add_user(f"res{next(_numbers)}", "researcher", "x")
        )
    assert list(steward.contributions(project).index) == ["north"]  # their own hospital's
    with pytest.raises(PermissionDenied):
        stranger.contributions(project)
    steward.close()
    stranger.close()

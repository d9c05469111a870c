"""Secure aggregation end to end: real hub, real nodes, masked parts. The hub learns the total over
sites and never one site's share; results equal the plaintext ones; a dropout re-runs the round
among the rest; too few sites and overflowing parts are refused clearly."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import causeway
from causeway.crypto.secagg import unpack
from causeway.model import masking
from causeway.model.contribution import Contribution
from causeway.synthetic import hospitals

BASE = hospitals()
# four sites of unusual sizes, so that a site's own count is a number found nowhere else
SIZES = {"north": 1237, "south": 2011, "east": 1579, "west": 1693}
FRAMES = {
    site: pd.concat(list(BASE.values()), ignore_index=True)
    .sample(n=n, random_state=i)
    .reset_index(drop=True)
    for i, (site, n) in enumerate(SIZES.items())
}
PLAIN = causeway.Policy.unrestricted()
SECURE = dataclasses.replace(PLAIN, secure_aggregation=True)
WHERE = causeway.col("age") >= 50


@pytest.fixture(scope="module")
def plain() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(FRAMES, dataset="cohort", policy=PLAIN) as fed:
        yield fed


@pytest.fixture(scope="module")
def secure() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(FRAMES, dataset="cohort", policy=SECURE) as fed:
        yield fed


def _both(plain: causeway.LocalFederation, secure: causeway.LocalFederation, call):  # type: ignore[no-untyped-def]
    a, b = call(plain.client), call(secure.client)
    assert not a.securely_aggregated and b.securely_aggregated
    assert b.participants == tuple(sorted(SIZES))
    return a, b


def test_counts_crosstabs_and_summaries_are_identical(
    plain: causeway.LocalFederation, secure: causeway.LocalFederation
) -> None:
    a, b = _both(plain, secure, lambda c: c.count("cohort", where=WHERE))
    expected = sum(int((f.age >= 50).sum()) for f in FRAMES.values())
    assert a.total == b.total == expected
    a, b = _both(plain, secure, lambda c: c.crosstab("cohort", "sex", "diabetes"))
    assert a.counts == b.counts and a.chi2 == b.chi2
    a, b = _both(plain, secure, lambda c: c.summary("cohort", "bmi", where=WHERE))
    assert a.n == b.n
    assert b.mean == pytest.approx(a.mean, rel=1e-14)
    assert b.variance == pytest.approx(a.variance, rel=1e-12)
    a, b = _both(plain, secure, lambda c: c.summary("cohort", "diagnosis"))
    assert a.values == b.values


def test_models_and_survival_are_identical_within_the_fixed_point(
    plain: causeway.LocalFederation, secure: causeway.LocalFederation
) -> None:
    formula = "readmitted_30d ~ age + sbp + C(sex)"
    a, b = _both(plain, secure, lambda c: c.glm("cohort", formula, family="binomial"))
    np.testing.assert_allclose(b.coefficients, a.coefficients, rtol=1e-11)
    np.testing.assert_allclose(np.array(b.covariance), np.array(a.covariance), rtol=1e-10)
    assert a.iterations == b.iterations and a.n == b.n
    assert b.n_per_site == ()  # per-site meta is not released under secure aggregation
    a, b = _both(
        plain,
        secure,
        lambda c: c.cox("cohort", "age + diabetes", duration="follow_up_days", event="died"),
    )
    np.testing.assert_allclose(b.coefficients, a.coefficients, rtol=1e-10)
    a, b = _both(plain, secure, lambda c: c.km("cohort", duration="follow_up_days", event="died"))
    assert a.rows == b.rows and a.grid == b.grid


def test_the_curious_hub_finds_no_sites_share(secure: causeway.LocalFederation) -> None:
    """Everything the hub's database holds for a round, read as the hub's operator would: no
    site's count, in plain or in its fixed-point encoding, and masked vectors that look uniform."""
    where = causeway.col("age") >= 61
    shares = {site: int((f.age >= 61).sum()) for site, f in FRAMES.items()}
    logged: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    handler = Keep()
    logging.getLogger("causeway").addHandler(handler)
    try:
        result = secure.client.count("cohort", where=where)
    finally:
        logging.getLogger("causeway").removeHandler(handler)
    assert result.total == sum(shares.values())
    engine = sa.create_engine(secure.hub_database_url)
    with engine.connect() as conn:
        task = conn.execute(sa.text("SELECT id FROM tasks ORDER BY created_at DESC")).first()
        assert task is not None
        rows = conn.execute(
            sa.text("SELECT * FROM assignments WHERE task_id = :t"), {"t": task[0]}
        ).all()
        held = conn.execute(sa.text("SELECT * FROM tasks WHERE id = :t"), {"t": task[0]}).all()
        contributions = [
            row[0]
            for row in conn.execute(
                sa.text(
                    "SELECT contribution FROM assignments WHERE task_id = :t AND phase = 'mask'"
                ),
                {"t": task[0]},
            )
        ]
    dump = [repr(tuple(row)) for row in [*rows, *held]]
    text = "\n".join(dump + logged)
    for site, share in shares.items():
        found = re.search(rf"(?<![\w.+-]){share}(?![\w.])", text)
        assert found is None, (
            f"{site}'s count is stored: {text[found.start() - 200 : found.end() + 50]}"
        )
    vectors = []
    for raw in contributions:
        item = Contribution.from_json(
            raw if isinstance(raw, dict) else __import__("json").loads(raw)
        )
        assert not item.parts and not item.meta and item.masked is not None
        vectors.append(unpack(item.masked, masking.size(item.layout)))
    assert vectors
    for vector in vectors:
        # a count and its suppression mark, masked: no small number (the plaintext would be one)
        as_signed = vector.view(np.int64)
        assert np.all(np.abs(as_signed.astype(np.float64)) > 2.0**40)
    engine.dispose()


def test_a_dropout_reruns_the_round_among_the_rest_and_too_few_is_refused() -> None:
    with causeway.LocalFederation(
        FRAMES, dataset="cohort", policy=SECURE, round_timeout=4.0
    ) as fed:
        fed.agents["west"].stop()
        fed._threads["west"].join(timeout=30)
        result = fed.client.count("cohort", where=WHERE)
        rest = ("east", "north", "south")
        assert result.participants == rest and result.securely_aggregated
        assert result.total == sum(int((FRAMES[s].age >= 50).sum()) for s in rest)
        reruns = fed.hub.metrics.registry.get_sample_value(
            "causeway_secure_aggregation_reruns_total", {"algorithm": "count"}
        )
        assert reruns == 1
        fed.agents["south"].stop()
        fed._threads["south"].join(timeout=30)
        with pytest.raises(causeway.Unavailable, match="at least 3 sites and only 2 remain"):
            fed.client.count("cohort", where=causeway.col("age") >= 40)


def test_fewer_than_three_sites_and_per_site_releases_are_refused() -> None:
    two = {site: FRAMES[site] for site in ("north", "south")}
    with (
        causeway.LocalFederation(two, dataset="cohort", policy=SECURE) as fed,
        pytest.raises(causeway.InvalidRequest, match="at least 3 sites"),
    ):
        fed.client.count("cohort")
    with causeway.LocalFederation(FRAMES, dataset="cohort", policy=SECURE) as fed:
        with pytest.raises(causeway.InvalidRequest, match="secure aggregation refuses"):
            fed.client.glm("cohort", "sbp ~ age", per_site=True)
        # errors clustered by site sum per-site products: a per-site release too
        with pytest.raises(causeway.InvalidRequest, match="glm_cluster releases each site's"):
            fed.client.glm("cohort", "sbp ~ age", cov_type="cluster")


def test_an_overflowing_part_is_reported_by_name() -> None:
    huge = {site: f.assign(bmi=f.bmi * 1e12 + 0.25) for site, f in FRAMES.items()}
    with (
        causeway.LocalFederation(huge, dataset="cohort", policy=SECURE) as fed,
        pytest.raises(causeway.InvalidRequest, match=r"part 'sum_sq'.*fixed-point range") as raised,
    ):
        fed.client.summary("cohort", "bmi")
    detail = raised.value.detail
    assert "per site over 4 sites" in detail
    assert "e+" not in re.sub(r"±[\d.]+e\+\d+", "", detail)  # never the site's value


def test_an_aggregation_key_rotates_and_an_older_one_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from causeway.crypto import secagg

    three = {site: FRAMES[site] for site in ("north", "south", "east")}
    with causeway.LocalFederation(three, dataset="cohort", policy=SECURE) as fed:
        agent = fed.agents["south"]
        old = agent._agreement_key
        agent._agreement_key = X25519PrivateKey.generate()  # the steward rotates the key
        agent.announce_key()
        versions = fed.hub.run(
            lambda s: dict(s.execute(sa.text("SELECT name, agg_key_version FROM nodes")).all())
        )
        assert versions["south"] == 2 and versions["north"] == 1
        result = fed.client.count("cohort", where=WHERE)  # every peer takes the new key
        assert result.total == sum(int((f.age >= 50).sum()) for f in three.values())
        assert old is not None
        stale = secagg.KeyAnnouncement("south", secagg.agreement_public_text(old), 1)
        assert agent._signing_key is not None
        body = stale.signed(agent._signing_key)
        with pytest.raises(causeway.SignatureError, match="needs a higher version"):
            agent.hub.request(
                "PUT",
                "/api/node/aggregation-key",
                json={"key": body.key, "version": 1, "signature": body.signature},
            )

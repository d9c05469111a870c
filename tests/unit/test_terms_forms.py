"""A project's terms are written and read at every site in every assignment: their fast JSON form
must be the codec's, their digest stable, and a decoded form kept only once it decoded."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from causeway.model import codec
from causeway.model.codec import WireError
from causeway.model.terms import ProjectTerms


def terms(sites: int = 3, **changes: object) -> ProjectTerms:
    names = [f"site{i:04d}" for i in range(sites)]
    made = ProjectTerms.of(
        project="scale",
        purpose="why",
        members=["b", "a"],
        datasets=["cohort"],
        sites=names,
        analyses=["glm", "count"],
        expires=dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        application=7,
        use="research",
        accepted=[("cohort", s, "ab" * 32) for s in names],
    )
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "made", [terms(), terms(0), terms(expires=None, application=None, accepted=())]
)
def test_the_json_form_is_the_codecs(made: ProjectTerms) -> None:
    assert made.to_json() == codec.encode(made)
    assert ProjectTerms.from_json(made.to_json()) == made


def test_equal_terms_share_a_digest_and_a_change_changes_it() -> None:
    a, b = terms(50), ProjectTerms.from_json(terms(50).to_json())
    assert a.digest() == b.digest()
    assert terms(50, purpose="other").digest() != a.digest()
    assert terms(51).digest() != a.digest()


def test_a_form_that_does_not_decode_is_refused_every_time() -> None:
    bad = {**terms().to_json(), "sites": "not a list"}
    for _ in range(2):
        with pytest.raises(WireError, match="sites"):
            ProjectTerms.from_json(bad)
    good = terms().to_json()
    assert ProjectTerms.from_json(good) is ProjectTerms.from_json(dict(good))

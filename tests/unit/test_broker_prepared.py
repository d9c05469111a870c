"""The hub checks a task's parameters against its dictionary once per question, not at every
round's combination (a GLM's formula against the dictionary costs milliseconds each time)."""

from __future__ import annotations

import pandas as pd
import pytest

from causeway.hub import broker
from causeway.model.dictionary import infer_dictionary
from causeway.model.errors import InvalidRequest
from causeway.model.task import TaskSpec

FRAME = pd.DataFrame({"age": [30.0, 40.0, 50.0, 60.0], "y": [0.0, 1.0, 0.0, 1.0]})


def _spec(formula: str) -> TaskSpec:
    params = {"formula": formula, "family": "binomial"}
    return TaskSpec(algorithm="glm", dataset="cohort", project="p", params=params)


def test_the_same_question_is_checked_once_and_another_afresh() -> None:
    dictionary = infer_dictionary(FRAME).to_json()
    first = broker._prepared(_spec("y ~ age"), dictionary)
    again = broker._prepared(_spec("y ~ age"), [dict(c) for c in dictionary])
    assert again[1] is first[1] and first[0].names == ["age", "y"]
    other = broker._prepared(_spec("y ~ 1"), dictionary)
    assert other[1] is not first[1]
    wider = infer_dictionary(FRAME.assign(sex=["F", "M", "F", "M"])).to_json()
    assert broker._prepared(_spec("y ~ age"), wider)[1] is not first[1]


def test_a_question_the_dictionary_cannot_answer_is_refused_every_time() -> None:
    dictionary = infer_dictionary(FRAME).to_json()
    for _ in range(2):  # a refusal is not kept as if it were an answer
        with pytest.raises(InvalidRequest, match="bmi"):
            broker._prepared(_spec("y ~ bmi"), dictionary)

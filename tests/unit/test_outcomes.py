"""A finished task's state, left by the answer that finished it, is taken once, by its owner,
and only while fresh."""

from __future__ import annotations

from causeway.hub.outcomes import Outcomes
from causeway.hub.schemas import TaskOut


def finished(task_id: str) -> TaskOut:
    return TaskOut(
        id=task_id,
        status="done",
        round=0,
        note="",
        algorithm="count",
        dataset="cohort",
        result={"total": 7},
    )


def test_the_owner_takes_it_once() -> None:
    found = Outcomes()
    found.leave(1, finished("t1"))

    assert found.take("t1", 2) is None  # another user: reads the database instead
    taken = found.take("t1", 1)
    assert taken is not None and taken.result == {"total": 7}
    assert found.take("t1", 1) is None


def test_a_stale_state_is_not_taken() -> None:
    found = Outcomes(kept_seconds=-1.0)
    found.leave(1, finished("t1"))

    assert found.take("t1", 1) is None


def test_it_keeps_a_bounded_number() -> None:
    found = Outcomes(kept=2)
    for name in ("t1", "t2", "t3"):
        found.leave(1, finished(name))

    assert found.take("t1", 1) is None  # the oldest went
    assert [found.take(name, 1) is not None for name in ("t2", "t3")] == [True, True]

"""The witness's own file (witness.sqlite): the accepted head, the entries kept, alarms and their
acknowledgement, shared between 'node serve' and the steward's commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from causeway.model.errors import InvalidRequest, PermissionDenied
from causeway.model.treehead import TreeHead
from causeway.node.witness import WITNESS_FILE, WitnessState

HEAD = TreeHead(size=12, root="ab" * 32, timestamp=1_700_000_000_000, signature="sig", key="k")


def test_a_fresh_state_has_no_head_no_copy_and_no_alarm() -> None:
    with WitnessState(":memory:") as state:
        assert state.accepted() is None
        assert state.through() == -1 and state.generation() == 0 and state.checks() == 0
        assert state.kept() == [] and state.open_alarms() == []
        state.refuse_if_alarmed("north")  # no alarm: no refusal


def test_accepting_a_head_keeps_it_and_the_entries_it_brought() -> None:
    with WitnessState(":memory:") as state:
        state.accept(HEAD, 11, [(0, '{"index":0}'), (4, '{"index":4}')], now=1000.0)
        accepted = state.accepted()
        assert accepted is not None and accepted.head == HEAD and accepted.accepted_at == 1000.0
        assert state.through() == 11 and state.checks() == 1
        assert state.kept() == [(0, '{"index":0}'), (4, '{"index":4}')]
        assert state.kept_text(4) == '{"index":4}' and state.kept_text(5) is None
        state.accept(HEAD, 11, [(4, "another text")], now=1001.0)  # a kept entry is never replaced
        assert state.kept_text(4) == '{"index":4}' and state.kept_count() == 2


def test_an_alarm_refuses_tasks_until_acknowledged_with_a_comment() -> None:
    with WitnessState(":memory:") as state:
        state.accept(HEAD, 11, [(0, "{}")], now=1000.0)
        state.raise_alarm("fork: something", HEAD)
        with pytest.raises(PermissionDenied, match=r"ledger.*fork: something.*ledger-ack"):
            state.refuse_if_alarmed("north")
        with pytest.raises(InvalidRequest, match="comment"):
            state.acknowledge("  ")
        done = state.acknowledge("the operator explained")
        assert [a.problem for a in done] == ["fork: something"]
        assert done[0].comment == "the operator explained" and not done[0].open
        state.refuse_if_alarmed("north")
        assert state.acknowledge("again") == []  # nothing open
        # the next check starts again from the hub's log; the old copy stays as evidence
        assert state.rebase_pending()
        state.rebase()
        assert state.accepted() is None and state.through() == -1 and state.generation() == 1
        assert state.kept() == [] and state.kept(0) == [(0, "{}")]
        assert state.kept_count(every_generation=True) == 1
        assert state.alarms()[0].head == HEAD.to_json()


def test_an_acknowledgement_by_another_process_applies_at_once(tmp_path: Path) -> None:
    serving = WitnessState.beside(tmp_path / "data.duckdb")
    assert serving.path == str(tmp_path / WITNESS_FILE)
    serving.raise_alarm("split view", None)
    with WitnessState(tmp_path / WITNESS_FILE) as steward:  # 'causeway node ledger-ack'
        assert [a.problem for a in steward.open_alarms()] == ["split view"]
        steward.acknowledge("checked with the other stewards")
    serving.refuse_if_alarmed("north")
    serving.close()
    assert WitnessState.beside(":memory:").path == ":memory:"

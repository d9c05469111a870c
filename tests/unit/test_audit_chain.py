"""The node's audit log on its own: the hash chain, its verification, rotation, threads, following
a log that is being written, and that a release is described without its values."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causeway.node import audit
from causeway.node.audit import AuditLog


def write(directory: Path, n: int, **options: int) -> None:
    with AuditLog(directory, "north", **options) as log:
        for i in range(n):
            log.record("check", task="t1", round=0, check=f"c{i}", outcome="passed")


def stored(directory: Path) -> list[str]:
    return (directory / audit.AUDIT_FILE).read_text().splitlines(keepends=True)


def test_each_line_carries_the_hash_of_the_line_before(tmp_path: Path) -> None:
    write(tmp_path, 5)
    lines = stored(tmp_path)
    events = [json.loads(line) for line in lines]
    assert events[0]["prev"] == audit.GENESIS
    for before, line in zip(lines, events[1:], strict=False):
        assert line["prev"] == audit.line_hash(before.rstrip("\n").encode())
    assert [e["seq"] for e in events] == [0, 1, 2, 3, 4]
    assert {e["node"] for e in events} == {"north"}
    assert events[0]["time"].endswith("Z") and "T" in events[0]["time"]
    found = audit.verify(tmp_path)
    assert found.ok and found.anchored and found.lines == 5
    assert found.head == audit.line_hash(lines[-1].rstrip("\n").encode())


def test_a_reopened_log_goes_on_with_the_chain(tmp_path: Path) -> None:
    write(tmp_path, 3)
    write(tmp_path, 2)
    assert [e["seq"] for e in audit.events(tmp_path)] == [0, 1, 2, 3, 4]
    assert audit.verify(tmp_path).ok


@pytest.mark.parametrize(
    ("tamper", "line"),
    [
        (lambda ls: ls.__setitem__(2, ls[2].replace('"c2"', '"c9"')), 4),  # edited
        (lambda ls: ls.pop(2), 3),  # deleted
        (lambda ls: ls.insert(2, ls[1]), 3),  # a line repeated
        (lambda ls: ls.__setitem__(2, "not json\n"), 3),
    ],
)
def test_verify_says_where_a_tampered_log_breaks(tmp_path: Path, tamper: object, line: int) -> None:
    write(tmp_path, 6)
    lines = stored(tmp_path)
    tamper(lines)  # type: ignore[operator]
    (tmp_path / audit.AUDIT_FILE).write_text("".join(lines))
    found = audit.verify(tmp_path)
    assert not found.ok and found.line == line
    assert found.problem is not None and f"audit.jsonl line {line}" in found.problem


@settings(max_examples=40, deadline=None)
@given(index=st.integers(0, 6), offset=st.integers(0, 10_000), byte=st.integers(0, 255))
def test_any_change_to_a_byte_but_the_last_lines_breaks_the_chain(
    tmp_path_factory: pytest.TempPathFactory, index: int, offset: int, byte: int
) -> None:
    """(A change to the last line changes the head, which a steward compares with the one noted.)"""
    directory = tmp_path_factory.mktemp("chain")
    write(directory, 8)
    path = directory / audit.AUDIT_FILE
    lines = path.read_bytes().split(b"\n")
    line = bytearray(lines[index])
    at = offset % len(line)
    if line[at] == byte or byte == ord("\n"):
        return
    line[at] = byte
    lines[index] = bytes(line)
    path.write_bytes(b"\n".join(lines))
    assert not audit.verify(directory).ok


def test_rotation_keeps_n_files_owner_readable_and_the_chain_across_them(tmp_path: Path) -> None:
    write(tmp_path, 200, max_bytes=2_000, backups=3)
    paths = audit.files(tmp_path)
    assert [p.name for p in paths] == [f"audit.jsonl.{n}" for n in (3, 2, 1)] + ["audit.jsonl"]
    assert all(p.stat().st_size <= 2_000 for p in paths)
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in paths)
    found = audit.verify(tmp_path)
    assert found.ok and not found.anchored  # the oldest lines were rotated away
    seqs = [e["seq"] for e in audit.events(tmp_path)]
    assert seqs == list(range(seqs[0], 200))


def test_a_line_deleted_at_a_file_boundary_is_found(tmp_path: Path) -> None:
    write(tmp_path, 60, max_bytes=2_000, backups=5)
    older = audit.files(tmp_path)[-2]
    lines = older.read_text().splitlines(keepends=True)
    older.write_text("".join(lines[:-1]))
    found = audit.verify(tmp_path)
    assert not found.ok and found.path == tmp_path / audit.AUDIT_FILE and found.line == 1


def test_threads_writing_at_once_keep_one_unbroken_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, "north", max_bytes=20_000, backups=50)

    def work(n: int) -> None:
        for i in range(150):
            log.record("check", task=f"t{n}", round=i, check="policy", outcome="passed")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    found = audit.verify(tmp_path)
    assert found.ok and found.anchored and found.lines == 8 * 150


def test_a_line_torn_by_a_crash_is_ended_and_reported(tmp_path: Path) -> None:
    write(tmp_path, 3)
    with (tmp_path / audit.AUDIT_FILE).open("a") as f:
        f.write('{"time": "2025-')  # the process died mid-write
    assert len(list(audit.events(tmp_path))) == 3  # an incomplete line is not read
    write(tmp_path, 1)
    assert [e["seq"] for e in audit.events(tmp_path)] == [0, 1, 2, 3]
    found = audit.verify(tmp_path)
    assert found.line == 4 and found.problem is not None and "not an audit event" in found.problem


def test_fields_cannot_overwrite_the_header(tmp_path: Path) -> None:
    with AuditLog(tmp_path, "north") as log, pytest.raises(ValueError, match="prev"):
        log.record("check", prev="0" * 64)


def test_follow_yields_what_is_written_then_what_is_appended_across_a_rotation(
    tmp_path: Path,
) -> None:
    log = AuditLog(tmp_path, "north", max_bytes=1_000, backups=20)
    log.record("catalog", datasets=[])
    stop = threading.Event()
    seen: list[int] = []
    followed: Iterator[dict[str, object]] = audit.follow(tmp_path, poll=0.01, stop=stop)

    def read() -> None:
        for event in followed:
            seen.append(int(str(event["seq"])))
            if len(seen) == 40:
                stop.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    for i in range(39):
        log.record("check", task="t", round=i, check="policy", outcome="passed")
    reader.join(timeout=20)
    log.close()
    assert not reader.is_alive()
    assert seen == list(range(40))
    assert len(audit.files(tmp_path)) > 2


def test_a_release_is_described_by_names_kinds_and_shapes_never_values() -> None:
    contribution = {
        "task_id": "t",
        "round": 0,
        "parts": {
            "n": {"kind": "count", "shape": [], "values": [1237]},
            "table": {
                "kind": "count",
                "shape": [2, 2],
                "values": [0, 4411, 3121, 0],
                "suppressed": [True, False, False, True],
            },
        },
        "meta": {"n_rows": 98765},
        "report": [{"part": "table", "check": "min_cell_count", "outcome": "suppressed"}],
        "budget": None,
    }
    described = audit.describe_release(contribution)
    assert described["parts"] == [
        {"name": "n", "kind": "count", "shape": [], "suppressed": 0},
        {"name": "table", "kind": "count", "shape": [2, 2], "suppressed": 2},
    ]
    assert described["meta"] == ["n_rows"]
    text = json.dumps(described)
    for value in ("1237", "4411", "3121", "98765"):
        assert value not in text


def test_an_assignment_is_read_warily_before_its_signature_is_checked() -> None:
    context, fields = audit.received({"task_id": 7, "round": "x", "spec": ["odd"]}, 3)
    assert context == {"assignment": 3, "task": None, "round": None}
    assert fields["project"] is None and fields["filter"] is None
    huge = {"op": "in", "column": "a", "values": list(range(10_000))}
    _, fields = audit.received({"spec": {"where": huge}}, 4)
    assert fields["filter"]["truncated"] and len(fields["filter"]["digest"]) == 64

"""The node's audit log: what it was asked, what it checked, and what left, as hash-chained JSON lines.

One line per event in ``audit.jsonl`` in the node's data directory, rotated by size into
``audit.jsonl.1`` … ``audit.jsonl.N`` (oldest last), owner-readable only. Every line is::

    {"time": "2025-05-01T09:30:00.123456Z", "node": "north", "event": "check", "seq": 41,
     ..., "prev": "<SHA-256 of the previous line>"}

The log records which parts left and their kinds and shapes, never a value: not a row, not a part,
not a count. Each line carries the hash of the one before it (across rotated files), so an edited,
inserted or deleted line breaks the chain and :func:`verify` says where. The chain makes tampering
evident, not impossible: whoever can write the files can also rewrite the chain from the edit on,
and lines cut from the end leave no gap. A steward who notes the head hash that :func:`verify`
returns (in a ticket, an email) can later show that the log has not been rewritten up to it.

The log is written by one process (``causeway node serve``) and read by others (``causeway node
log``) from the files alone, so it can be read while the node runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from causeway.model.canonical import canonical_json

AUDIT_FILE = "audit.jsonl"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 9  # with the current file, ten files: about 100 MiB of history
GENESIS = "0" * 64  # the ``prev`` of the very first line
MODE = 0o600
RESERVED = frozenset({"time", "node", "event", "seq", "prev"})


def line_hash(line: bytes) -> str:
    """The hash the next line carries: SHA-256 of this line's bytes, without its newline."""
    return hashlib.sha256(line).hexdigest()


def files(directory: Path) -> list[Path]:
    """The log's files, oldest first (``audit.jsonl.N`` … ``audit.jsonl.1``, ``audit.jsonl``)."""
    rotated = []
    for path in directory.glob(f"{AUDIT_FILE}.*"):
        suffix = path.name[len(AUDIT_FILE) + 1 :]
        if suffix.isdigit():
            rotated.append((int(suffix), path))
    current = directory / AUDIT_FILE
    out = [path for _, path in sorted(rotated, reverse=True)]
    return [*out, current] if current.exists() else out


class AuditLog:
    """Appends events to the chain; safe to share between threads."""

    def __init__(
        self, directory: Path, node: str, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS
    ) -> None:
        if max_bytes < 1 or backups < 0:
            raise ValueError("an audit log needs a positive size and a non-negative file count")
        self.directory = Path(directory)
        self.node = node
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._prev, self._seq, self._torn = _head(files(self.directory))
        self._size = 0  # bytes in the current file (see _open)
        self._fd = self._open()

    @property
    def path(self) -> Path:
        return self.directory / AUDIT_FILE

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event (its fields JSON-serialisable) and return the line as written. An
        error writing it is raised: a node that cannot record what it releases must not release."""
        reserved = RESERVED.intersection(fields)
        if reserved:
            raise ValueError(f"an event's own fields cannot be named {', '.join(sorted(reserved))}")
        stamp = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        with self._lock:
            entry = {"time": stamp, "node": self.node, "event": event, "seq": self._seq}
            entry.update(fields)
            entry["prev"] = self._prev
            line = json.dumps(entry, separators=(",", ":"), allow_nan=False).encode()
            self._rotate_for(len(line) + 1)
            # a line torn by a crash is ended first, so it stands alone (verify reports it)
            data = (b"\n" if self._torn else b"") + line + b"\n"
            os.write(self._fd, data)
            self._size += len(data)
            self._torn = False
            self._prev, self._seq = line_hash(line), self._seq + 1
        return entry

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, MODE)
        os.fchmod(fd, MODE)
        # its size from here on is counted as this process writes it (the only writer), not
        # asked of the file system at every line
        self._size = os.fstat(fd).st_size
        return fd

    def _rotate_for(self, size: int) -> None:
        """Start a new file if this line would overflow the current one (never leave it empty)."""
        written = self._size
        if written == 0 or written + size <= self.max_bytes:
            return
        os.close(self._fd)
        self._fd = -1
        if self.backups == 0:
            self.path.unlink()
        else:
            oldest = self.directory / f"{AUDIT_FILE}.{self.backups}"
            oldest.unlink(missing_ok=True)
            for n in range(self.backups - 1, 0, -1):
                older = self.directory / f"{AUDIT_FILE}.{n}"
                if older.exists():
                    older.rename(self.directory / f"{AUDIT_FILE}.{n + 1}")
            self.path.rename(self.directory / f"{AUDIT_FILE}.1")
        self._torn = False
        self._fd = self._open()


def _head(paths: list[Path]) -> tuple[str, int, bool]:
    """Where the chain goes on: the last complete line's hash, the next sequence number, and
    whether the newest file ends in a torn line (a crash mid-write)."""
    for path in reversed(paths):
        data = path.read_bytes()
        torn = path == paths[-1] and bool(data) and not data.endswith(b"\n")
        for line in reversed(data.splitlines()):
            try:
                seq = int(json.loads(line)["seq"])
            except (ValueError, KeyError, TypeError):
                continue
            return line_hash(line), seq + 1, torn
        if torn:
            return GENESIS, 0, True
    return GENESIS, 0, False


# -- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of the log as stored, with where it is."""

    path: Path
    number: int  # 1-based, within its file
    raw: bytes


def lines(directory: Path) -> Iterator[Line]:
    """Every complete line, oldest first (a last line still being written is left out)."""
    for path in files(directory):
        data = path.read_bytes()
        chunks = data.split(b"\n")
        for number, raw in enumerate(chunks[:-1], start=1):  # the last chunk has no newline
            yield Line(path, number, raw)


def events(directory: Path) -> Iterator[dict[str, Any]]:
    """The events, oldest first (lines that are not events are skipped: :func:`verify` them)."""
    for line in lines(directory):
        event = _parse(line.raw)
        if event is not None:
            yield event


def follow(
    directory: Path, *, poll: float = 0.5, stop: threading.Event | None = None
) -> Iterator[dict[str, Any]]:
    """The events already written, then each new one as it is appended (across rotations),
    until ``stop`` is set."""
    stop = stop or threading.Event()
    # bytes read per file, known by its first line (a rotation renames a file, and a file
    # deleted by one may leave its inode to the next)
    offsets: dict[bytes, int] = {}
    while True:
        found, read, complete_pass = [], dict(offsets), True
        for path in files(directory):
            try:
                with path.open("rb") as handle:
                    key = handle.readline()
                    handle.seek(read.get(key, 0))
                    data = handle.read()
            except FileNotFoundError:
                complete_pass = False  # rotated meanwhile: read the whole pass again at once
                break
            complete = data[: data.rfind(b"\n") + 1]
            if key.endswith(b"\n"):
                read[key] = read.get(key, 0) + len(complete)
            found += [e for e in map(_parse, complete.split(b"\n")[:-1]) if e is not None]
        if not complete_pass:
            continue
        offsets = read
        # one pass may see a rotation's files in either order: events go out in their order
        yield from sorted(found, key=lambda event: int(event.get("seq", 0)))
        if stop.wait(poll):
            return


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(raw)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


# -- verifying -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """What :func:`verify` found. ``head`` is the last line's hash, to note down elsewhere;
    ``anchored`` says the chain starts at the log's first event (not at a rotated-away one)."""

    lines: int
    files: int
    head: str
    anchored: bool
    problem: str | None = None
    path: Path | None = None
    line: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(directory: Path) -> Verification:
    """Check the chain line by line across the files; stop at the first break."""
    paths = files(directory)
    prev: str | None = None  # the oldest file's first line is trusted for its own prev
    anchored, count, seq = True, 0, -1
    before: Line | None = None
    for line in lines(directory):
        event = _parse(line.raw)
        if event is None or not isinstance(event.get("prev"), str) or "seq" not in event:
            return _broken(line, count, paths, prev, anchored, "is not an audit event")
        if prev is None:
            anchored = event["prev"] == GENESIS and event["seq"] == 0
        elif event["prev"] != prev:
            assert before is not None
            where = f"{before.path.name} line {before.number}"
            why = (
                f"does not carry the hash of the line before it ({where}): one of them was "
                "edited, or lines between them were deleted or inserted"
            )
            return _broken(line, count, paths, prev, anchored, why)
        elif event["seq"] != seq + 1:
            why = f"has seq {event['seq']} after {seq}"
            return _broken(line, count, paths, prev, anchored, why)
        prev, seq, count, before = line_hash(line.raw), int(event["seq"]), count + 1, line
    return Verification(count, len(paths), prev or GENESIS, anchored)


def _broken(
    line: Line, count: int, paths: list[Path], prev: str | None, anchored: bool, why: str
) -> Verification:
    where = f"{line.path.name} line {line.number}"
    return Verification(
        count, len(paths), prev or GENESIS, anchored, f"{where} {why}", line.path, line.number
    )


def since(event: Mapping[str, Any], moment: datetime) -> bool:
    """Whether the event happened at or after ``moment`` (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        stamp = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return False
    return stamp >= moment


def utc(seconds: float) -> str:
    """A POSIX time as the log writes times."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


# -- one assignment's events ---------------------------------------------------------------------


class Trace:
    """The events of one assignment: each check is recorded as passed when the next begins, and
    the one under way when it fails as failed; ``note`` adds fields to the final event."""

    def __init__(self, log: AuditLog, context: Mapping[str, Any]) -> None:
        self.log = log
        self.context = dict(context)
        self.notes: dict[str, Any] = {}
        self._check: str | None = None

    def record(self, event: str, **fields: Any) -> None:
        self.log.record(event, **self.context, **fields)

    def stage(self, check: str) -> None:
        if check == self._check:
            return
        self._passed()
        self._check = check

    def note(self, **fields: Any) -> None:
        self.notes.update(fields)

    def released(self, contribution: Mapping[str, Any]) -> None:
        self._passed()
        self.record("released", **describe_release(contribution), **self.notes)

    def refused(self, code: str, message: str, **fields: Any) -> None:
        if self._check is not None:
            self.record("check", check=self._check, outcome="failed", code=code, message=message)
            self._check = None
        self.record("refused", code=code, message=message, **fields, **self.notes)

    def _passed(self) -> None:
        if self._check is not None:
            self.record("check", check=self._check, outcome="passed")
            self._check = None


def received(payload: Mapping[str, Any], assignment: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """An assignment as it arrived, before its signature is checked (so every field is read
    warily): the context every event about it carries, and the fields of its ``assignment``
    event. The filter is kept in its wire form; the parameters and state only as digests."""
    spec = _mapping(payload.get("spec"))
    secure = _mapping(payload.get("secure"))
    context = {
        "assignment": assignment,
        "task": _text(payload.get("task_id")),
        "round": _number(payload.get("round")),
    }
    issued = payload.get("issued_at")
    fields: dict[str, Any] = {
        "addressed_to": _text(payload.get("node")),
        "issued_at": utc(issued) if isinstance(issued, int | float) and _sane(issued) else None,
        "project": _text(spec.get("project")),
        "dataset": _text(spec.get("dataset")),
        "algorithm": _text(spec.get("algorithm")),
        "params_digest": _digest(spec.get("params", {})),
        "state_digest": _digest(payload.get("state", {})),
        "filter": _filter(spec.get("where")),
        "held": spec.get("held") is True,
        "private": _mapping(payload.get("state")).get("private") is True,
    }
    if secure:
        participants = secure.get("participants")
        fields["secure"] = {
            "phase": _text(secure.get("phase")),
            "attempt": _number(secure.get("attempt")),
            "participants": [
                _text(_mapping(p).get("node"))
                for p in (participants if isinstance(participants, list) else [])
            ],
        }
    return context, fields


def describe_release(contribution: Mapping[str, Any]) -> dict[str, Any]:
    """What left, without a value: the parts' names, kinds and shapes (and how many cells the gate
    suppressed), the meta's names, the disclosure report and the budget."""
    parts = [
        {
            "name": str(name),
            "kind": str(part.get("kind")),
            "shape": list(part.get("shape", [])),
            "suppressed": sum(1 for s in part.get("suppressed", []) if s),
        }
        for name, part in sorted(_mapping(contribution.get("parts")).items())
    ]
    layout = contribution.get("layout") or []
    masked = [
        {"name": str(item.get("name")), "kind": str(item.get("kind")), "shape": item.get("shape")}
        for item in layout
    ]
    return {
        "parts": parts or masked,
        "masked": contribution.get("masked") is not None,
        "self_seed": contribution.get("self_seed") is not None,
        "meta": sorted(str(k) for k in _mapping(contribution.get("meta"))),
        "report": list(contribution.get("report", [])),
        "budget": contribution.get("budget"),
    }


MAX_FILTER_BYTES = 16 * 1024


def _filter(where: Any) -> Any:
    """The filter's wire form, or its digest if it is too long to keep in a line."""
    if where is None or len(json.dumps(where)) <= MAX_FILTER_BYTES:
        return where
    return {"digest": _digest(where), "truncated": True}


def _digest(value: Any) -> str | None:
    try:
        return hashlib.sha256(canonical_json(value)).hexdigest()
    except (TypeError, ValueError):
        return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _sane(seconds: float) -> bool:
    return 0 <= seconds < 1e11


def summary(event: Mapping[str, Any]) -> str:
    """One event in a few words, for a table."""
    kind = event.get("event")
    if kind == "assignment":
        secure = _mapping(event.get("secure"))
        where = event.get("filter")
        return (
            f"{event.get('project')} asks {event.get('algorithm')} on {event.get('dataset')}"
            + ("" if where is None else f" where {json.dumps(where)}")
            + (
                f" (secure {secure.get('phase')}, attempt {secure.get('attempt')})"
                if secure
                else ""
            )
        )
    if kind == "check":
        if event.get("outcome") == "passed":
            return f"{event.get('check')} passed"
        return f"{event.get('check')} FAILED {event.get('code')}: {event.get('message')}"
    if kind == "refused":
        return f"refused {event.get('code')}: {event.get('message')}"
    if kind == "released":
        parts = ", ".join(
            f"{p.get('name')} {p.get('kind')} {tuple(p.get('shape') or ())}"
            for p in event.get("parts", [])
            if isinstance(p, Mapping)
        )
        spent = event.get("budget_spent")
        return (
            ("masked " if event.get("masked") else "")
            + ("self-mask seed" if event.get("self_seed") else f"parts: {parts or 'none'}")
            + ("" if spent is None else f"; epsilon {spent:.4g} spent")
        )
    if kind == "catalog":
        names = [str(_mapping(d).get("name")) for d in event.get("datasets", [])]
        return f"published the catalog: {', '.join(names) or 'no dataset'}"
    if kind == "ledger_alarm":
        return f"LEDGER ALARM (head of {event.get('size')} entries): {event.get('problem')}"
    if kind == "ledger_acknowledged":
        return f"ledger alarm acknowledged by the steward: {event.get('comment')}"
    return ""

"""The node console's credential, sessions, throttle, CSRF tokens and address checks."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from causeway.model.errors import InvalidRequest
from causeway.node.console import check_password, has_password, parse_address, set_password
from causeway.node.console.password import PASSWORD_FILE
from causeway.node.console.security import Csrf, Sessions, Throttle

SECRET = "correct horse battery staple"


def test_the_password_file_holds_an_scrypt_hash_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    assert not has_password(tmp_path) and not check_password(tmp_path, SECRET)
    path = set_password(tmp_path, SECRET)
    assert path == tmp_path / PASSWORD_FILE and has_password(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    assert SECRET.encode() not in raw
    record = json.loads(raw)
    assert record["kdf"] == "scrypt" and record["n"] >= 2**14 and len(record["salt"]) >= 20
    assert check_password(tmp_path, SECRET)
    assert not check_password(tmp_path, SECRET + " ")
    assert not check_password(tmp_path, "")
    set_password(tmp_path, SECRET)  # the same password again: a new salt, a new hash
    assert json.loads(path.read_bytes())["salt"] != record["salt"]
    assert check_password(tmp_path, SECRET)
    assert [p.name for p in tmp_path.iterdir()] == [PASSWORD_FILE]  # no partial file left


def test_a_short_password_or_a_damaged_file_lets_nobody_in(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="at least 12"):
        set_password(tmp_path, "short")
    assert not has_password(tmp_path)
    (tmp_path / PASSWORD_FILE).write_text("{not json")
    assert not check_password(tmp_path, SECRET)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_throttle_locks_after_five_failures_in_a_minute_for_a_minute() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    for _ in range(4):
        throttle.failed()
        clock.now += 1
    assert throttle.locked() == 0
    clock.now += 60  # the first four are a minute old: they no longer count
    throttle.failed()
    assert throttle.locked() == 0
    for _ in range(4):
        throttle.failed()
    assert throttle.locked() == pytest.approx(60)
    clock.now += 59
    assert throttle.locked() == pytest.approx(1)
    clock.now += 1
    assert throttle.locked() == 0
    throttle.failed()  # the count started afresh
    assert throttle.locked() == 0


def test_sessions_expire_after_eight_hours_and_close_on_sign_out() -> None:
    clock = Clock()
    sessions = Sessions(clock=clock)
    one, two = sessions.open(), sessions.open()
    assert one != two and len(one) >= 40
    assert sessions.valid(one) and sessions.valid(two) and not sessions.valid("guess")
    sessions.close(one)
    assert not sessions.valid(one) and sessions.valid(two)
    clock.now += 8 * 3600
    assert not sessions.valid(two)


def test_a_csrf_token_belongs_to_one_session_of_one_process() -> None:
    csrf = Csrf()
    token = csrf.token("session-a")
    assert csrf.check("session-a", token)
    assert not csrf.check("session-b", token)
    assert not csrf.check("session-a", None) and not csrf.check(None, token)
    assert not Csrf().check("session-a", token)  # a restarted console issued it


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8450", ("127.0.0.1", 8450)),
        ("[::1]:8450", ("::1", 8450)),
        ("console.north.local:8450", ("console.north.local", 8450)),
        ("10.1.2.3:0", ("10.1.2.3", 0)),
    ],
)
def test_a_console_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["0.0.0.0:8450", "[::]:8450", ":8450", "*:8450"])
def test_a_wildcard_console_address_needs_the_explicit_flag(text: str) -> None:
    with pytest.raises(InvalidRequest, match="every interface"):
        parse_address(text)
    host, port = parse_address(text, any_interface=True)
    assert port == 8450 and host in ("0.0.0.0", "::")


@pytest.mark.parametrize("text", ["8450", "localhost", "::1:8450", "127.0.0.1:99999", "a:b"])
def test_a_malformed_console_address_is_refused(text: str) -> None:
    with pytest.raises(InvalidRequest, match="--console"):
        parse_address(text)

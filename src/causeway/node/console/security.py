"""The console's sessions, sign-in throttle and CSRF tokens, all in this process's memory.

A restart signs everyone out: nothing about a session is written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable

SESSION_SECONDS = 8 * 3600
MAX_FAILURES = 5
FAILURE_WINDOW = 60.0
LOCKOUT_SECONDS = 60.0

Clock = Callable[[], float]


class Sessions:
    """Random session ids, each valid for eight hours from sign-in."""

    def __init__(self, lifetime: float = SESSION_SECONDS, clock: Clock = time.monotonic) -> None:
        self.lifetime = lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}

    def open(self) -> str:
        session = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            # forget expired sessions as new ones come
            for old in [s for s, end in self._expiry.items() if end <= now]:
                del self._expiry[old]
            self._expiry[session] = now + self.lifetime
        return session

    def valid(self, session: str | None) -> bool:
        if not session:
            return False
        with self._lock:
            end = self._expiry.get(session)
            if end is None:
                return False
            if end <= self._clock():
                del self._expiry[session]
                return False
            return True

    def close(self, session: str | None) -> None:
        with self._lock:
            self._expiry.pop(session or "", None)

    def close_all(self) -> None:
        with self._lock:
            self._expiry.clear()


class Throttle:
    """After ``MAX_FAILURES`` failed sign-ins within a minute, refuse every sign-in for a minute.

    One counter for the whole console (it has one credential): whoever guesses, from wherever,
    gets five tries a minute."""

    def __init__(
        self,
        failures: int = MAX_FAILURES,
        window: float = FAILURE_WINDOW,
        lockout: float = LOCKOUT_SECONDS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.failures, self.window, self.lockout = failures, window, lockout
        self._clock = clock
        self._lock = threading.Lock()
        self._failed: deque[float] = deque()
        self._locked_until = 0.0

    def locked(self) -> float:
        """Seconds until sign-in is allowed again (0: allowed now)."""
        with self._lock:
            return max(0.0, self._locked_until - self._clock())

    def failed(self) -> None:
        now = self._clock()
        with self._lock:
            self._failed.append(now)
            while self._failed and self._failed[0] <= now - self.window:
                self._failed.popleft()
            if len(self._failed) >= self.failures:
                self._locked_until = now + self.lockout
                self._failed.clear()

    def succeeded(self) -> None:
        with self._lock:
            self._failed.clear()


class Csrf:
    """A form's token: the HMAC of the session (or sign-in) id under a key made for this process."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def token(self, session: str) -> str:
        return hmac.new(self._key, session.encode(), hashlib.sha256).hexdigest()

    def check(self, session: str | None, token: str | None) -> bool:
        if not session or not token:
            return False
        return hmac.compare_digest(self.token(session), token)

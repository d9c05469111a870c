"""Bounded work for every request: a body size limit, text that is valid Unicode, and throttled
sign-ins. Each refusal is a typed 4xx problem document, never a 500 or a stalled hub.

- A body larger than :data:`MAX_BODY_BYTES` is refused (E113, 413) before it is read whole (a
  securely aggregated round of 100,000 values is about 2.2 MB per node).
- A JSON body whose strings hold a lone surrogate (``"\\ud800"`` is valid JSON but not Unicode, and
  fails when the database stores it) is refused (E100).
- A second process polling with one node's identity (a copied data directory) is refused (E109)
  while the first keeps polling; it names where the live one runs.
- A client that failed to sign in :data:`MAX_FAILURES` times within :data:`WINDOW_SECONDS` is
  refused for the rest of the window (E429), whatever token it sends next; the counter is per hub
  process.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from causeway.hub.errors import answer
from causeway.model.errors import Conflict, InvalidRequest, PayloadTooLarge, Throttled

MAX_BODY_BYTES = 32 * 1024 * 1024
# Requests whose bodies are small by nature get a tighter limit, so an oversized one is refused
# before it is read and parsed (a million quantile probabilities took 1.6 s to refuse otherwise).
# Node answers (masked vectors) and uploaded documents keep the general limit.
SMALL_BODY_BYTES = 1024 * 1024
SMALL_BODIES = ("/api/tasks", "/api/applications", "/api/users", "/api/projects")
MAX_FAILURES = 10
WINDOW_SECONDS = 60.0
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestLimits:
    """ASGI middleware: the body limit and the Unicode check, before any route runs."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(scope, receive, send, PayloadTooLarge(self._too_large(limit)))
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > limit:
                await _refuse(scope, receive, send, PayloadTooLarge(self._too_large(limit)))
                return
            more = bool(message.get("more_body"))
        if _SURROGATE_ESCAPE.search(body) and _lone_surrogate(bytes(body)):
            await _refuse(
                scope,
                receive,
                send,
                InvalidRequest(
                    "the request's text holds a lone surrogate (an escape such as \\ud800 with no "
                    "partner), which is not valid Unicode"
                ),
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def limit_for(self, path: str) -> int:
        """The body limit of a request to ``path``."""
        if path.startswith(SMALL_BODIES) and not path.startswith("/api/documents"):
            return min(self.max_body, SMALL_BODY_BYTES)
        return self.max_body

    @staticmethod
    def _too_large(limit: int) -> str:
        size = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit // 1024} KiB"
        return f"the request is larger than the hub's limit of {size} for it"


def _lone_surrogate(body: bytes) -> bool:
    try:
        data = json.loads(body)
    except ValueError:
        return False  # not JSON: the route's own parsing answers it
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


async def _refuse(scope: Scope, receive: Receive, send: Send, error: Exception) -> None:
    assert isinstance(error, InvalidRequest | Throttled)
    await answer(scope.get("app"), error)(scope, receive, send)


class SignInThrottle:
    """Failed sign-ins per key (a client address; for the web sign-in also the account) in a
    sliding window."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str, what: str = "from this address") -> None:
        """Raise :class:`Throttled` while ``client`` has used up its failures."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(client, now)
            if len(recent) >= self.limit:
                wait = self.window - (now - recent[0])
                raise Throttled(
                    f"too many failed sign-ins {what} ({len(recent)} in "
                    f"{self.window:g}s); try again in {max(wait, 1):.0f}s"
                )

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)
            if len(self._failures) > 10_000:  # forget the quiet ones
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]

    def _recent(self, client: str, now: float) -> deque[float]:
        recent = self._failures.setdefault(client, deque())
        while recent and now - recent[0] > self.window:
            recent.popleft()
        return recent


class NodeInstances:
    """Which process serves each node, by the instance id it polls with (per hub process)."""

    def __init__(self, grace: float = 30.0) -> None:
        self.grace = grace
        self._live: dict[str, tuple[str, str, float]] = {}
        self._lock = threading.Lock()

    def claim(self, node: str, instance: str, where: str, wait: float) -> None:
        """Record ``instance`` as ``node``'s process, unless another one polled within its long
        poll plus a grace period (then :class:`Conflict`, naming where the live one runs)."""
        now = time.monotonic()
        with self._lock:
            live = self._live.get(node)
            if live is not None and live[0] != instance and now - live[2] < self.grace:
                raise Conflict(
                    f"node {node} is already served by another process ({live[1] or 'unknown'}, "
                    f"seen {now - live[2]:.0f}s ago): two processes with one node's identity "
                    "(a copied data directory?) would answer twice; stop one of them"
                )
            self._live[node] = (instance, where, now + max(wait, 0.0))

    def release(self, node: str, instance: str) -> bool:
        """``node``'s process ``instance`` stopped cleanly: another may serve the node at once
        (a restart is not refused as a second process). Only the live instance is released."""
        with self._lock:
            live = self._live.get(node)
            if live is None or live[0] != instance:
                return False
            del self._live[node]
            return True

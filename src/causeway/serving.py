"""Serve an ASGI app under uvicorn from a background thread, on a socket bound before it starts.

The hub (:class:`causeway.hub.server.HubServer`) and the steward's node console
(:class:`causeway.node.console.ConsoleServer`) both run this way: binding first means port 0
picks a free port and a taken address fails at once, in the caller's thread, with a clear error.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Self

import uvicorn

from causeway.model.errors import InvalidRequest, Unavailable


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host`` (an IPv4 or IPv6 address, or a name) and ``port``."""
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise Unavailable(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise Unavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


@dataclass(frozen=True)
class TLS:
    """A server's certificate chain and private key (PEM files): uvicorn serves HTTPS with them."""

    cert: Path
    key: Path

    @classmethod
    def of(cls, cert: Path | None, key: Path | None) -> TLS | None:
        """From the two options, which go together; each file must be readable."""
        if cert is None and key is None:
            return None
        if cert is None or key is None:
            raise InvalidRequest("TLS needs both --tls-cert and --tls-key")
        for path in (cert, key):
            if not path.is_file():
                raise InvalidRequest(f"no such file: {path}")
        return cls(cert, key)


def tls_options(tls: TLS | None) -> dict[str, Any]:
    if tls is None:
        return {}
    return {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)}


class Server(uvicorn.Server):
    """uvicorn's server, calling ``on_exit`` as soon as it starts to stop: before it waits for
    the requests in flight, so the app can release its long polls (which would otherwise hold
    the shutdown for as long as they wait)."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._on_exit is not None:
            self._on_exit()  # in the server's loop, where long polls wait: no lock to contend
        await super().shutdown(sockets)


def run_in_foreground(server: uvicorn.Server) -> None:
    """Serve until SIGTERM or SIGINT (Ctrl-C), then return normally (exit status 0).

    uvicorn takes both signals while it serves and, once stopped, raises the one it caught
    again for the handler that was there before: here, one that only asks the server to stop
    (which also covers a signal that arrives before uvicorn has taken over)."""

    def stop(_signal: int, _frame: FrameType | None) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class ThreadedServer:
    """``app`` on a socket bound now (port 0 picks a free port), served from a daemon thread."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        name: str,
        what: str,
        tls: TLS | None = None,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self.name, self.what = name, what
        self.tls = tls
        self._socket = bind(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", access_log=False, **tls_options(tls))
        self._server = Server(config, on_exit)
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def _serve(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self, timeout: float = 30.0) -> Self:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise Unavailable(f"{self.what} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()

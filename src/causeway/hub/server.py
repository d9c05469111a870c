"""Run the hub's app under uvicorn, in the foreground (``causeway hub serve``) or in a thread."""

from __future__ import annotations

import uvicorn

from causeway.hub.app import HubState, create_app
from causeway.serving import TLS, ThreadedServer, tls_options


class HubServer(ThreadedServer):
    """The hub on a socket bound now (port 0 picks a free port), served from a background thread
    (over HTTPS with ``tls``)."""

    def __init__(
        self, state: HubState, host: str = "127.0.0.1", port: int = 0, *, tls: TLS | None = None
    ) -> None:
        self.state = state
        super().__init__(
            create_app(state), host, port, name="causeway-hub", what="the hub", tls=tls
        )


def serve_forever(state: HubState, host: str, port: int, tls: TLS | None = None) -> None:
    """Serve in the foreground until interrupted (over HTTPS with ``tls``)."""
    uvicorn.run(create_app(state), host=host, port=port, log_level="info", **tls_options(tls))

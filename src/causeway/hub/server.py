"""Run the hub's app under uvicorn, in the foreground (``causeway hub serve``) or in a thread."""

from __future__ import annotations

import uvicorn

from causeway.hub.app import HubState, create_app
from causeway.serving import TLS, Server, ThreadedServer, run_in_foreground, tls_options


class HubServer(ThreadedServer):
    """The hub on a socket bound now (port 0 picks a free port), served from a background thread
    (over HTTPS with ``tls``)."""

    def __init__(
        self, state: HubState, host: str = "127.0.0.1", port: int = 0, *, tls: TLS | None = None
    ) -> None:
        self.state = state
        super().__init__(
            create_app(state),
            host,
            port,
            name="causeway-hub",
            what="the hub",
            tls=tls,
            on_exit=state.close,  # long polls in flight answer at once: stopping waits for none
        )


def serve_forever(state: HubState, host: str, port: int, tls: TLS | None = None) -> None:
    """Serve in the foreground until SIGTERM or Ctrl-C (over HTTPS with ``tls``). Stopping
    releases the long polls in flight at once (they answer "nothing yet"), so the hub exits
    without waiting for them; other requests in flight are finished first."""
    config = uvicorn.Config(
        create_app(state), host=host, port=port, log_level="info", **tls_options(tls)
    )
    run_in_foreground(Server(config, on_exit=state.close))

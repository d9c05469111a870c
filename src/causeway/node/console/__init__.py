"""The steward's console: a small web page the node serves inside the hospital, never through the
hub. The steward signs in with a local password, sees the projects touching this node with their
reviews, approves, suspends or revokes, sees every task that ran on the node's data and what left,
and the privacy budget spent. Started by ``causeway node serve --console HOST:PORT``."""

from __future__ import annotations

import contextlib
import ipaddress

from fastapi import FastAPI

from causeway.model.errors import InvalidRequest
from causeway.node.console.app import create_console
from causeway.node.console.password import (
    PASSWORD_FILE,
    check_password,
    has_password,
    set_password,
)
from causeway.serving import ThreadedServer

__all__ = [
    "PASSWORD_FILE",
    "ConsoleServer",
    "check_password",
    "create_console",
    "has_password",
    "parse_address",
    "set_password",
]


class ConsoleServer(ThreadedServer):
    """The console on a socket bound now, served from a daemon thread of the node's process."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(app, host, port, name="causeway-console", what="the node console")


def parse_address(text: str, *, any_interface: bool = False) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for an IPv6 address) as a host and port. A wildcard host
    (every interface) is refused unless ``any_interface``: the console belongs inside the
    hospital, on the one interface its steward chose."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit():
        raise InvalidRequest(
            f"--console {text!r}: give HOST:PORT, e.g. 127.0.0.1:8450 (or [::1]:8450)"
        )
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise InvalidRequest(f"--console {text!r}: the port must be between 0 and 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise InvalidRequest(f"--console {text!r}: write an IPv6 address in brackets, [::1]:8450")
    wildcard = host in ("", "*")
    with contextlib.suppress(ValueError):  # a host name is the steward's choice
        wildcard = wildcard or ipaddress.ip_address(host).is_unspecified
    if wildcard:
        if not any_interface:
            raise InvalidRequest(
                f"--console {text!r} would listen on every interface of this machine, and the "
                "console must stay inside the hospital: give the address of the interface "
                "stewards use (e.g. 127.0.0.1:8450), or add --console-any-interface if a "
                "firewall already keeps that port inside the hospital"
            )
        host = host if host not in ("", "*") else "0.0.0.0"
    return host, port

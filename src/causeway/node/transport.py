"""The node's only connection: outbound HTTPS to the hub, every request signed with the node's key."""

from __future__ import annotations

import ssl
from collections.abc import Generator
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from causeway.crypto.requests import sign_request
from causeway.model.errors import InvalidRequest
from causeway.node.config import NodeConfig
from causeway.problems import request_json


def verification(ca_bundle: str | None) -> ssl.SSLContext | bool:
    """How the hub's certificate is checked: against ``ca_bundle`` if given (refused at once if it
    cannot be read), else the system's authorities (and ``SSL_CERT_FILE`` if set)."""
    if ca_bundle is None:
        return True
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidRequest(f"cannot use the CA bundle {ca_bundle}: {exc}") from None


class NodeAuth(httpx.Auth):
    requires_request_body = True

    def __init__(self, name: str, key: Ed25519PrivateKey) -> None:
        self._name = name
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        target = request.url.raw_path.decode("ascii")
        signed = sign_request(self._key, self._name, request.method, target, request.content)
        request.headers.update(signed.as_dict())
        yield request


class HubConnection:
    """Outbound HTTP(S) to the hub. The hub's certificate is checked against the system's
    authorities, or against ``ca_bundle`` (a PEM file: a hospital's or the hub's own CA); a
    hospital's proxy is taken from the standard variables (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``NO_PROXY``)."""

    def __init__(
        self,
        hub_url: str,
        name: str,
        key: Ed25519PrivateKey,
        timeout: float = 60.0,
        *,
        transport: httpx.BaseTransport | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=hub_url,
            auth=NodeAuth(name, key),
            timeout=timeout,
            transport=transport,
            verify=verification(ca_bundle),
        )

    @classmethod
    def of(cls, config: NodeConfig, key: Ed25519PrivateKey) -> HubConnection:
        """The connection a node's configuration describes."""
        return cls(config.hub_url, config.name, key, ca_bundle=config.ca_bundle)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return request_json(self._http, method, path, **kwargs)

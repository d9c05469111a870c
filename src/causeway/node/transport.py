"""The node's only connection: outbound HTTPS to the hub, every request signed with the node's key."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from causeway.crypto.requests import sign_request
from causeway.problems import request_json


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
    def __init__(
        self,
        hub_url: str,
        name: str,
        key: Ed25519PrivateKey,
        timeout: float = 60.0,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=hub_url, auth=NodeAuth(name, key), timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return request_json(self._http, method, path, **kwargs)

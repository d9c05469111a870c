"""Administration over the hub's API: users, node enrolment, projects (used by the CLI and
LocalFederation)."""

from __future__ import annotations

from typing import Any

import httpx

from causeway.problems import request_json


class AdminClient:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def add_user(self, name: str, role: str, organisation: str | None = None) -> str:
        """Create a user and return its token (the hub keeps only a hash of it)."""
        out = self._request(
            "POST", "/api/users", json={"name": name, "role": role, "organisation": organisation}
        )
        return str(out["token"])

    def enrol_node(self, name: str, organisation: str, public_key: str) -> str:
        """Enrol a node's public key; returns the hub's public key for the node to pin."""
        out = self._request(
            "POST",
            "/api/nodes",
            json={"name": name, "organisation": organisation, "public_key": public_key},
        )
        return str(out["hub_public_key"])

    def add_project(
        self, name: str, datasets: list[str], members: list[str], sites: list[str]
    ) -> dict[str, Any]:
        """An approved project over ``datasets`` at the nodes ``sites``, for ``members``."""
        body = {"name": name, "datasets": datasets, "members": members, "sites": sites}
        return dict(self._request("POST", "/api/projects", json=body))

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return request_json(self._http, method, path, **kwargs)

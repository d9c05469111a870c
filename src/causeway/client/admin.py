"""Administration over the hub's API: users and their tokens, organisations, nodes (enrol, new
key, retire), projects and their members (used by the CLI and LocalFederation)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from causeway.problems import request_json


@dataclass(frozen=True)
class UserInfo:
    name: str
    role: str
    organisation: str | None
    committee: str | None
    senior: bool
    status: str  # active, suspended or deleted
    created_at: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UserInfo:
        return cls(
            name=str(data["name"]),
            role=str(data["role"]),
            organisation=data.get("organisation"),
            committee=data.get("committee"),
            senior=bool(data.get("senior", False)),
            status=str(data.get("status", "active")),
            created_at=data.get("created_at"),
        )


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never its secret (``secret`` is set only on the answer that issued it)."""

    id: int
    user: str
    prefix: str
    label: str
    state: str  # active, expired or revoked
    created_at: str | None
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None
    secret: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenInfo:
        return cls(
            id=int(data["id"]),
            user=str(data["user"]),
            prefix=str(data["prefix"]),
            label=str(data.get("label", "")),
            state=str(data["state"]),
            created_at=data.get("created_at"),
            expires_at=data.get("expires_at"),
            last_used_at=data.get("last_used_at"),
            revoked_at=data.get("revoked_at"),
            secret=data.get("token"),
        )


@dataclass(frozen=True)
class NodeInfo:
    name: str
    organisation: str
    status: str  # active or retired
    public_key: str
    enrolled_at: str | None
    key_changed_at: str | None
    retired_at: str | None
    last_seen: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeInfo:
        return cls(
            **{
                k: data.get(k) for k in ("enrolled_at", "key_changed_at", "retired_at", "last_seen")
            },
            name=str(data["name"]),
            organisation=str(data["organisation"]),
            status=str(data["status"]),
            public_key=str(data["public_key"]),
        )


class AdminClient:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | str | bool = True,
    ) -> None:
        """``verify``: how the hub's certificate is checked (a CA bundle's path, an SSL context,
        True for the system's authorities and ``SSL_CERT_FILE``)."""
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
            verify=verify,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- users ---------------------------------------------------------------------------------

    def me(self) -> UserInfo:
        return UserInfo.from_json(self._request("GET", "/api/me"))

    def add_user(
        self,
        name: str,
        role: str,
        organisation: str | None = None,
        *,
        committee: str | None = None,
        senior: bool = False,
    ) -> str:
        """Create a user and return its token (the hub keeps only a hash of it)."""
        body = {
            "name": name,
            "role": role,
            "organisation": organisation,
            "committee": committee,
            "senior": senior,
        }
        return str(self._request("POST", "/api/users", json=body)["token"])

    def users(self, *, deleted: bool = False) -> list[UserInfo]:
        out = self._request("GET", "/api/users", params={"deleted": str(deleted).lower()})
        return [UserInfo.from_json(u) for u in out]

    def suspend_user(self, name: str) -> UserInfo:
        """Refuse every token of the user at once (until reinstated)."""
        return UserInfo.from_json(self._request("POST", f"/api/users/{_q(name)}/suspend"))

    def reinstate_user(self, name: str) -> UserInfo:
        return UserInfo.from_json(self._request("POST", f"/api/users/{_q(name)}/reinstate"))

    def delete_user(self, name: str) -> UserInfo:
        """Delete the user: every token revoked, gone from every project; the name stays taken."""
        return UserInfo.from_json(self._request("DELETE", f"/api/users/{_q(name)}"))

    def organisations(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/api/organisations"))

    # -- tokens --------------------------------------------------------------------------------

    def tokens(self, user: str) -> list[TokenInfo]:
        """A user's tokens (your own, or anyone's for an admin), never their secrets."""
        return [
            TokenInfo.from_json(t) for t in self._request("GET", f"/api/users/{_q(user)}/tokens")
        ]

    def issue_token(
        self, user: str, *, label: str = "", expires_in_days: float | None = 90.0
    ) -> TokenInfo:
        """A new token for ``user``; its ``secret`` is shown this once (None: never expires)."""
        body = {"label": label, "expires_in_days": expires_in_days}
        return TokenInfo.from_json(
            self._request("POST", f"/api/users/{_q(user)}/tokens", json=body)
        )

    def revoke_token(self, token_id: int) -> TokenInfo:
        return TokenInfo.from_json(self._request("DELETE", f"/api/tokens/{token_id}"))

    # -- nodes ---------------------------------------------------------------------------------

    def enrol_node(self, name: str, organisation: str, public_key: str) -> str:
        """Enrol a node's public key; returns the hub's public key for the node to pin."""
        out = self._request(
            "POST",
            "/api/nodes",
            json={"name": name, "organisation": organisation, "public_key": public_key},
        )
        return str(out["hub_public_key"])

    def nodes(self) -> list[NodeInfo]:
        return [NodeInfo.from_json(n) for n in self._request("GET", "/api/nodes")]

    def change_node_key(self, name: str, public_key: str) -> str:
        """Give the node a new signing key (re-enrols a retired one); returns the hub's key."""
        out = self._request("PUT", f"/api/nodes/{_q(name)}/key", json={"public_key": public_key})
        return str(out["hub_public_key"])

    def retire_node(self, name: str) -> NodeInfo:
        return NodeInfo.from_json(self._request("POST", f"/api/nodes/{_q(name)}/retire"))

    # -- projects ------------------------------------------------------------------------------

    def add_project(
        self, name: str, datasets: list[str], members: list[str], sites: list[str]
    ) -> dict[str, Any]:
        """An approved project over ``datasets`` at the nodes ``sites``, for ``members``."""
        body = {"name": name, "datasets": datasets, "members": members, "sites": sites}
        return dict(self._request("POST", "/api/projects", json=body))

    def decide_project(self, project: str, decision: str, comment: str) -> dict[str, Any]:
        """Suspend or revoke (for good) a project, its tasks refused at once; ``approve`` lifts
        your suspension. Returns the project."""
        body = {"decision": decision, "comment": comment}
        return dict(self._request("POST", f"/api/projects/{_q(project)}/decisions", json=body))

    def change_members(
        self, project: str, *, add: list[str] | None = None, remove: list[str] | None = None
    ) -> list[str]:
        """Add and remove members of a project; returns the members after the change."""
        body = {"add": add or [], "remove": remove or []}
        out = self._request("POST", f"/api/projects/{_q(project)}/members", json=body)
        return [str(m) for m in out["members"]]

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return request_json(self._http, method, path, **kwargs)


def _q(segment: str) -> str:
    """A name as one path segment (a name with a slash stays one name)."""
    return quote(segment, safe="")

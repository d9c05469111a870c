"""Problem responses (RFC 9457) back into Causeway exceptions, for every HTTP caller of the hub."""

from __future__ import annotations

from typing import Any

import httpx

from causeway.model.errors import CausewayError, Unavailable, error_for_code


def raise_problem(response: httpx.Response) -> None:
    """Raise the Causeway exception a problem response describes."""
    try:
        body = response.json()
        code, detail = str(body["code"]), str(body["detail"])
    except (ValueError, KeyError, TypeError):
        raise CausewayError(f"HTTP {response.status_code}: {response.text[:200]}") from None
    raise error_for_code(code)(detail)


def request_json(http: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    """One call to the hub: its JSON body, or the Causeway exception its problem response names."""
    try:
        response = http.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            raise Unavailable(
                f"the hub at {http.base_url} shows a certificate this machine does not trust "
                f"({exc}): give its authority's PEM file (a node: 'causeway node enrol "
                "--ca-bundle FILE'; the CLI and Python client: SSL_CERT_FILE=FILE)"
            ) from None
        raise Unavailable(f"cannot reach the hub at {http.base_url}: {exc}") from None
    if response.status_code >= 400:
        raise_problem(response)
    return response.json()

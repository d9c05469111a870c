"""Problem responses (RFC 9457) back into Causeway exceptions, for every HTTP caller of the hub."""

from __future__ import annotations

import httpx

from causeway.model.errors import CausewayError, error_for_code


def raise_problem(response: httpx.Response) -> None:
    """Raise the Causeway exception a problem response describes."""
    try:
        body = response.json()
        code, detail = str(body["code"]), str(body["detail"])
    except (ValueError, KeyError, TypeError):
        raise CausewayError(f"HTTP {response.status_code}: {response.text[:200]}") from None
    raise error_for_code(code)(detail)

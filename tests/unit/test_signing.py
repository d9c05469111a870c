from __future__ import annotations

import time

import pytest

from causeway.crypto.keys import generate_key
from causeway.crypto.requests import sign_request, verify_request
from causeway.model.errors import ReplayError, SignatureError


def test_a_signed_request_verifies() -> None:
    key = generate_key()
    signed = sign_request(key, "north", "POST", "/api/x?a=1", b'{"a":1}')
    verify_request(key.public_key(), signed, "POST", "/api/x?a=1", b'{"a":1}')


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("GET", "/api/x?a=1", b'{"a":1}'),
        ("POST", "/api/y?a=1", b'{"a":1}'),
        ("POST", "/api/x?a=1", b'{"a":2}'),
    ],
    ids=["method", "path", "body"],
)
def test_any_change_breaks_the_signature(method: str, target: str, body: bytes) -> None:
    key = generate_key()
    signed = sign_request(key, "north", "POST", "/api/x?a=1", b'{"a":1}')
    with pytest.raises(SignatureError):
        verify_request(key.public_key(), signed, method, target, body)


def test_another_key_is_refused() -> None:
    signed = sign_request(generate_key(), "north", "GET", "/", b"")
    with pytest.raises(SignatureError):
        verify_request(generate_key().public_key(), signed, "GET", "/", b"")


def test_an_old_request_is_refused() -> None:
    key = generate_key()
    signed = sign_request(key, "north", "GET", "/", b"")
    with pytest.raises(ReplayError):
        verify_request(key.public_key(), signed, "GET", "/", b"", now=time.time() + 3600)

"""Named choices (roles, levels, families, decisions) parsed from text with one clear error."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from causeway.model.errors import InvalidRequest

C = TypeVar("C", bound=StrEnum)


def parse_choice(kind: type[C], text: object, what: str, *, prefix: str = "") -> C:
    """The member of ``kind`` whose value is ``text``, or an InvalidRequest listing the valid
    ones (``what`` names the thing, e.g. "role"; ``prefix`` starts the message, e.g. "glm: ")."""
    try:
        return kind(str(text))
    except ValueError:
        valid = ", ".join(member.value for member in kind)
        raise InvalidRequest(f"{prefix}unknown {what} {text!r}; use one of {valid}") from None

"""The file formats figures are written in, by the file's suffix (no matplotlib needed)."""

from __future__ import annotations

from pathlib import Path

from causeway.model.errors import InvalidRequest

FORMATS: dict[str, str] = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def format_of(path: Path | str) -> str:
    """``png``, ``svg`` or ``pdf`` from the path's suffix (any case); refused otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(FORMATS)
        raise InvalidRequest(
            f"a figure is written as {known} (by the file's suffix), not {str(path)!r}"
        )
    return FORMATS[suffix]

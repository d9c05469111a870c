"""The docs' Python examples run as written (a tutorial that fails is worse than none)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs" / "tutorials").glob("*.md"))]


def python_blocks(path: Path) -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL))


@pytest.mark.parametrize("path", DOCUMENTS, ids=[p.name for p in DOCUMENTS])
def test_python_examples_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the files an example writes (figures) land here
    code = python_blocks(path)
    assert code, f"{path.name} has no python example"
    namespace: dict[str, object] = {"__name__": "docs_example"}
    try:
        exec(compile(code, str(path), "exec"), namespace)
    finally:
        federation = namespace.get("fed")
        stop = getattr(federation, "stop", None)
        if callable(stop):
            stop()

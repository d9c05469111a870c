"""``spliced``: the canonical bytes of one template with one key's value varied equal the bytes of
each whole value (a round's assignments, serialised once)."""

from __future__ import annotations

from typing import Any

import pytest

from causeway.model.canonical import canonical_json, jcs, spliced

NAMES = ["north", 'we"ird\\', "zürich", "\u2028line", "", "a\u0000b", "\U0001f600"]
TEMPLATE: dict[str, Any] = {
    "task_id": "t",
    "round": 2,
    "node": "",
    "issued_at": 1764500000.123456,
    "state": {"beta": [0.1, -2.5e-07, 1e21], "note": "node"},
    "terms": {"sites": ["north", "south"], "accepted": [["cohort", "north", "ab" * 32]]},
}


@pytest.mark.parametrize("form", [canonical_json, jcs])
def test_each_spliced_form_equals_the_whole_form(form: Any) -> None:
    out = spliced(TEMPLATE, "node", NAMES, form)
    assert out == [form({**TEMPLATE, "node": name}) for name in NAMES]
    assert len(set(out)) == len(NAMES)


def test_a_template_that_already_holds_the_mark_is_serialised_whole() -> None:
    mark = "\u0000causeway:value\u0000"
    template = {**TEMPLATE, "state": {"said": mark}}
    out = spliced(template, "node", ["north", "south"], jcs)
    assert out == [jcs({**template, "node": name}) for name in ("north", "south")]

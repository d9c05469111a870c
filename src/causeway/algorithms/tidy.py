"""Reading results: one tidy vocabulary for every result, and its text, HTML and JSON forms.

Every result's ``to_frame()`` is a tidy :class:`pandas.DataFrame` (one row per estimate, term or
cell) whose columns, where they apply, carry the names R's broom uses everywhere (with ``_`` for
``.``): ``term``, ``estimate``, ``std_error``, ``statistic``, ``df``, ``p_value``, ``conf_low``,
``conf_high``, and ``n`` for counts. A result's ``summary()`` prints that frame between a heading
and the result's conventions (how p-values and intervals were made); ``_repr_html_`` shows the
same in Jupyter, escaped; ``document`` is the machine-readable form the CLI's ``--json`` prints.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CONF_HIGH",
    "CONF_LOW",
    "DF",
    "ESTIMATE",
    "P_VALUE",
    "STATISTIC",
    "STD_ERROR",
    "TERM",
    "VOCABULARY",
    "cell_text",
    "frame_html",
    "frame_text",
    "json_value",
    "records",
]

TERM = "term"
ESTIMATE = "estimate"
STD_ERROR = "std_error"
STATISTIC = "statistic"
DF = "df"
P_VALUE = "p_value"
CONF_LOW = "conf_low"
CONF_HIGH = "conf_high"
VOCABULARY = (TERM, ESTIMATE, STD_ERROR, STATISTIC, DF, P_VALUE, CONF_LOW, CONF_HIGH)
MISSING = "NA"  # how text and HTML show a value that is missing or suppressed
MAX_ROWS = 60  # the most rows the HTML form shows in full


def cell_text(value: Any) -> str:
    """One value as text and HTML show it: floats to 6 significant digits, missing as NA."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    return str(value)


def frame_text(frame: pd.DataFrame) -> str:
    """The frame as aligned text, without its index."""
    if frame.empty:
        return "(no rows)"
    shown = frame.astype(object).map(cell_text)
    return shown.to_string(index=False)


def frame_html(
    title: str, frame: pd.DataFrame, footer: Sequence[str] = (), *, max_rows: int = MAX_ROWS
) -> str:
    """The frame as an HTML table under ``title`` with ``footer`` lines below, every text
    escaped (a level named ``<script>`` shows as text). A frame longer than ``max_rows`` shows
    its first and last rows around a row of ``…``, as pandas does."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)

    def rows(part: pd.DataFrame) -> str:
        return "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell_text(v))}</td>" for v in row) + "</tr>"
            for row in part.itertuples(index=False)
        )

    if len(frame) > max_rows:
        half = max_rows // 2
        gap = "<tr>" + "<td>…</td>" * len(frame.columns) + "</tr>"
        body = rows(frame.head(half)) + gap + rows(frame.tail(half))
        footer = (*footer, f"{len(frame)} rows (to_frame() has every one)")
    else:
        body = rows(frame)
    notes = "".join(f"<p><small>{html.escape(line)}</small></p>" for line in footer)
    caption = "".join(f"<strong>{html.escape(line)}</strong><br>" for line in title.splitlines())
    return (
        f'<div class="causeway-result"><p>{caption}</p>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}</div>"
    )


def json_value(value: Any) -> Any:
    """A cell as JSON holds it: numbers as numbers, ``null`` where missing, suppressed or not
    finite (JSON has no NaN or infinity)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as JSON-ready records (column name to value)."""
    columns = [str(c) for c in frame.columns]
    return [
        {c: json_value(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False)
    ]

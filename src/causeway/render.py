"""DataFrames as Rich tables, for the CLI and the demo."""

from __future__ import annotations

import pandas as pd
from rich.table import Table


def frame_table(title: str, frame: pd.DataFrame, *, index: bool = False) -> Table:
    if index:
        frame = frame.rename_axis(str(frame.index.name or "term")).reset_index()
    table = Table(title=title, title_justify="left")
    for name in frame.columns:
        table.add_column(str(name), justify="left" if frame[name].dtype == object else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row))
    return table

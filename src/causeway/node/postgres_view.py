"""The rows of a warehouse dataset as an algorithm reads them (a :class:`DataView` over PostgreSQL).

See :mod:`causeway.node.warehouse` for the source, its registration and its checks.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pandas as pd

from causeway.model.data import Moments
from causeway.model.dictionary import ColumnType, Dictionary, level_text
from causeway.model.errors import DataError
from causeway.model.release import Summands
from causeway.node.columns import from_arrow, magnitudes_sql, summands_of
from causeway.node.warehouse import WarehouseSource, as_arrow, connect, typed_rows, validate
from causeway.query import Node, SQLCondition, compile_condition, quote

__all__ = ["PostgresView"]


class PostgresView:
    """A :class:`~causeway.model.data.DataView` over a dataset in the hospital's PostgreSQL.

    Counts and groups run there as SQL; ``row_ids``, ``moments`` and ``frame`` pull the columns
    they need (moments are summed as the DuckDB store sums them, to the same bits). Every
    answer is kept in ``cache`` (the task's), so a later round of the task reads nothing again
    (a handful of reads per task), and each read first validates the table against the node's
    dictionary in the same snapshot."""

    def __init__(
        self,
        source: WarehouseSource,
        name: str,
        own: Dictionary,
        dictionary: Dictionary,
        where: Node | None,
        *,
        empty: bool = False,
        cache: MutableMapping[str, Any] | None = None,
        design_budget: int = 1 << 30,
    ) -> None:
        self._source = source
        self._design_budget = design_budget
        self._name = name
        self._own = own
        self._dictionary = dictionary
        self._cond = (
            SQLCondition("FALSE", ()) if empty else compile_condition(where, paramstyle="format")
        )
        task = cache if cache is not None else {}
        # one memo per dataset and filter in the task's cache (the empty view has its own)
        key = f"warehouse:{name}:{self._cond.sql}:{self._cond.params!r}"
        self._memo: dict[Any, Any] = task.setdefault(key, {})
        self._from = typed_rows(source, own)

    @property
    def dictionary(self) -> Dictionary:
        return self._dictionary

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with connect(self._source) as conn:
            # in the read's own snapshot: a row that changes between two reads of a task is
            # checked by the read that sees it, so nothing unchecked flows into the analysis
            validate(conn, self._source, self._own)
            with conn.cursor(binary=True) as cursor:
                cursor.execute(sql, list(params))
                return cursor.fetchall()

    def _where(self, extra: str = "") -> str:
        return f"FROM {self._from} WHERE {self._cond.sql}{extra}"

    def count(self) -> int:
        if "count" not in self._memo:
            rows = self._fetch(f"SELECT count(*) {self._where()}", self._cond.params)
            self._memo["count"] = int(rows[0][0])
        return int(self._memo["count"])

    def row_id_batches(self) -> Iterator[npt.NDArray[np.int64]]:
        yield self.row_ids()

    def row_ids(self) -> npt.NDArray[np.int64]:
        if "row_ids" not in self._memo:
            key = quote(self._source.key_column)
            rows = self._fetch(f"SELECT {key} {self._where()}", self._cond.params)
            self._memo["row_ids"] = np.fromiter((r[0] for r in rows), dtype=np.int64)
        ids: npt.NDArray[np.int64] = self._memo["row_ids"].copy()
        return ids

    def labelled(
        self, columns: Sequence[str]
    ) -> Iterator[tuple[npt.NDArray[np.int64], pd.DataFrame]]:
        # the frame is pulled in key order (once per task), and the row ids are the keys
        yield np.sort(self.row_ids()), self.frame(columns)

    def group_counts(self, columns: Sequence[str]) -> pd.Series[int]:
        memo = ("groups", tuple(columns))
        if memo not in self._memo:
            cols = ", ".join(quote(c) for c in columns)
            not_null = "".join(f" AND {quote(c)} IS NOT NULL" for c in columns)
            self._memo[memo] = self._fetch(
                f"SELECT {cols}, count(*) {self._where(not_null)} GROUP BY {cols} ORDER BY {cols}",
                self._cond.params,
            )
        rows = self._memo[memo]
        keys = [tuple(level_text(v) for v in row[:-1]) for row in rows]
        counts = [int(row[-1]) for row in rows]
        if len(columns) == 1:
            return pd.Series(counts, index=pd.Index([k[0] for k in keys]), dtype="int64")
        index = (
            pd.MultiIndex.from_tuples(keys, names=list(columns))
            if keys
            else pd.MultiIndex(
                levels=[[]] * len(columns), codes=[[]] * len(columns), names=list(columns)
            )
        )
        return pd.Series(counts, index=index, dtype="int64")

    def moments(self, column: str, center: float) -> Moments:
        # Summed by DuckDB's compensated fsum over the pulled column, in key order: a dataset
        # gives the same bits here as in the node's DuckDB (PostgreSQL's float sum is plain, so
        # it could differ in the last place, and lose more on very large tables).
        c = quote(column)
        local = duckdb.connect(":memory:")
        try:
            local.register("pulled", self._pulled((column,)))
            row = local.execute(
                f"SELECT count({c}), fsum({c} - ?), fsum(({c} - ?) * ({c} - ?)) FROM pulled "
                f"WHERE {c} IS NOT NULL",
                [center, center, center],
            ).fetchone()
        finally:
            local.close()
        if row is None or not row[0]:
            return Moments(0, 0.0, 0.0)
        return Moments(int(row[0]), float(row[1]), float(row[2]))

    def magnitudes(self, column: str, keep: int = 3) -> Summands:
        local = duckdb.connect(":memory:")
        try:
            local.register("pulled", self._pulled((column,)))
            row = local.execute(magnitudes_sql(column, "pulled", "TRUE", keep)).fetchall()[0]
        finally:
            local.close()
        return summands_of(row)

    def _pulled(self, columns: Sequence[str]) -> Any:
        """The filtered rows of ``columns`` as an Arrow table in the dictionary's types, in key
        order (one order at every task and round), pulled once per task."""
        memo = ("pulled", tuple(columns))
        if memo not in self._memo:
            wanted = [self._own.get(c) for c in columns]
            missing = [c for c, w in zip(columns, wanted, strict=True) if w is None]
            if missing:
                raise DataError(f"columns not in the dictionary: {', '.join(missing)}")
            cols = ", ".join(quote(c) for c in columns)
            key = quote(self._source.key_column)
            rows = self._fetch(f"SELECT {cols} {self._where()} ORDER BY {key}", self._cond.params)
            self._memo[memo] = as_arrow(rows, [c for c in wanted if c is not None])
        return self._memo[memo]

    def frame(self, columns: Sequence[str]) -> pd.DataFrame:
        local = duckdb.connect(":memory:")
        try:
            frame: pd.DataFrame = local.from_arrow(self._pulled(columns)).df()
        finally:
            local.close()
        for name in columns:
            column = self._dictionary.get(name)
            if column is not None and column.type is ColumnType.CATEGORICAL:
                frame[name] = pd.Categorical(frame[name], categories=list(column.levels or ()))
        return frame

    def complete_floats(self, columns: Sequence[str | None]) -> npt.NDArray[np.float64]:
        names = [c for c in dict.fromkeys(columns) if c is not None]
        return from_arrow(self._pulled(names), columns)

    @property
    def design_budget(self) -> int:
        return self._design_budget

    def float_chunks(
        self, columns: Sequence[str | None], rows: int
    ) -> Iterator[npt.NDArray[np.float64]]:
        # the rows pulled once per task (held as Arrow): converted a slice at a time
        names = [c for c in dict.fromkeys(columns) if c is not None]
        table = self._pulled(names)
        for start in range(0, table.num_rows, rows):
            yield from_arrow(table.slice(start, rows), columns)

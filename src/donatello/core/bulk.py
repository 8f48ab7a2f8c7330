"""Multi-row INSERT statements built once per shape (model, columns, row count) with named parameters.

SQLAlchemy compiles a statement once per structure and caches it — unless the statement carries its
values as literals (``insert(...).values([{...}, ...])``), which it compiles again on every execution.
These statements carry parameters instead, so the hot path pays for compilation once per process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import CTE, Insert, bindparam, insert, inspect, select, union_all


@lru_cache(maxsize=256)
def insert_rows(model: type[Any], keys: tuple[str, ...], count: int) -> Insert:
    """``INSERT INTO model (keys) VALUES (...) x count``, its parameters named by ``row_parameters``."""
    columns = inspect(model).columns
    table = inspect(model).local_table.name
    rows = [
        {columns[key]: bindparam(f"{table}_{key}_{row}", type_=columns[key].type) for key in keys}
        for row in range(count)
    ]
    # One row as keyword values: SQLAlchemy caches that form; a list of rows it compiles every time.
    return insert(model).values(rows[0]) if count == 1 else insert(model).values(rows)


@lru_cache(maxsize=256)
def insert_rows_if(model: type[Any], keys: tuple[str, ...], count: int, gate: CTE) -> Insert:
    """``insert_rows``, but the rows are written only when ``gate`` (a CTE of one row or none, such as a
    conditional ``UPDATE … RETURNING``) returned a row: ``INSERT … SELECT :params FROM gate``."""
    columns = inspect(model).columns
    table = inspect(model).local_table.name
    rows = [
        select(*(bindparam(f"{table}_{key}_{row}", type_=columns[key].type) for key in keys)).select_from(
            gate
        )
        for row in range(count)
    ]
    return insert(model).from_select(
        [columns[key] for key in keys], rows[0] if count == 1 else union_all(*rows)
    )


def row_parameters(
    model: type[Any], keys: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The parameters of ``insert_rows(model, keys, len(rows))`` for these rows."""
    table = inspect(model).local_table.name
    return {f"{table}_{key}_{index}": row[key] for index, row in enumerate(rows) for key in keys}

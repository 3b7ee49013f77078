"""SQL over the archive's tables with DuckDB, for notebooks and `archive sql`.

DuckDB could read `manifests/*/*.parquet` by itself, but then it would take every part on
trust. Here each table a query names is read through the archive's own reader
(storage/tablelog.py: every part's digest, schema and types checked; a damaged part named,
skipped and reported, never taken as rows), and handed to DuckDB as Arrow: the same SQL,
on a local directory or on S3 with read-only credentials, over verified rows. DuckDB runs
in memory with file system access disabled, so a query reads what it was given and writes
nothing.

Tables: `manifests` (every committed row: provenance and the clean text), `captures` (each
capture's newest extraction, what a reader usually wants), `events` (takedowns, edits),
`links` (syndication and translation links). Only the tables a query names are read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from storage import tablelog
from storage.errors import InputError
from storage.manifest import MANIFESTS
from storage.store import Store
from storage.tables import EVENTS, LINKS

TABLES = {"manifests": MANIFESTS, "events": EVENTS, "links": LINKS}
VIEWS = {
    "captures": (
        "manifests",
        "select * exclude (_rank) from (select *, row_number() over (partition by capture_id "
        "order by extracted_at desc) as _rank from manifests) where _rank = 1",
    )
}


def named(sql: str) -> list[str]:
    """The tables and views a query names (a word match; reading one too many costs time only)."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql.lower()))
    return [name for name in (*TABLES, *VIEWS) if name in words]


def connect(
    store: Store,
    sql: str = "",
    on_corrupt: Callable[[tablelog.CorruptPart], None] | None = None,
    everything: bool = False,
) -> Any:
    """A DuckDB connection with the tables `sql` names (or all, with `everything`) registered
    from verified reads of the archive."""
    import duckdb

    con = duckdb.connect(config={"enable_external_access": False})
    wanted = list(TABLES) + list(VIEWS) if everything else named(sql)
    loaded: set[str] = set()
    for name in wanted:
        base = VIEWS[name][0] if name in VIEWS else name
        if base not in loaded:
            con.register(base, tablelog.load(store, TABLES[base], None, on_corrupt=on_corrupt))
            loaded.add(base)
        if name in VIEWS:
            con.execute(f"create view {name} as {VIEWS[name][1]}")
    return con


def query(
    store: Store, sql: str, on_corrupt: Callable[[tablelog.CorruptPart], None] | None = None, limit: int | None = None
) -> pa.Table:
    """The result of one query as Arrow (at most `limit` rows)."""
    import duckdb

    con = connect(store, sql, on_corrupt)
    try:
        result = con.sql(sql)
        if result is None:
            return pa.table({})
        return (result.limit(limit) if limit else result).fetch_arrow_table()
    except duckdb.Error as exc:
        raise SqlError(str(exc).splitlines()[0]) from None
    finally:
        con.close()


class SqlError(InputError):
    """The query is wrong (DuckDB's own first line says how)."""

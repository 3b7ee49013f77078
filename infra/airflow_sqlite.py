"""SQLite settings for Airflow's embedded mode (make airflow, the backfill test).

Airflow's scheduler, DAG processor and API server share one SQLite file; with the default
5 s busy timeout a backfill created from the UI can fail with "Database is locked". Point
`[database] sql_alchemy_connect_args` at CONNECT_ARGS and switch the file to WAL (readers
no longer block the writer). Production uses Postgres (infra/README.md).
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

CONNECT_ARGS = {"timeout": 60}


def use_wal(db: Path) -> None:
    """Write-ahead logging for an Airflow SQLite database (a persistent property of the file)."""
    with sqlite3.connect(db) as conn:
        conn.execute("pragma journal_mode=wal")


if __name__ == "__main__":
    use_wal(Path(sys.argv[1]))

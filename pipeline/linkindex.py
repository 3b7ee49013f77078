"""The links step's index: every signed article filed under the ISO week it was published,
so a run compares its articles with the weeks around theirs, not with the whole archive.

A week is a log of its own (`lsh/source=w<year>_<week>/<seq>.parquet`, committed and
checkpointed as every table log is: write-once, optimistic, de-duplicated by capture id),
holding the signatures rows of the articles published that week, from every source. A
run reads the WEEKS_AROUND weeks before and after each of its articles' weeks: each a
checkpoint and at most a few parts after it. So linking costs what a run's own articles
need (their weeks' articles), whatever the archive's age; a five-year archive and a
one-year one cost the same.

What it gives up, on purpose: a text republished more than WEEKS_AROUND weeks after (or
before) the other is not linked by the run. The republication this archive is for (blogs
and partisan outlets taking up a state outlet's text) follows within days; the signatures
table keeps every article's MinHash, so a study of late reprints can still compare across
all of it. Of the anchors, Heritrix's and
StormCrawler's seen-URL stores partition by key hash and must read every partition for a
batch of random keys; LSH band keys are random, so a partition by band would be read
whole by every run: the week is the key that a run's articles share.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa

from storage import tablelog
from storage.store import Store
from storage.tables import LSH
from storage.tableschema import CorruptPart

log = logging.getLogger(__name__)

WEEKS_AROUND = 4


def week_of(published: str | None, fallback: date | None = None) -> str:
    """The ISO week of a publication date (`w2031_22`); an unreadable date files the article
    under `fallback`'s week (the day it was signed)."""
    day = _day(published) or fallback or datetime.now(UTC).date()
    year, week, _ = day.isocalendar()
    return f"w{year:04d}_{week:02d}"


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None


def _monday(week: str) -> date:
    year, number = week[1:].split("_")
    return date.fromisocalendar(int(year), int(number), 1)


def weeks_around(weeks: Iterable[str], around: int = WEEKS_AROUND) -> list[str]:
    """The weeks within `around` weeks of any of `weeks`, in order. Pure."""
    out: set[str] = set()
    for w in weeks:
        monday = _monday(w)
        out.update(week_of((monday + timedelta(weeks=k)).isoformat()) for k in range(-around, around + 1))
    return sorted(out)


def file(store: Store, rows: list[dict[str, Any]], commit: dict[str, Any]) -> list[dict[str, Any]]:
    """Commit signatures rows to their weeks' logs (one commit per week); returns the commits."""
    today = datetime.now(UTC).date()
    by_week: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_week.setdefault(week_of(r.get("published"), today), []).append(r)
    done = []
    for week, batch in sorted(by_week.items()):
        appended = tablelog.commit(store, LSH, week, batch, commit)
        done.append({"key": appended.key, "new_rows": len(appended.rows), "week": week})
    return done


def read(
    store: Store,
    weeks: Iterable[str],
    columns: list[str],
    on_corrupt: Callable[[CorruptPart], None] | None = None,
) -> pa.Table:
    """The filed rows of these weeks, in `columns`: each week's newest checkpoint and the
    parts after it. A corrupt part is reported to on_corrupt and left out."""
    tables = [tablelog.load(store, LSH, w, columns, on_corrupt=on_corrupt) for w in weeks]
    schema = pa.schema([LSH.schema.field(c) for c in columns])
    return pa.concat_tables([schema.empty_table(), *tables])

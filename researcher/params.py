"""The search fields the reading room's form and the JSON API share, read into a catalog Query.

The names are the CLI's (`archive search --help`); a value that cannot be answered is a
BadRequest whose one line names the field, shown on the page or in the API's JSON error.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from researcher.catalog import Query
from storage.errors import PermanentError

MAX_PAGE = 500  # the room's page numbers: 10,000 results deep; further is a narrower search


class BadRequest(Exception):
    """A researcher's input that cannot be answered: status 400, with this one line."""


def day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}: {value[:40]!r} is not a date (YYYY-MM-DD)") from None


def page_number(value: str | None) -> int:
    if not value:
        return 1
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise BadRequest(f"page: {value[:40]!r} is not a page number from 1 to {MAX_PAGE}")
    return int(value)


def query_from(params: dict[str, Any]) -> Query:
    """The search form's fields as a catalog Query (the CLI's filters, the same names)."""
    sort = params.get("sort") or None
    try:
        return Query(
            text=(params.get("q") or "").strip() or None,
            title=(params.get("title") or "").strip() or None,
            sources=tuple(s for s in params.get("source", []) if s),
            statuses=tuple(s for s in params.get("status", []) if s),
            language=(params.get("lang") or "").strip() or None,
            date_from=day(params.get("from"), "published from"),
            date_to=day(params.get("to"), "published to"),
            captured_from=day(params.get("captured_from"), "captured from"),
            captured_to=day(params.get("captured_to"), "captured to"),
            url_prefix=(params.get("url") or "").strip() or None,
            sort=sort,
            descending=params.get("desc") == "1",
        )
    except PermanentError as exc:
        raise BadRequest(str(exc)) from None

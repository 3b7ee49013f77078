"""Wayback timestamps and HTTP dates, pure.

A Wayback timestamp is 1 to 14 digits of yyyyMMddhhmmss in UTC; a short one names a period:
as a start (`from=`, a replay request) its first second, as an end (`to=`) its last, as the
Wayback Machine and pywb read them. Fewer than 4 digits name no year and are refused.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

_DIGITS = re.compile(r"^\d{4,14}$")


class BadTimestamp(ValueError):
    """Not a timestamp a client may send: the message says what was expected."""


def parse(text: str, *, end: bool = False) -> datetime:
    """The first (or with `end`, the last) second a 4- to 14-digit timestamp names, UTC."""
    if not _DIGITS.match(text or "") or len(text) % 2 == 1:
        raise BadTimestamp(f"{text!r} is not a timestamp: yyyy, yyyyMM, ... up to yyyyMMddhhmmss (UTC digits)")
    width = len(text)
    filled = text + "0101000000"[width - 4 :]  # a missing month or day is the 1st, the rest 0
    try:
        first = datetime.strptime(filled, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise BadTimestamp(f"{text!r} is not a date and time (yyyyMMddhhmmss, UTC)") from None
    if not end or width == 14:
        return first
    return _next_period(first, width) - timedelta(seconds=1)


def _next_period(first: datetime, width: int) -> datetime:
    if width == 4:
        return first.replace(year=first.year + 1)
    if width == 6:
        return first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
    step = {8: timedelta(days=1), 10: timedelta(hours=1), 12: timedelta(minutes=1)}[width]
    return first + step


def format_ts(moment: datetime) -> str:
    """A moment as the 14-digit timestamp of its UTC second."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def from_iso(text: str) -> datetime:
    """A stored ISO 8601 time (fetched_at) as an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def http_date(moment: datetime) -> str:
    """RFC 7231 IMF-fixdate: what Memento-Datetime and Accept-Datetime carry."""
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def parse_http_date(text: str) -> datetime:
    """An Accept-Datetime value; anything but an RFC 1123 date is BadTimestamp."""
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        example = "Thu, 01 Jun 2017 12:00:00 GMT"
        raise BadTimestamp(f"Accept-Datetime {text!r} is not an HTTP date (e.g. {example})") from None
    if moment is None:
        raise BadTimestamp(f"Accept-Datetime {text!r} is not an HTTP date")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

"""Memento (RFC 7089) headers and TimeMaps, pure.

A URL's mementos are its captures, oldest first, each at `/web/<timestamp>/<url>`. The
TimeGate (`/web/<url>`) picks the one closest to Accept-Datetime (the newest without it;
the earlier on a tie, as pywb does); every memento and TimeGate answer names the original,
the TimeGate, the TimeMap, and the first, last, previous and next mementos in its `Link`
header (relation types combined on one link where they fall on the same memento, as RFC
7089 section 2.2.1 allows). TimeMaps come as application/link-format and as the Memento
JSON TimeMap the Memento aggregators use.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from researcher.wayback import timestamps


@dataclass(frozen=True)
class Memento:
    moment: datetime  # its capture time (to the second, UTC)
    url: str  # the URL as captured

    @property
    def timestamp(self) -> str:
        return timestamps.format_ts(self.moment)


def memento_path(ts: str, url: str, modifier: str = "") -> str:
    return f"/web/{ts}{modifier}/{url}"


def timegate_path(url: str) -> str:
    return f"/web/{url}"


def timemap_path(url: str, form: str = "link") -> str:
    return f"/web/timemap/{form}/{url}"


def closest(mementos: Sequence[Memento], target: datetime | None) -> int:
    """The index of the memento closest to `target` (the last one when None); earlier wins a tie."""
    if not mementos:
        raise ValueError("no mementos")
    if target is None:
        return len(mementos) - 1
    moments = [m.moment for m in mementos]
    i = bisect.bisect_left(moments, target)
    if i == 0:
        return 0
    if i == len(moments):
        return i - 1
    before, after = target - moments[i - 1], moments[i] - target
    return i - 1 if before <= after else i


def links(base: str, original: str, mementos: Sequence[Memento], chosen: int | None) -> str:
    """The Link header of a TimeGate answer or a memento (`chosen` its index; None: a
    response about the URL, e.g. a 404, with the original and the TimeMap only)."""
    parts = [
        f'<{original}>; rel="original"',
        f'<{base}{timegate_path(original)}>; rel="timegate"',
        f'<{base}{timemap_path(original)}>; rel="timemap"; type="application/link-format"',
    ]
    if chosen is None or not mementos:
        return ", ".join(parts)
    rels: dict[int, list[str]] = {}
    for index, rel in (
        (0, "first"),
        (chosen - 1, "prev"),
        (chosen, ""),
        (chosen + 1, "next"),
        (len(mementos) - 1, "last"),
    ):
        if 0 <= index < len(mementos):
            rels.setdefault(index, [])
            if rel and rel not in rels[index]:
                rels[index].append(rel)
    for index in sorted(rels):
        m = mementos[index]
        rel = " ".join([*rels[index], "memento"])
        parts.append(
            f'<{base}{memento_path(m.timestamp, m.url)}>; rel="{rel}"; datetime="{timestamps.http_date(m.moment)}"'
        )
    return ", ".join(parts)


def link_timemap(base: str, original: str, mementos: Sequence[Memento]) -> str:
    """application/link-format, one link a line (RFC 7089 section 5.1)."""
    lines = [
        f'<{original}>; rel="original"',
        f'<{base}{timegate_path(original)}>; rel="timegate"',
    ]
    self_link = f'<{base}{timemap_path(original)}>; rel="self"; type="application/link-format"'
    if mementos:
        first, last = mementos[0].moment, mementos[-1].moment
        self_link += f'; from="{timestamps.http_date(first)}"; until="{timestamps.http_date(last)}"'
    lines.append(self_link)
    for i, m in enumerate(mementos):
        rel = " ".join([*(["first"] if i == 0 else []), *(["last"] if i == len(mementos) - 1 else []), "memento"])
        lines.append(
            f'<{base}{memento_path(m.timestamp, m.url)}>; rel="{rel}"; datetime="{timestamps.http_date(m.moment)}"'
        )
    return ",\n".join(lines) + "\n"


def json_timemap(base: str, original: str, mementos: Sequence[Memento]) -> str:
    """The Memento JSON TimeMap (original_uri, timegate_uri, timemap_uri, mementos)."""

    def entry(m: Memento) -> dict[str, str]:
        return {"datetime": m.moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "uri": base + memento_path(m.timestamp, m.url)}

    doc = {
        "original_uri": original,
        "timegate_uri": base + timegate_path(original),
        "timemap_uri": {
            "link_format": base + timemap_path(original, "link"),
            "json_format": base + timemap_path(original, "json"),
        },
        "mementos": {
            "first": entry(mementos[0]) if mementos else None,
            "last": entry(mementos[-1]) if mementos else None,
            "list": [entry(m) for m in mementos],
        },
    }
    return json.dumps(doc, indent=1) + "\n"

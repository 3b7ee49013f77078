"""What the archive holds per source and day, and where it is probably incomplete.

Two witnesses, side by side: the catalog (captures per day and status, from the committed
manifests) and the run reports the pipeline wrote (what each run discovered and expected,
and the days it flagged as probable gaps). A researcher reads both before citing a count.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from storage import layout
from storage.store import Store


@dataclass
class Day:
    day: str
    captures: dict[str, int] = field(default_factory=dict)  # status -> captures (latest extraction)
    discovered: int = 0
    expected: float = 0.0
    runs: int = 0  # runs whose window touched the day
    gap_runs: int = 0  # of those, how many flagged it as a probable gap

    @property
    def probable_gap(self) -> bool:
        """Every run that covered the day found far fewer articles than expected."""
        return self.runs > 0 and self.gap_runs == self.runs

    @property
    def uncovered(self) -> bool:
        """No run's window touched the day (nothing was even tried)."""
        return self.runs == 0

    def total(self) -> int:
        return sum(self.captures.values())


def read_reports(store: Store, source_id: str, cache: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The newest report of every run of a source (each attempt writes its own). Reports are
    written once under their own key, so `cache` (key -> report) never goes stale."""
    newest: dict[str, str] = {}
    for key in store.list(layout.reports_prefix(source_id)):
        if key.endswith(".json"):
            run = key.rsplit("/", 2)[-2]
            newest[run] = max(newest.get(run, ""), key)
    cache = {} if cache is None else cache
    for key in newest.values():
        if key not in cache:
            cache[key] = json.loads(store.get_bytes(key))
    return [cache[key] for _, key in sorted(newest.items())]


def merge(counts: dict[str, dict[str, int]], reports: list[dict[str, Any]]) -> list[Day]:
    """Every day from the first to the last that either witness knows, oldest first (pure)."""
    days: dict[str, Day] = {d: Day(d, dict(by_status)) for d, by_status in counts.items()}
    for report in reports:
        for d, c in (report.get("coverage") or {}).items():
            day = days.setdefault(d, Day(d))
            day.runs += 1
            day.gap_runs += int(bool(c.get("probable_gap")))
            day.discovered += int(c.get("discovered") or 0)
            day.expected = max(day.expected, float(c.get("expected") or 0))
    if not days:
        return []
    first, last = date.fromisoformat(min(days)), date.fromisoformat(max(days))
    out = []
    while first <= last:
        out.append(days.get(first.isoformat()) or Day(first.isoformat()))
        first += timedelta(days=1)
    return out


def summary(days: list[Day]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    for d in days:
        for status, n in d.captures.items():
            by_status[status] = by_status.get(status, 0) + n
    return {
        "days": len(days),
        "captures": by_status,
        "probable_gaps": [d.day for d in days if d.probable_gap],
        "uncovered": [d.day for d in days if d.uncovered and not d.total()],
        "blocked_days": [d.day for d in days if d.captures.get("blocked")],
        "failed_days": [d.day for d in days if d.captures.get("extraction_failed")],
    }


COLOURS = {"ok": "#2f7d32", "extraction_failed": "#e08a00", "not_article": "#7b7b7b", "blocked": "#c62828"}


def chart_svg(days: list[Day], title: str) -> str:
    """Captures per day as stacked bars by status; probable gaps shaded, uncovered days hatched.

    matplotlib renders it server-side as SVG: no script in the page, readable when printed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=96)
    try:
        # matplotlib's date numbers (days): bars centred on each day's noon
        noon = [datetime.combine(date.fromisoformat(d.day), time(12)) for d in days]
        xs = [float(x) for x in mdates.date2num(noon)]  # type: ignore[no-untyped-call]
        half = 0.5
        handles = []
        for d, x in zip(days, xs, strict=True):
            if d.probable_gap:
                ax.axvspan(x - half, x + half, color="#9e9e9e", alpha=0.35, lw=0, zorder=0)
            elif d.uncovered and not d.total():
                ax.axvspan(x - half, x + half, fill=False, hatch="//", lw=0, ec="#bdbdbd", zorder=0)
        bottom = [0] * len(days)
        for status, colour in COLOURS.items():
            ys = [d.captures.get(status, 0) for d in days]
            if any(ys):
                ax.bar(xs, ys, bottom=bottom, color=colour, width=0.8, zorder=2)
                handles.append(Patch(color=colour, label=status.replace("_", " ")))
                bottom = [b + y for b, y in zip(bottom, ys, strict=True)]
        if any(d.probable_gap for d in days):
            handles.append(Patch(color="#9e9e9e", alpha=0.35, label="probable gap (run report)"))
        if any(d.uncovered and not d.total() for d in days):
            handles.append(Patch(fill=False, hatch="//", ec="#bdbdbd", label="no run covered the day"))
        ax.set_title(title, loc="left", fontsize=11)
        ax.set_ylabel("captures")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if len(days) <= 31:
            ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, len(days) // 10)))  # type: ignore[no-untyped-call]
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b\n%Y"))  # type: ignore[no-untyped-call]
        else:
            locator = mdates.AutoDateLocator(maxticks=12)  # type: ignore[no-untyped-call]
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        if xs:
            ax.set_xlim(xs[0] - half, xs[-1] + half)
        ax.spines[["top", "right"]].set_visible(False)
        if handles:
            ax.legend(handles=handles, loc="upper left", fontsize=8, frameon=False, ncols=5, bbox_to_anchor=(0, -0.22))
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        svg = buf.getvalue()
    finally:
        plt.close(fig)
    return svg[svg.index("<svg") :]  # inline: no XML prolog

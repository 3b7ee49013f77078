"""What an operator reads in a task's log: the crawl's figures and the run report as plain
tables. Pure."""

from __future__ import annotations

from typing import Any


def _table(rows: list[tuple[str, str]]) -> str:
    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"


def crawl_summary(crawl: dict[str, Any]) -> str:
    s = crawl.get("summary", {})
    return "crawl of {} {}:\n{}".format(
        crawl["source_id"],
        crawl["run"],
        _table(
            [
                ("articles", _counts(s.get("articles", {}))),
                ("in window", str(s.get("in_window", 0))),
                ("skipped", _counts(s.get("skipped_by_reason", {}))),
                ("failed", _counts(s.get("failed_by_reason", {}))),
                ("discovery", _counts(s.get("discovery", {}))),
                ("discovery failures", str(len(s.get("discovery_failures", [])))),
                ("WARC", ", ".join(crawl.get("parts", [])) or "none (nothing new)"),
            ]
        ),
    )


def _revisits(report: dict[str, Any]) -> str:
    budget = report.get("revisit_budget") or {}
    text = f"{report.get('revisited', 0)} fetched again"
    if budget:
        scheduled, deferred = budget.get("scheduled", 0), budget.get("deferred", 0)
        text += f" ({scheduled} scheduled, {deferred} deferred, budget {budget.get('budget')})"
    gone = report.get("revisit_failures") or {}
    return text + (f"; failed: {_counts(gone)}" if gone else "")


def _links(report: dict[str, Any]) -> tuple[int, int, int]:
    links = report.get("links") or {}
    return links.get("signed", 0), links.get("links", 0), links.get("translations", 0)


def report_table(report: dict[str, Any]) -> str:
    """The run report in a few lines, then one line per day of the window."""
    head = [
        ("window", " .. ".join(report.get("window", []))),
        ("discovered", f"{report['discovered']} ({report['discovered_in_window']} in the window)"),
        ("archived", f"{report['archived']} new, {report['already_archived']} already archived"),
        ("not committed", _counts(report.get("not_committed", {}))),
        ("blocked", _counts(report.get("blocked", {}))),
        ("failed", _counts(report.get("failed_by_reason", {}))),
        ("extraction", _counts(report.get("extraction", {}))),
        ("ratios", f"failed {report['failed_ratio']}, leaks {report['leak_ratio']}, empty {report['empty_ratio']}"),
        ("manifest", str((report.get("manifest") or {}).get("manifest") or "nothing new committed")),
        ("revisits", _revisits(report)),
        ("events", _counts(report.get("events", {}))),
        ("links", "{} articles signed, {} syndication links, {} translation links".format(*_links(report))),
    ]
    days = [
        (
            day,
            f"discovered {c['discovered']}, archived {c['archived']}, already {c['already_archived']}, "
            f"expected {c['expected']}" + ("  <- probable gap" if c["probable_gap"] else ""),
        )
        for day, c in sorted(report.get("coverage", {}).items())
    ]
    return f"run report of {report['source_id']} {report['run']}:\n{_table(head)}\nper day:\n{_table(days)}"

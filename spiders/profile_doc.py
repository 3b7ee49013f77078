"""A source's DAG documentation, generated from its profile: what an operator sees in the UI."""

from __future__ import annotations

from pathlib import Path

from spiders.profile import Profile


def header_comment(path: Path) -> str:
    """The profile file's leading comment: what was verified on the live site and what was not."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return "\n".join(lines).strip()


def profile_doc(profile: Profile, notes: str = "") -> str:
    """Markdown: domains, discovery paths, schedule, politeness, revisits, alerts, and the notes."""
    p = profile.politeness
    paths = [f"- feed: {u}" for u in profile.feeds] + [f"- sitemap: {u}" for u in profile.sitemaps]
    if profile.wordpress_api:
        paths.append(f"- WordPress REST API: {profile.wordpress_api}")
    if profile.archive_pages:
        paths.append(f"- date archive pages: {profile.archive_pages.url}")
    if profile.section_pages:
        paths += [f"- section listing: {u}" for u in profile.section_pages.urls]
    rows = [
        (
            "domains",
            ", ".join(profile.domains) + (f" (mirrors: {', '.join(profile.mirrors)})" if profile.mirrors else ""),
        ),
        ("sections", ", ".join(profile.sections) or "whole site"),
        ("language", profile.language),
        ("schedule", f"`{profile.schedule}` (each run crawls the interval that just ended)"),
        (
            "politeness",
            f"{p.download_delay:g} s between requests, {p.concurrency} at a time, {p.retries} retries, "
            f"robots.txt obeyed (Crawl-delay up to {p.max_crawl_delay:g} s), pages over {p.max_page_mb} MB cancelled",
        ),
        ("proxy", f"{p.proxy.label} ({p.proxy.region})" if p.proxy else "none"),
        (
            "revisits",
            (", ".join(profile.revisit_after) + f" (at most {profile.revisit_budget} a run)")
            if profile.revisit_after
            else "none",
        ),
        ("expected volume", f"{profile.expected_daily_volume} articles a day"),
        (
            "noise rules",
            f"{len(profile.noise.drop_selectors)} selectors, {len(profile.noise.drop_line_patterns)} line patterns",
        ),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    out = f"# {profile.name} (`{profile.id}`)\n\n| | |\n|---|---|\n{table}\n\n## Discovery\n" + "\n".join(paths)
    if notes:
        out += f"\n\n## What is verified and what is not\n\n{notes}"
    out += (
        "\n\n## Manual runs\n\nTrigger with `window_start` / `window_end` (ISO date-times) to crawl another "
        "window; a bad value fails the run at once. Backfills (Trigger -> Backfill) run one interval per run."
    )
    return out

"""The README's performance table is what `make bench` last measured, rendered from
tests/bench/results.json (no hand-edited figures), and the renderer keeps the README's other text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.all import BEGIN, END, RESULTS, _row, render, update_readme

REPO = Path(__file__).resolve().parent.parent


def test_readme_section_is_rendered_from_the_results_file() -> None:
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    assert render(results) in (REPO / "README.md").read_text(encoding="utf-8")
    stages = {r["stage"] for r in results["stages"]}
    for needed in ("extraction, per page", "extract step", "re-extraction (news_reprocess)", "catalog build",
                   "catalog queries", "crawl, 3,000 pages", "crawl, 10,000 pages"):  # fmt: skip
        assert needed in stages, f"make bench no longer measures {needed}"
    assert results["date"] and "cores" in results["machine"]


@pytest.mark.parametrize(
    ("ratios", "ratio", "spread"),
    [([0.8], 0.8, [0.8, 0.8]), ([0.7, 0.9, 0.8], 0.8, [0.7, 0.9]), ([1.2, 0.95], 1.075, [0.95, 1.2])],
)
def test_a_row_reports_the_median_and_the_spread_of_its_runs(
    ratios: list[float], ratio: float, spread: list[float]
) -> None:
    row = _row("s", "w", "o", "b", ratios)
    assert (row["ratio"], row["spread"], row["runs"]) == (ratio, spread, len(ratios))


def test_update_replaces_only_the_marked_section(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\nbefore\n{BEGIN}\nold figures\n{END}\nafter\n", encoding="utf-8")
    update_readme(readme, f"{BEGIN}\nnew\n{END}")
    assert readme.read_text(encoding="utf-8") == f"# t\nbefore\n{BEGIN}\nnew\n{END}\nafter\n"
    readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="no bench section"):
        update_readme(readme, "x")

"""The quality gate: the pipeline's extraction may not fall below the levels reached on the gold pages."""

from __future__ import annotations

import pytest

from tests.bench.quality import DEFAULT, evaluate, load_pages

RESULT = evaluate(DEFAULT)


def test_every_gold_page_is_benchmarked() -> None:
    assert RESULT["by_source"]["ALL"]["pages"] == len(load_pages()) >= 5


@pytest.mark.parametrize("page", RESULT["pages"], ids=lambda p: p["id"])
def test_gold_page_meets_the_gate(page: dict[str, object]) -> None:
    assert page["error"] is None
    assert page["missing"] == [], "keep lines missing from the clean text"
    assert page["leaked"] == [], "drop lines leaked into the clean text"
    assert page["unlabelled"] == [], "lines that are neither keep nor optional"
    assert page["meta_right"] == page["meta_total"], "title, published date, authors or language wrong"

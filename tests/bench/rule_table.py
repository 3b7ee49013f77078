"""What each generic rule is worth, page by page: the pipeline with that one rule switched off
(NoiseRules.without) against the pipeline with every rule, on the pages where the rule can act.

A rule can act on a page when: a drop selector matches an element of the page; a line pattern
matches a line of the page's text as extracted with no generic line pattern; a listing signal
refused the page; the comment cut, the bio cut and the lead on every page. Elsewhere
switching it off changes nothing, so it is not run there. For each rule: the pages where
switching it off lowers F1 by more than SIGNIFICANT (the rule helped) and raises it by more
than that (the rule hurt), per half; the worst hurt on an evaluation page; and, for the
development half only, the page ids (evaluation pages are counted, never named).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from extract import NoiseRules
from extract.listing import REFUSING
from extract.page import parse
from extract.rules import GENERIC_DROP_SELECTORS, GENERIC_LINE_RULES, OTHER_GENERIC_RULES, _generic_lines
from tests.bench.real import Output, halves, pipeline
from tests.bench.scoring import shingle_pr
from tests.fixtures.real import RealPage, load_pages, split

SIGNIFICANT = 0.02  # F1 change on one page that the table reports
HURTS = 0.05  # an evaluation page hurt by more than this: the rule must be narrowed or removed
ALL_LINE_RULES = frozenset(GENERIC_LINE_RULES)


@dataclass
class RuleEffect:
    rule: str
    pages: int = 0  # pages where it can act
    helped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(split.HALVES, 0))
    hurt: dict[str, int] = field(default_factory=lambda: dict.fromkeys(split.HALVES, 0))
    worst_eval_hurt: float = 0.0
    dev_helped: list[str] = field(default_factory=list)
    dev_hurt: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__ | {"worst_eval_hurt": round(self.worst_eval_hurt, 4)}


def _f1(page: RealPage, out: Output) -> float:
    return shingle_pr(page.truth or "", out.text or "").f1


def _candidates(pages: Iterable[RealPage], base: dict[str, Output]) -> dict[str, list[RealPage]]:
    """For each generic rule, the pages where it can act."""
    out: dict[str, list[RealPage]] = {
        rule: []
        for rule in (
            *GENERIC_DROP_SELECTORS,
            *GENERIC_LINE_RULES,
            *OTHER_GENERIC_RULES,
            *(f"listing:{s}" for s in REFUSING),
        )
    }
    matcher = NoiseRules()._matcher
    line_rules = {name: _generic_lines(ALL_LINE_RULES - {name}) for name in GENERIC_LINE_RULES}
    for page in pages:
        for selector in {sel for _, sel in matcher.matches(parse(page.html.decode("utf-8", "replace")))}:
            if selector in out:
                out[selector].append(page)
        unfiltered = pipeline(page, NoiseRules(without=ALL_LINE_RULES)).text or ""
        lines = [" ".join(x.split()) for x in unfiltered.splitlines()]
        for name, pattern in line_rules.items():
            if pattern is not None and any(pattern.match(line) for line in lines):
                out[name].append(page)
        for rule in OTHER_GENERIC_RULES:
            out[rule].append(page)
        if base[page.id].text is None:
            for signal in REFUSING:
                out[f"listing:{signal}"].append(page)
    return out


def rule_table() -> list[RuleEffect]:
    pages = tuple(p for p in load_pages() if p.kind == "article")
    half = halves()
    base = {p.id: pipeline(p) for p in pages}
    base_f1 = {p.id: _f1(p, base[p.id]) for p in pages}
    effects = []
    for rule, where in _candidates(pages, base).items():
        effect = RuleEffect(rule, pages=len(where))
        without = NoiseRules(without=frozenset({rule}))
        for page in where:
            delta = base_f1[page.id] - _f1(page, pipeline(page, without))  # > 0: the rule helped
            h = half[page.id]
            if delta > SIGNIFICANT:
                effect.helped[h] += 1
                if h == split.DEV:
                    effect.dev_helped.append(page.id)
            elif delta < -SIGNIFICANT:
                effect.hurt[h] += 1
                if h == split.DEV:
                    effect.dev_hurt.append(page.id)
                else:
                    effect.worst_eval_hurt = max(effect.worst_eval_hurt, -delta)
        effects.append(effect)
    return sorted(effects, key=lambda e: (-(sum(e.hurt.values()) + sum(e.helped.values())), e.rule))

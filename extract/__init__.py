"""Pure extraction: raw HTML + URL + noise rules -> clean document and metadata."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from extract.document import (
    TRAFILATURA_SETTINGS,
    CleanDocument,
    ExtractionError,
    NotAnArticle,
    extract_document,
    extractor_info,
)
from extract.quality import classify_capture, detect_block, leak_flags
from extract.rules import NoiseRules

__all__ = [
    "CleanDocument",
    "ExtractionError",
    "Extractor",
    "NoiseRules",
    "NotAnArticle",
    "classify_capture",
    "detect_block",
    "extract_document",
    "leak_flags",
]


@dataclass(frozen=True)
class Extractor:
    """A source's extraction as one callable: (body, url, content type) -> clean document dict."""

    rules: NoiseRules
    default_language: str | None = None
    profile_rules_version: int | None = None
    index_urls: frozenset[str] = frozenset()  # the source's index pages: refused when not marked as articles
    settings: tuple[tuple[str, Any], ...] = ()  # the profile's overrides of TRAFILATURA_SETTINGS

    @classmethod
    def from_rules(
        cls,
        drop_selectors: Sequence[str],
        drop_line_patterns: Sequence[str],
        default_language: str | None = None,
        profile_rules_version: int | None = None,
        lead_selectors: Sequence[str] = (),
        index_urls: Sequence[str] = (),
        min_extracted_size: int | None = None,
    ) -> Extractor:
        """Build from a source profile's noise rules (plain lists, so profiles need not import us)."""
        rules = NoiseRules(tuple(drop_selectors), tuple(drop_line_patterns), lead_selectors=tuple(lead_selectors))
        settings = (("min_extracted_size", min_extracted_size),) if min_extracted_size else ()
        return cls(rules, default_language, profile_rules_version, frozenset(index_urls), settings)

    @classmethod
    def for_profile(cls, profile: Any) -> Extractor:
        """From a source profile (spiders.profile.SourceProfile, read by attribute so the
        profiles need not be imported here): its noise rules, language and rules version."""
        n = profile.noise
        return cls.from_rules(
            n.drop_selectors,
            n.drop_line_patterns,
            profile.language,
            profile.rules_version,
            lead_selectors=n.lead_selectors,
            index_urls=[str(u) for u in profile.section_pages.urls] if profile.section_pages else [],
            min_extracted_size=n.min_extracted_size,
        )

    @property
    def info(self) -> dict[str, Any]:
        settings = {**TRAFILATURA_SETTINGS, **dict(self.settings)}
        info = {**extractor_info(self.rules, settings), "profile_rules_version": self.profile_rules_version}
        digest = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()[:12]
        return {**info, "extraction_id": digest}

    def __call__(self, body: bytes, url: str, content_type: str | None) -> dict[str, Any]:
        doc = extract_document(
            body,
            url,
            self.rules,
            content_type=content_type,
            default_language=self.default_language,
            index_urls=self.index_urls,
            settings=dict(self.settings),
        )
        return {**doc.as_dict(), "extractor": self.info}

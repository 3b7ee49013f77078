"""Noise rules: what to strip from a page before and after trafilatura.

Rules are data (they come from a source profile); this module only gives them a
type and a version so a clean document can say exactly which rules made it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

# Page furniture that trafilatura does not always recognise on its own. These apply
# to every source; a profile adds what only it can know.
GENERIC_DROP_SELECTORS: tuple[str, ...] = (
    # consent banners (RT's own, common CMPs)
    "[id*=cookie]",
    "[class*=cookie]",
    "[id*=consent]",
    "[class*=consent]",
    "#didomi-host",
    "#onetrust-consent-sdk",
    "#CybotCookiebotDialog",
    # comment threads and forms (WordPress, Disqus)
    "#comments",
    ".comments-area",
    ".comment-list",
    ".comment-respond",
    "#disqus_thread",
    # share bars, newsletter prompts, related-article boxes
    ".sharedaddy",
    ".share-box",
    "[class*=newsletter]",
    ".related-posts",
    ".jp-relatedposts",
    # image captions are not article text
    ".wp-caption-text",
    "figcaption",
)


@dataclass(frozen=True)
class NoiseRules:
    """Rules applied around trafilatura for one source.

    drop_selectors: CSS selectors removed from the DOM before extraction.
    drop_line_patterns: regular expressions; a clean-text line matching one is removed.
    """

    drop_selectors: tuple[str, ...] = ()
    drop_line_patterns: tuple[str, ...] = ()
    use_generic: bool = True
    _compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", tuple(re.compile(p) for p in self.drop_line_patterns))

    @property
    def selectors(self) -> tuple[str, ...]:
        return (GENERIC_DROP_SELECTORS if self.use_generic else ()) + self.drop_selectors

    def drops_line(self, line: str) -> bool:
        return any(p.search(line) for p in self._compiled)

    def as_dict(self) -> dict[str, object]:
        return {
            "drop_selectors": list(self.drop_selectors),
            "drop_line_patterns": list(self.drop_line_patterns),
            "use_generic": self.use_generic,
        }

    @property
    def version(self) -> str:
        """Content hash of the effective rules: changes whenever the output could."""
        payload = json.dumps(
            {"selectors": list(self.selectors), "patterns": list(self.drop_line_patterns)},
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

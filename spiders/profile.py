"""Source profiles: a source is data, validated here, one YAML file per source."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import yaml
from cssselect import GenericTranslator, SelectorError
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, field_validator, model_validator

from spiders.revisit import parse_age
from storage.errors import PermanentError

PROFILES_DIR = Path(__file__).parent / "profiles"
PROFILES_ENV = "NEWSARCHIVE_PROFILES"  # another directory of profiles, e.g. rules under review


def profiles_dir() -> Path:
    return Path(os.environ.get(PROFILES_ENV) or PROFILES_DIR)


class ProfileError(PermanentError):
    """A profile file is missing, unreadable or invalid; the message names the file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_PSEUDO = re.compile(r"::(attr\([\w:-]+\)|text)$")  # parsel's ::attr(name) / ::text ending


def _check_css(selector: str, *, pseudo: bool = False) -> str:
    """A CSS selector cssselect can compile (with `pseudo`, one may end in ::attr(...)/::text)."""
    try:
        GenericTranslator().css_to_xpath(_PSEUDO.sub("", selector) if pseudo else selector)
    except SelectorError as exc:
        raise ValueError(f"invalid CSS selector {selector!r}: {exc}") from exc
    return selector


class Proxy(_Strict):
    """An egress proxy (HTTP, HTTPS or SOCKS5): its URL, credentials included, is read from the
    environment variable named here and never stored; the label and exit region are
    recorded in provenance."""

    url_env: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{2,63}$")]
    label: Annotated[str, Field(pattern=r"^[\w.-]{1,40}$")]
    region: Annotated[str, Field(pattern=r"^[A-Za-z0-9 -]{2,40}$")]

    @property
    def provenance(self) -> str:
        return f"{self.label} ({self.region})"


class ArchivePages(_Strict):
    """Date archive pages (e.g. WordPress /2018/12/01/), followed through their pagination.

    `url` is formatted with the day ({year}, {month:02d}, {day:02d}); links matching
    `link_selector` are the day's articles; `next_selector` finds the next page.
    """

    url: str
    link_selector: str
    next_selector: str | None = None
    max_pages: Annotated[int, Field(ge=1, le=200)] = 20

    @field_validator("url")
    @classmethod
    def _template(cls, v: str) -> str:
        try:
            filled = v.format(year=2000, month=1, day=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"bad archive page template {v!r}: {exc}") from exc
        if not filled.startswith(("http://", "https://")):
            raise ValueError(f"archive page template {v!r} is not an http(s) URL")
        return v

    @field_validator("link_selector", "next_selector")
    @classmethod
    def _css(cls, v: str | None) -> str | None:
        return None if v is None else _check_css(v)


class SectionPages(_Strict):
    """Section listings (newest first), followed through their pagination back to the window.

    Each element matching `item_selector` is one listed article: its link is the first
    `link_selector` match inside it, its date the first `date_selector` match (a CSS
    selector ending in ::attr(...) or ::text, giving a W3C datetime). Pages are followed
    while they list nothing older than the window, up to `max_pages`.
    """

    urls: Annotated[list[HttpUrl], Field(min_length=1)]
    item_selector: str
    link_selector: str = "a"
    date_selector: str = "time::attr(datetime)"
    next_selector: str | None = None
    max_pages: Annotated[int, Field(ge=1, le=500)] = 50

    @field_validator("item_selector", "link_selector", "date_selector", "next_selector")
    @classmethod
    def _css(cls, v: str | None) -> str | None:
        return None if v is None else _check_css(v, pseudo=True)


class Politeness(_Strict):
    download_delay: Annotated[float, Field(ge=0, le=120)] = 2.0
    concurrency: Annotated[int, Field(ge=1, le=16)] = 2
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    timeout: Annotated[float, Field(gt=0, le=600)] = 60
    autothrottle: bool = True
    proxy: Proxy | None = None
    max_retry_after: Annotated[float, Field(ge=0, le=3600)] = 300  # longer Retry-After waits give the URL up
    max_page_mb: Annotated[int, Field(ge=1, le=1024)] = 50  # larger responses are cancelled (download cap)
    # robots.txt's Crawl-delay is honoured up to this many seconds (a larger one is capped, and recorded)
    max_crawl_delay: Annotated[float, Field(ge=0, le=600)] = 60


class Network(_Strict):
    """Where the crawler may connect. A source is public: names that resolve to loopback,
    private, link-local or other reserved addresses are refused (spiders/addresses.py) after
    resolution, at connection time, unless `internal_addresses` is set (local fixture sites);
    only the ports listed are contacted."""

    ports: Annotated[list[Annotated[int, Field(ge=1, le=65535)]], Field(min_length=1)] = [80, 443]
    internal_addresses: bool = False


class Noise(_Strict):
    drop_selectors: list[str] = []
    drop_line_patterns: list[str] = []
    lead_selectors: list[str] = []  # where the page's lead / standfirst sits (kept as article text)
    # trafilatura's min_extracted_size: below this many characters of text it tries its
    # fallback extractors and may keep theirs. Its default (250) is right for the open web
    # (a table-layout page's debris is short, the fallback finds the article); a news agency
    # whose dispatches are two paragraphs sets it lower (60) so the dispatch is kept.
    min_extracted_size: Annotated[int, Field(ge=1, le=10_000)] | None = None

    @field_validator("drop_selectors", "lead_selectors")
    @classmethod
    def _css(cls, v: list[str]) -> list[str]:
        return [_check_css(sel) for sel in v]

    @field_validator("drop_line_patterns")
    @classmethod
    def _regex(cls, v: list[str]) -> list[str]:
        for pat in v:
            try:
                re.compile(pat)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pat!r}: {exc}") from exc
        return v


class Alerts(_Strict):
    max_failed_ratio: Annotated[float, Field(ge=0, le=1)] = 0.5
    min_volume_ratio: Annotated[float, Field(ge=0, le=1)] = 0.2
    max_leak_ratio: Annotated[float, Field(ge=0, le=1)] = 0.2
    max_empty_ratio: Annotated[float, Field(ge=0, le=1)] = 0.2


class Profile(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")]
    name: str
    language: Annotated[str, Field(pattern=r"^[a-z]{2}$")]
    domains: Annotated[list[str], Field(min_length=1)]
    # hosts serving the same site as domains[0] (e.g. RT's mirrors): allowed, and folded
    # onto domains[0] when URLs are compared, so an article is archived once
    mirrors: list[str] = []
    # path prefixes of the source's articles, where its host serves more than this source
    # (Anadolu's languages share www.aa.com.tr; antiwar.com's blog lives under /blog/)
    sections: list[Annotated[str, Field(pattern=r"^/[^?#]*$")]] = []
    feeds: list[HttpUrl] = []
    sitemaps: list[HttpUrl] = []
    # a child sitemap whose index <lastmod> is before the window is not fetched (set false
    # for a site whose index dates are wrong)
    trust_sitemap_lastmod: bool = True
    # WordPress sources: the REST API's posts endpoint reaches any past date (backfills)
    wordpress_api: HttpUrl | None = None
    archive_pages: ArchivePages | None = None
    section_pages: SectionPages | None = None
    schedule: str = "@daily"
    politeness: Politeness = Politeness()
    network: Network = Network()
    noise: Noise = Noise()
    expected_daily_volume: Annotated[int, Field(ge=0)] = 0
    alerts: Alerts = Alerts()
    rules_version: Annotated[int, Field(ge=1)] = 1
    # ages after publication at which an archived article is captured again, as 1h or 7d
    # (spiders/revisit.py); what a revisit finds becomes takedown or edit events (pipeline/events.py)
    revisit_after: list[str] = []
    # revisits per run at most, youngest age mark first; the rest wait (reported as deferred)
    revisit_budget: Annotated[int, Field(ge=0, le=100_000)] = 200

    @field_validator("revisit_after")
    @classmethod
    def _ages(cls, v: list[str]) -> list[str]:
        for age in v:
            parse_age(age)  # its ValueError names the accepted forms
        return v

    @property
    def revisit_ages(self) -> list[timedelta]:
        return [parse_age(a) for a in self.revisit_after]

    @field_validator("domains", "mirrors")
    @classmethod
    def _domains(cls, v: list[str]) -> list[str]:
        for d in v:
            if not re.match(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", d) or ".." in d:
                raise ValueError(f"{d!r} is not a host name")
        return v

    @model_validator(mode="after")
    def _start_points(self) -> Profile:
        if not (self.feeds or self.sitemaps or self.wordpress_api or self.archive_pages or self.section_pages):
            raise ValueError(
                "a profile needs at least one feed, sitemap, WordPress API, archive page pattern or section page"
            )
        archive = [self.archive_pages.url.format(year=2000, month=1, day=1)] if self.archive_pages else []
        sections = self.section_pages.urls if self.section_pages else []
        api = [self.wordpress_api] if self.wordpress_api else []
        for url in [*self.feeds, *self.sitemaps, *api, *archive, *sections]:
            if not self.allows(str(url)):
                raise ValueError(f"start point {url} is outside the profile's domains {self.domains}")
            if not self.allows_port(str(url)):
                raise ValueError(f"start point {url} uses a port outside network.ports {self.network.ports}")
        return self

    def allows(self, url: str) -> bool:
        """True if the URL's host is one of the domains or mirrors, or a subdomain of one."""
        from urllib.parse import urlsplit

        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in (*self.domains, *self.mirrors))

    def allows_port(self, url: str) -> bool:
        """True if the URL's port (its scheme's default when none is written) is one the profile names."""
        from spiders.addresses import url_port

        return url_port(url) in self.network.ports

    def in_sections(self, url: str) -> bool:
        """True if the URL's path is under one of the sections (always, when none are declared)."""
        from urllib.parse import urlsplit

        path = urlsplit(url).path or "/"
        return not self.sections or any(path.startswith(prefix) for prefix in self.sections)

    def url_key(self, url: str) -> str:
        """What identifies an article URL of this source (see spiders/urls.py)."""
        from spiders.urls import url_key

        return url_key(url, self.domains[0], self.mirrors)

    @property
    def start_points(self) -> list[tuple[str, str]]:
        return [("feed", str(u)) for u in self.feeds] + [("sitemap", str(u)) for u in self.sitemaps]


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def load_profile(path: Path) -> Profile:
    """Load and validate one profile file; errors name the file and the field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile must be a mapping of fields, got {type(data).__name__}")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"field '{_where(e['loc'])}': {e['msg']}" for e in exc.errors())
        raise ProfileError(f"{path}: {problems}") from None
    if profile.id != path.stem:
        raise ProfileError(f"{path}: field 'id': {profile.id!r} must match the file name {path.stem!r}")
    return profile


def load_registry(directory: Path | None = None) -> dict[str, Profile]:
    """All profiles in a directory (default: profiles_dir()), keyed by id."""
    directory = directory or profiles_dir()
    return {p.id: p for p in map(load_profile, sorted(directory.glob("*.yaml")))}


def get_profile(source_id: str, directory: Path | None = None) -> Profile:
    directory = directory or profiles_dir()
    path = directory / f"{source_id}.yaml"
    if not path.exists():
        raise ProfileError(f"no profile named {source_id!r} in {directory}")
    return load_profile(path)

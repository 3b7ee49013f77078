"""The generic news spider: one profile, one time window, every outcome logged."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urljoin

from scrapy import Request, Spider
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from spiders.canonical import NotScannable, canonical_href
from spiders.discovery import (
    WP_MAX_PAGES,
    Candidate,
    DiscoveryError,
    parse_feed,
    parse_section_page,
    parse_sitemap,
    parse_wp_posts,
    wp_posts_url,
)
from spiders.guard import AddressRefused, RedirectRefused, refusal
from spiders.profile import Profile
from spiders.urls import clean_url
from storage.errors import ArchiveError
from storage.warcread import DEFAULT_MAX_BODY, decode_body

MAX_SITEMAP_DEPTH = 5


def _not_modified(response: Response) -> str | None:
    """The crawl-log reason of a feed or sitemap fetch answered 304."""
    return "not modified (304): the archived body parsed again" if response.status == 304 else None


LISTING_CAP = 1000  # feeds and news sitemaps; a listing longer than this is not recorded entry by entry


def _listed(candidates: list[Candidate]) -> dict[str, Any]:
    """A feed's or a small sitemap's entries, as listed (address, date), for the crawl log:
    an article that vanishes from a listing that still holds its neighbours is a possible
    takedown (pipeline/events.py). Long sitemaps (archives of years) are left out."""
    if len(candidates) > LISTING_CAP:
        return {}
    return {"listed": [[clean_url(c.url), c.published.isoformat() if c.published else None] for c in candidates]}


class CrawlLog:
    """JSON lines, one per URL outcome: archived, skipped or failed, with a reason.

    Buffered, not flushed per row: the log is read only after the crawl process exits
    cleanly (a crawl that dies is discarded whole), and closing it flushes."""

    def __init__(self, path: Path):
        self._fh = path.open("a", encoding="utf-8")

    def write(self, url: str, outcome: str, reason: str | None = None, **extra: Any) -> None:
        row = {"url": url, "outcome": outcome, "reason": reason, **extra}
        self._fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")

    def close(self) -> None:
        self._fh.close()


class _Canonical(NamedTuple):
    outcome: str  # duplicate | deferred | untrusted
    canonical: str  # the page's rel=canonical, absolute
    same_as: str | None = None  # the address archived (or scheduled) under that canonical
    why: str = ""


class NewsSpider(Spider):
    name = "news"

    def __init__(
        self,
        profile: Profile,
        start: datetime,
        end: datetime,
        crawl_log: Path,
        known_urls: set[str],
        max_articles: int | None = None,
        revisits: dict[str, str] | None = None,
        validators: dict[str, dict[str, Any]] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.profile = profile
        self.window = (start, end)
        self.log_file = CrawlLog(crawl_log)
        self.known = {profile.url_key(u) for u in known_urls}
        self.max_articles = max_articles
        self.seen: dict[str, str] = {}  # url key -> the first URL discovered with it
        self.listed: set[str] = set()  # every address as discovery listed it
        self.scheduled = 0
        self.seen_sitemaps: set[str] = set()
        self.revisits = revisits or {}  # archived URL -> published: fetched again whatever the window
        self.pending: set[str] = set()  # article URLs scheduled and not yet given an outcome
        self.fetched: dict[str, str] = {}  # url key of each address archived as an article in this run -> its URL
        # pages skipped for a canonical scheduled in this run: archived at the end if it was not
        self.deferred: dict[str, tuple[str, dict[str, Any]]] = {}  # URL -> (its canonical, its log fields)
        self.validators = validators or {}  # feed/sitemap URL -> conditional headers, previous body file

    async def start(self) -> AsyncIterator[Request]:
        for url, published in sorted(self.revisits.items()):
            self.seen[self.profile.url_key(url)] = url  # discovery must not schedule (or skip) it again
            self.listed.add(url)
            meta = {"kind": "article", "via": "revisit", "via_kind": "revisit", "discovered_date": published}
            self.pending.add(url)
            yield Request(url, callback=self.parse_article, errback=self.failed, meta=meta, dont_filter=True)
        for kind, url in self.profile.start_points:
            self.seen_sitemaps.add(url)
            callback = self.parse_feed if kind == "feed" else self.parse_sitemap
            yield self._conditional(
                Request(url, callback=callback, errback=self.failed, meta={"kind": kind, "depth": 0}, dont_filter=True)
            )
        if self.profile.archive_pages:
            day, last = self.window[0].astimezone(UTC).date(), (self.window[1] - timedelta(microseconds=1)).date()
            while day <= last:
                url = self.profile.archive_pages.url.format(year=day.year, month=day.month, day=day.day)
                day_meta: dict[str, Any] = {"kind": "archive-page", "page": 1, "day": day.isoformat()}
                yield Request(url, callback=self.parse_archive_page, errback=self.failed, meta=day_meta)
                day += timedelta(days=1)
        if self.profile.section_pages:
            for section in map(str, self.profile.section_pages.urls):
                section_meta = {"kind": "section-page", "page": 1, "section": section}
                yield Request(section, callback=self.parse_section_page, errback=self.failed, meta=section_meta)
        if self.profile.wordpress_api:
            url = wp_posts_url(str(self.profile.wordpress_api), *self.window)
            yield Request(url, callback=self.parse_wp_api, errback=self.failed, meta={"kind": "wp-api", "page": 1})

    # ---- discovery ----
    def _discovery_failed(self, response: Response, exc: Exception) -> None:
        self.log_file.write(response.url, "failed", str(exc), kind=response.meta.get("kind"))

    def _conditional(self, request: Request) -> Request:
        """With the validators of the last archived response, and 304 let through to the callback."""
        known = self.validators.get(request.url)
        if not known:
            return request
        request.headers.update(known["headers"])
        request.meta["handle_httpstatus_list"] = [304]
        return request

    def _fetched(self, response: Response) -> dict[str, Any]:
        """Crawl-log fields of a feed or sitemap fetch: validators and WARC location."""
        h = response.headers
        out = {
            "etag": (h.get("ETag") or b"").decode("latin-1") or None,
            "last_modified": (h.get("Last-Modified") or b"").decode("latin-1") or None,
            **self._warc(response),
        }
        if response.status == 304:
            out["not_modified"] = True
        return out

    def _body(self, response: Response) -> bytes:
        if response.status == 304:  # not modified: the body archived last time, read back by the runner
            return Path(self.validators[response.url]["body_file"]).read_bytes()
        body = response.body
        if body[:2] == b"\x1f\x8b":  # a .xml.gz sitemap served as a file, not content-encoded
            try:  # within the download cap: a small .gz must not inflate to gigabytes
                body = decode_body(body, "gzip", self.crawler.settings.getint("DOWNLOAD_MAXSIZE") or DEFAULT_MAX_BODY)
            except ArchiveError as exc:
                raise DiscoveryError(str(exc)) from None
        return body

    def parse_feed(self, response: Response) -> Iterator[Request]:
        try:
            candidates = parse_feed(self._body(response), response.url)
        except DiscoveryError as exc:
            self._discovery_failed(response, exc)
            return
        self.log_file.write(
            response.url,
            "fetched",
            _not_modified(response),
            kind="feed",
            entries=len(candidates),
            **_listed(candidates),
            **self._fetched(response),
        )
        yield from self.consider(candidates)

    def parse_archive_page(self, response: Response) -> Iterator[Request]:
        """A day's archive page: its article links (dated to that day) and the next page."""
        pattern = self.profile.archive_pages
        assert pattern is not None
        day = datetime.fromisoformat(response.meta["day"]).replace(tzinfo=UTC)
        links = [response.urljoin(h) for h in response.css(f"{pattern.link_selector}::attr(href)").getall()]
        candidates = [Candidate(u, day, None, response.url, "archive-page") for u in dict.fromkeys(links)]
        self.log_file.write(
            response.url, "fetched", None, kind="archive-page", entries=len(candidates), **self._warc(response)
        )
        nxt = response.css(f"{pattern.next_selector}::attr(href)").get() if pattern.next_selector else None
        if nxt:
            yield from self._next_page(response, response.urljoin(nxt), pattern.max_pages, self.parse_archive_page)
        yield from self.consider(candidates)

    def _next_page(
        self, response: Response, url: str, max_pages: int, callback: Callable[[Response], Iterator[Request]]
    ) -> Iterator[Request]:
        """The next page of a paginated listing, unless the profile's page cap is reached (recorded)."""
        page = response.meta["page"]
        if page < max_pages:
            yield Request(url, callback=callback, errback=self.failed, meta={**response.meta, "page": page + 1})
        else:
            reason = f"pagination beyond {max_pages} pages not followed"
            self.log_file.write(url, "skipped", reason, kind=response.meta["kind"])

    def parse_section_page(self, response: Response) -> Iterator[Request]:
        """A page of a section listing (newest first): its dated links, and the next page while
        the listing has not yet reached articles older than the window."""
        pattern = self.profile.section_pages
        assert pattern is not None
        if not isinstance(response, TextResponse):
            self._discovery_failed(response, DiscoveryError(f"{response.url}: not an HTML listing"))
            return
        listing = parse_section_page(
            response.text,
            response.url,
            pattern.item_selector,
            pattern.link_selector,
            pattern.date_selector,
            pattern.next_selector,
        )
        self.log_file.write(
            response.url,
            "fetched",
            None,
            kind="section-page",
            entries=len(listing.candidates),
            oldest=listing.oldest,
            **self._warc(response),
        )
        if listing.next_url and listing.oldest is not None and listing.oldest < self.window[0]:
            reason = "the listing has reached articles older than the window"
            self.log_file.write(listing.next_url, "skipped", reason, kind="section-page")
        elif listing.next_url:
            yield from self._next_page(response, listing.next_url, pattern.max_pages, self.parse_section_page)
        yield from self.consider(listing.candidates)

    def parse_wp_api(self, response: Response) -> Iterator[Request]:
        """One page of the WordPress REST API; the first page schedules the others (X-WP-TotalPages)."""
        try:
            candidates = parse_wp_posts(self._body(response), response.url)
        except DiscoveryError as exc:
            self._discovery_failed(response, exc)
            return
        page = response.meta["page"]
        total = int((response.headers.get("X-WP-TotalPages") or b"1").decode() or 1)
        self.log_file.write(
            response.url, "fetched", None, kind="wp-api", entries=len(candidates), pages=total, **self._warc(response)
        )
        if page == 1:
            if total > WP_MAX_PAGES:
                self.log_file.write(
                    response.url, "skipped", f"pages {WP_MAX_PAGES + 1}..{total} beyond the cap", kind="wp-api"
                )
            api = str(self.profile.wordpress_api)
            for n in range(2, min(total, WP_MAX_PAGES) + 1):
                yield Request(
                    wp_posts_url(api, *self.window, page=n),
                    callback=self.parse_wp_api,
                    errback=self.failed,
                    meta={"kind": "wp-api", "page": n},
                )
        yield from self.consider(candidates)

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
        try:
            page = parse_sitemap(self._body(response), response.url)
        except (DiscoveryError, OSError) as exc:
            self._discovery_failed(response, DiscoveryError(str(exc)))
            return
        self.log_file.write(
            response.url,
            "fetched",
            _not_modified(response),
            kind="sitemap",
            children=len(page.children),
            entries=len(page.candidates),
            **_listed(page.candidates),
            **self._fetched(response),
        )
        depth = response.meta.get("depth", 0) + 1
        for ref in page.children:
            child = ref.url
            if child in self.seen_sitemaps:
                self.log_file.write(child, "skipped", "sitemap already visited (loop)", kind="sitemap")
            elif depth > MAX_SITEMAP_DEPTH:
                self.log_file.write(
                    child, "skipped", f"sitemap nesting deeper than {MAX_SITEMAP_DEPTH}", kind="sitemap"
                )
            elif refused := refusal(self.profile, child):
                self.log_file.write(child, "skipped", refused, kind="sitemap")
            elif self.profile.trust_sitemap_lastmod and ref.modified_by and ref.modified_by <= self.window[0]:
                # an article published in the window would have changed it after the window began
                reason = "last modified before the window began: it cannot list the window's articles"
                self.log_file.write(child, "skipped", reason, kind="sitemap", lastmod=ref.modified_by)
            else:
                self.seen_sitemaps.add(child)
                yield self._conditional(
                    Request(
                        child,
                        callback=self.parse_sitemap,
                        errback=self.failed,
                        meta={"kind": "sitemap", "depth": depth},
                    )
                )
        yield from self.consider(page.candidates)

    def _in_window(self, c: Candidate) -> bool:
        start, end = self.window
        assert c.published is not None
        if c.via_kind == "archive-page":  # dated to the day only: the day overlaps the window
            return c.published < end and c.published + timedelta(days=1) > start
        return start <= c.published < end

    def consider(self, candidates: list[Candidate]) -> Iterator[Request]:
        for found in candidates:
            if found.url in self.listed:
                continue  # the same address listed again (feed and sitemap): one outcome is enough
            self.listed.add(found.url)
            c = replace(found, url=clean_url(found.url))  # tracking parameters and fragment removed
            key = self.profile.url_key(c.url)
            extra = {"kind": "article", "via": c.via, "published": c.published, "listed_title": c.title}
            if key in self.seen:  # another address of an article already discovered
                reason = "duplicate of a URL already discovered in this run"
                self.log_file.write(found.url, "skipped", reason, same_as=self.seen[key], **extra)
                continue
            self.seen[key] = c.url
            refused = refusal(self.profile, c.url)
            if refused:
                self.log_file.write(c.url, "skipped", refused, **extra)
            elif not self.profile.in_sections(c.url):
                self.log_file.write(
                    c.url, "skipped", f"outside the source's sections ({', '.join(self.profile.sections)})", **extra
                )
            elif c.published is None:
                self.log_file.write(c.url, "skipped", "no publication date to place it in the window", **extra)
            elif not self._in_window(c):
                self.log_file.write(c.url, "skipped", "published outside the window", **extra)
            elif key in self.known:
                self.log_file.write(c.url, "skipped", "already archived", in_window=True, **extra)
            elif self.max_articles is not None and self.scheduled >= self.max_articles:
                self.log_file.write(
                    c.url, "skipped", f"article cap of {self.max_articles} reached", in_window=True, **extra
                )
            else:
                self.scheduled += 1
                self.pending.add(c.url)
                # not filtered: self.seen already dedupes, and the dupefilter would silently drop
                # the second hop of a redirect loop, leaving the URL without an outcome
                yield Request(
                    c.url,
                    dont_filter=True,
                    callback=self.parse_article,
                    errback=self.failed,
                    meta={
                        "kind": "article",
                        "via": c.via,
                        "via_kind": c.via_kind,
                        "discovered_date": c.published.isoformat(),
                        "listed_title": c.title,
                    },
                )

    # ---- articles ----
    def _warc(self, response: Response) -> dict[str, Any]:
        return dict(response.meta.get("warc_record") or {})

    def _canonical_of(self, response: Response) -> str | None:
        """The page's rel=canonical, absolute, or None."""
        href = None
        if isinstance(response, TextResponse):
            try:
                href = canonical_href(response.body, response.encoding)
            except NotScannable:
                href = response.xpath('//link[@rel="canonical"]/@href').get()
        return urljoin(response.url, href.strip()) if href and href.strip() else None

    def _canonical_verdict(self, requested: str, response: Response) -> _Canonical | None:
        """What this page's rel=canonical says of it; None when it names nothing else.

        Discovery folds addresses it can compare (tracking parameters, mirrors); only the page
        itself can say that two different paths are one article. A canonical is trusted only
        when it names a page of this source that is itself fetched as an article: archived in
        this run or before ("duplicate"), or scheduled in this run ("deferred": decided when
        the crawl ends, the page archived after all if that fetch archives nothing). A
        canonical naming the home page, a section or a page never fetched keeps nothing out
        ("untrusted": recorded, the page archived).
        """
        target = self._canonical_of(response)
        if target is None:
            return None
        key = self.profile.url_key(target)
        own = {self.profile.url_key(requested), self.profile.url_key(response.url)}
        if key in own or refusal(self.profile, target):  # itself, or another site's page
            return None
        if key in self.fetched:
            return _Canonical("duplicate", target, self.fetched[key], "its rel=canonical was archived in this run")
        if key in self.known:
            return _Canonical("duplicate", target, key, "its rel=canonical is already archived")
        scheduled = self.seen.get(key)
        if scheduled is not None and scheduled in self.pending:
            return _Canonical("deferred", target, scheduled)
        return _Canonical("untrusted", target)

    def parse_article(self, response: Response) -> None:
        requested = (response.meta.get("redirect_urls") or [response.url])[0]
        self.pending.discard(requested)
        revisit = response.meta.get("via") == "revisit"
        fields: dict[str, Any] = {
            "kind": "article",
            "in_window": not revisit,
            "published": response.meta.get("discovered_date"),
            "final_url": response.url,
            "status": response.status,
            "via": response.meta.get("via"),
            "listed_title": response.meta.get("listed_title"),
            **self._warc(response),
        }
        verdict = None if revisit or response.status != 200 else self._canonical_verdict(requested, response)
        if verdict and verdict.outcome == "deferred":
            self.deferred[requested] = (verdict.canonical, fields)  # written once the canonical's fetch is over
            return
        if verdict and verdict.outcome == "duplicate":
            # the response stays in the WARC (raw is raw); it is not archived as an article again
            self.log_file.write(requested, "skipped", verdict.why, same_as=verdict.same_as, duplicate=True, **fields)
            return
        if verdict:
            fields["canonical_not_trusted"] = verdict.canonical  # names no page fetched as an article
        self._archived(requested, response.url)
        self.log_file.write(requested, "archived", "revisit" if revisit else None, **fields)

    def _archived(self, requested: str, final: str) -> None:
        for key in (self.profile.url_key(requested), self.profile.url_key(final)):
            self.fetched.setdefault(key, requested)

    def failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        kind = request.meta.get("kind")
        requested = (request.meta.get("redirect_urls") or [request.url])[0]
        self.pending.discard(requested)
        scope = (
            {
                "in_window": request.meta.get("via") != "revisit",
                "published": request.meta.get("discovered_date"),
                "via": request.meta.get("via"),  # a failed revisit may be a takedown (pipeline/events.py)
            }
            if kind == "article"
            else {}
        )
        error = failure.value
        if isinstance(error, HttpError) and error.response.status == 404 and kind == "archive-page":
            # WordPress answers a day without posts with 404: not a discovery failure; the
            # day's coverage (nothing discovered) still flags it if posts were expected
            reason = "no archive page for the day (HTTP 404, as WordPress answers a day without posts)"
            self.log_file.write(request.url, "skipped", reason, kind=kind, status=404, **self._warc(error.response))
        elif isinstance(error, HttpError):
            response = error.response
            self.log_file.write(
                requested,
                "failed",
                request.meta.get("gave_up") or f"HTTP {response.status}",
                kind=kind,
                status=response.status,
                **scope,
                **self._warc(response),
            )
        elif isinstance(error, (RedirectRefused, AddressRefused)):
            hops = [*request.meta.get("redirect_urls", []), request.url]
            self.log_file.write(requested, "failed", str(error), kind=kind, redirect_chain=hops, **scope)
        elif isinstance(error, IgnoreRequest) and "redirect" in str(error):
            hops = [*request.meta.get("redirect_urls", []), request.url]
            loop = len(set(hops)) < len(hops)
            reason = f"redirect loop ({len(hops)} hops)" if loop else f"too many redirects ({len(hops)} hops)"
            self.log_file.write(requested, "failed", reason, kind=kind, **scope)
        elif isinstance(error, IgnoreRequest):
            reason = str(error) or "ignored"
            if "robots.txt" in reason.lower():
                reason = "disallowed by robots.txt"
            self.log_file.write(requested, "skipped", reason, kind=kind, **scope)
        elif isinstance(error, DownloadCancelledError):
            cap = self.crawler.settings.getint("DOWNLOAD_MAXSIZE")
            reason = f"larger than the download cap of {cap // 2**20} MB, not downloaded"
            self.log_file.write(requested, "failed", reason, kind=kind, **scope)
        else:
            reason = f"{type(error).__name__}: {failure.getErrorMessage()}"
            self.log_file.write(requested, "failed", reason, kind=kind, **scope)

    def closed(self, reason: str) -> None:
        for url, (canonical, fields) in sorted(self.deferred.items()):
            key = self.profile.url_key(canonical)
            if key in self.fetched:
                why = "its rel=canonical was archived in this run"
                self.log_file.write(url, "skipped", why, same_as=self.fetched[key], duplicate=True, **fields)
            else:  # the canonical's own fetch archived nothing: this page is the article
                self.log_file.write(url, "archived", None, canonical_not_trusted=canonical, **fields)
        # a request Scrapy dropped without calling back must still leave a trace
        for url in sorted(self.pending):
            self.log_file.write(url, "failed", f"no response before the crawl ended ({reason})", kind="article")
        self.log_file.close()

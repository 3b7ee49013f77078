"""The CDX server API's rules, pure: parameters to a query, captures to lines.

Two originals, each followed on its own route:
- pywb (`/web/cdx`): fields `url`, `mime`, `status`; `output=json` writes one JSON object a
  line; without `fl` the text form is CDXJ (`urlkey timestamp {json}`); a page past the
  last answers 400 (cdx_toolkit takes that as the end); no `collapse`.
- the Wayback Machine (`/cdx/search/cdx`): fields `original`, `mimetype`, `statuscode`;
  `output=json` writes one JSON array with a header row; the text form is space-separated
  (7 fields unless `fl`); `collapse` drops adjacent repeats; a page past the last is empty.

Both take `url` (a trailing `*` means prefix, a leading `*.` domain), `matchType` (exact,
prefix, host, domain), `from`/`to` (1-14 digit timestamps), `limit` (negative: the last n),
`sort` (`reverse`, `closest` with `closest=`), `filter` (`field:regex`, `!field:regex`,
`~field:substring`, repeatable), `fl`, `output`, and the paging parameters `page`,
`pageSize` (lines a page, here) and `showNumPages`. Keys are SURTs (the `surt` library, the
Internet Archive's own). Anything malformed is BadQuery (a 400 naming the parameter).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from researcher.wayback import timestamps

# Every field a line can carry, by its canonical (pywb) name. The last four are this archive's.
FIELDS = (
    "urlkey",
    "timestamp",
    "url",
    "mime",
    "status",
    "digest",
    "length",
    "offset",
    "filename",
    "capture_id",
    "source",
    "capture_status",
    "text_digest",
)
MATCH_TYPES = ("exact", "prefix", "host", "domain")
PAGE_SIZE = 1000  # lines a page when the client names none
MAX_PAGE_SIZE = 10_000
MAX_LIMIT = 100_000  # lines one request returns at most


class BadQuery(ValueError):
    """A CDX request the server will not answer: the message names the parameter."""


@dataclass(frozen=True)
class Dialect:
    name: str
    names: Mapping[str, str]  # canonical field -> this dialect's name
    default_fl: tuple[str, ...]  # the text form's fields when `fl` is not given
    collapse: bool  # whether `collapse` is honoured

    def external(self, canonical: str) -> str:
        return self.names.get(canonical, canonical)

    def canonical(self, name: str) -> str:
        """A field named in a request: either original's name is taken on either route (clients
        such as cdx_toolkit send pywb's names to any endpoint that is not the Internet Archive)."""
        canonical = ALIASES.get(name, name)
        if canonical in FIELDS:
            return canonical
        known = ", ".join(self.external(f) for f in FIELDS)
        raise BadQuery(f"unknown field {name!r} (known: {known})")


ALIASES = {"original": "url", "mimetype": "mime", "statuscode": "status"}
PYWB = Dialect("pywb", {}, FIELDS[:9], collapse=False)
WAYBACK = Dialect(
    "wayback",
    {"url": "original", "mime": "mimetype", "status": "statuscode"},
    FIELDS[:7],
    collapse=True,
)


@dataclass(frozen=True)
class Filter:
    field: str  # canonical
    pattern: str
    negate: bool = False
    substring: bool = False

    def accepts(self, line: Mapping[str, str]) -> bool:
        value = line.get(self.field, "")
        hit = self.pattern in value if self.substring else re.search(self.pattern, value) is not None
        return hit != self.negate


@dataclass
class CdxQuery:
    dialect: Dialect
    url: str
    match: str
    key: str  # the SURT (exact), or the SURT prefix
    low: str = ""  # the key range a store scans: low <= key < high
    high: str = ""
    start: datetime | None = None
    end: datetime | None = None
    limit: int | None = None
    reverse: bool = False
    closest: datetime | None = None
    filters: list[Filter] = field(default_factory=list)
    fl: tuple[str, ...] = ()  # canonical names; () = the dialect's default
    collapse: list[tuple[str, int | None]] = field(default_factory=list)
    output_json: bool = False
    page: int | None = None
    page_size: int = PAGE_SIZE
    show_num_pages: bool = False


def surt_of(url: str) -> str:
    """The SURT key of a URL (scheme, `www.` and fragment dropped, query sorted)."""
    if "://" not in url.split("?", 1)[0]:
        url = "http://" + url  # a bare host (and port) is what CDX clients send; the scheme is not keyed
    import surt  # not at import time: it loads tldextract (~0.5 s), which every command would pay

    try:
        return str(surt.surt(url))
    except (ValueError, IndexError, UnicodeError) as exc:
        raise BadQuery(f"url {url!r} cannot be keyed: {exc}") from None


def key_range(url: str, match: str) -> tuple[str, str, str]:
    """(key, low, high) for a URL and match type: the rows with low <= urlkey < high."""
    if match == "exact":
        key = surt_of(url)
        return key, key, key + "\x00"
    if match == "prefix":
        key = surt_of(url)
        return key, key, key + "\U0010ffff"
    host = surt_of(url).split(")", 1)[0]  # "com,example" of any URL on that host
    if match == "host":
        return host + ")/", host + ")", host + "*"  # ")" then "/": the host itself, no subdomain
    return host, host + ")", host + "-"  # domain: "com,example)" and "com,example,<sub>" (")" < "," < "-")


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name) or []
    return values[-1] if values else None


def _int(params: Mapping[str, Sequence[str]], name: str, low: int, high: int) -> int | None:
    text = _one(params, name)
    if text in (None, ""):
        return None
    try:
        value = int(text)  # type: ignore[arg-type]
    except ValueError:
        raise BadQuery(f"{name}={text!r} is not a whole number") from None
    if not low <= value <= high:
        raise BadQuery(f"{name}={value} is out of range ({low}..{high})")
    return value


def parse(params: Mapping[str, Sequence[str]], dialect: Dialect) -> CdxQuery:
    """A CDX request's parameters (each name's values, in order) as a query."""
    url = (_one(params, "url") or "").strip()
    if not url:
        raise BadQuery("url is required (url=example.com/page, or with * for a prefix)")
    match = (_one(params, "matchType") or "").strip() or "exact"
    if url.startswith("*."):
        url, match = url[2:], "domain"
    elif url.endswith("*"):
        url, match = url[:-1], "prefix"
    if match not in MATCH_TYPES:
        raise BadQuery(f"matchType={match!r}: one of {', '.join(MATCH_TYPES)}")
    key, low, high = key_range(url, match)
    q = CdxQuery(dialect, url, match, key, low, high)
    try:
        if (text := _one(params, "from")) not in (None, ""):
            q.start = timestamps.parse(str(text))
        if (text := _one(params, "to")) not in (None, ""):
            q.end = timestamps.parse(str(text), end=True)
    except timestamps.BadTimestamp as exc:
        raise BadQuery(f"from/to: {exc}") from None
    limit = _int(params, "limit", -MAX_LIMIT, MAX_LIMIT)
    if limit is not None and limit < 0:
        q.reverse, limit = True, -limit
    q.limit = limit
    sort = (_one(params, "sort") or "").strip()
    if sort == "reverse":
        q.reverse = not q.reverse
    elif sort == "closest":
        closest = _one(params, "closest")
        if not closest:
            raise BadQuery("sort=closest needs closest=<timestamp>")
        if match != "exact":
            raise BadQuery("sort=closest needs matchType=exact (captures of one URL)")
        try:
            q.closest = timestamps.parse(closest)
        except timestamps.BadTimestamp as exc:
            raise BadQuery(f"closest: {exc}") from None
    elif sort not in ("", "default", "regular"):
        raise BadQuery(f"sort={sort!r}: reverse or closest (or none)")
    for spec in params.get("filter") or []:
        q.filters.append(_filter(spec, dialect))
    if fl := (_one(params, "fl") or "").strip():
        q.fl = tuple(dialect.canonical(f.strip()) for f in fl.split(",") if f.strip())
    if dialect.collapse:
        for spec in params.get("collapse") or []:
            name, _, width = spec.partition(":")
            if width and not width.isdigit():
                raise BadQuery(f"collapse={spec!r}: field or field:number")
            q.collapse.append((dialect.canonical(name.strip()), int(width) if width else None))
    output = (_one(params, "output") or "").strip().lower()
    if output not in ("", "json", "text", "cdxj"):
        raise BadQuery(f"output={output!r}: json or text")
    q.output_json = output == "json"
    q.page = _int(params, "page", 0, 1_000_000)
    q.page_size = _int(params, "pageSize", 1, MAX_PAGE_SIZE) or PAGE_SIZE
    q.show_num_pages = (_one(params, "showNumPages") or "").lower() in ("true", "1", "yes")
    return q


def _filter(spec: str, dialect: Dialect) -> Filter:
    negate = spec.startswith("!")
    substring = spec.lstrip("!").startswith("~")
    body = spec.lstrip("!").lstrip("~")
    name, sep, pattern = body.partition(":")
    if not sep or not name:
        raise BadQuery(f"filter={spec!r}: field:regex, !field:regex or ~field:substring")
    if not substring:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise BadQuery(f"filter={spec!r}: not a regular expression ({exc})") from None
        if len(pattern) > 200:
            raise BadQuery(f"filter={spec[:40]!r}...: a pattern of at most 200 characters")
    return Filter(dialect.canonical(name), pattern, negate, substring)


# -- lines ----------------------------------------------------------------------------------


def line_fields(row: Mapping[str, object]) -> dict[str, str]:
    """A committed capture's CDX fields, all but its urlkey (text values, "-" for none). The
    catalog keeps them per capture, so a query reads them without unpacking rows."""
    headers = json.loads(str(row.get("response_headers") or "{}"))
    mime = str(headers.get("content-type") or "").split(";")[0].strip().lower()
    digest = row.get("payload_sha256")
    offset = row.get("warc_offset")
    return {
        "timestamp": timestamps.format_ts(timestamps.from_iso(str(row["fetched_at"]))),
        "url": str(row.get("final_url") or row.get("requested_url") or ""),
        "mime": mime or "unk",
        "status": str(row.get("http_status") or "-"),
        "digest": f"sha256:{digest}" if digest else "-",
        "length": str(row.get("warc_length") or "-"),
        "offset": str(offset) if offset is not None else "-",
        "filename": str(row.get("warc_key") or "-"),
        "capture_id": str(row["capture_id"]),
        "source": str(row.get("source_id") or ""),
        "capture_status": str(row.get("status") or ""),
        "text_digest": str(row.get("text_sha256") or ""),
    }


def select(q: CdxQuery, lines: Iterable[dict[str, str]]) -> Iterator[dict[str, str]]:
    """Filtered and collapsed, in the order given (the store's key order, or reversed)."""
    last: dict[str, str] = {}
    for line in lines:
        if not all(f.accepts(line) for f in q.filters):
            continue
        if q.collapse:
            marks = {name: line.get(name, "")[:width] for name, width in q.collapse}
            if marks == last:
                continue
            last = marks
        yield line


def by_closeness(q: CdxQuery, lines: list[dict[str, str]]) -> list[dict[str, str]]:
    """Closest to q.closest first (earlier first on a tie), as sort=closest asks."""
    assert q.closest is not None
    target = q.closest

    def distance(line: dict[str, str]) -> tuple[float, str]:
        return abs((timestamps.parse(line["timestamp"]) - target).total_seconds()), line["timestamp"]

    return sorted(lines, key=distance)


def fields_of(q: CdxQuery) -> tuple[str, ...]:
    return q.fl or (FIELDS if q.output_json else q.dialect.default_fl)


def render(q: CdxQuery, lines: list[dict[str, str]]) -> tuple[str, str]:
    """(body, media type) of lines in the query's dialect and output form."""
    names = fields_of(q)
    ext = [q.dialect.external(n) for n in names]
    if q.output_json and q.dialect is WAYBACK:
        if not lines:
            return "[]\n", "application/json"
        rows = [ext, *([line.get(n, "") for n in names] for line in lines)]
        return "[" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "]\n", "application/json"
    if q.output_json:  # pywb: one object a line
        body = "".join(
            json.dumps(dict(zip(ext, (line.get(n, "") for n in names), strict=True)), ensure_ascii=False) + "\n"
            for line in lines
        )
        return body, "text/x-ndjson"
    if q.dialect is PYWB and not q.fl:  # CDXJ
        rest = [n for n in FIELDS if n not in ("urlkey", "timestamp")]
        body = "".join(
            f"{line['urlkey']} {line['timestamp']} "
            + json.dumps({n: line.get(n, "") for n in rest if line.get(n, "") != ""}, ensure_ascii=False)
            + "\n"
            for line in lines
        )
        return body, "text/x-cdxj"
    body = "".join(" ".join(_field_text(line.get(n, "")) for n in names) + "\n" for line in lines)
    return body, "text/plain"


def _field_text(value: str) -> str:
    """A space-separated field: empty is "-", and a space inside is escaped (%20), as CDX does."""
    return value.replace(" ", "%20") if value else "-"


def num_pages(q: CdxQuery, total: int) -> tuple[str, str]:
    """showNumPages: pywb answers a JSON object, the Wayback Machine a bare number."""
    pages = -(-total // q.page_size)
    if q.dialect is PYWB:
        return json.dumps({"blocks": pages, "pages": pages, "pageSize": q.page_size}) + "\n", "application/json"
    return f"{pages}\n", "text/plain"

"""The protocols' web face, installed on the reading room's app (`archive serve`):

- `/web/<timestamp>/<url>`: the capture of `url` closest to the timestamp, in the reading
  room's frame; a redirect to the capture's own timestamp when it differs (as the Wayback
  Machine and pywb do). `/web/<timestamp>mp_/<url>` is the framed page (links rewritten to
  this scheme, sandboxed), `/web/<timestamp>id_/<url>` the original bytes unmodified (payload
  digest-checked, sandboxed). Each is a Memento: `Memento-Datetime` and its `Link` header.
- `/web/<url>`: the TimeGate (Accept-Datetime, 302, `Vary: accept-datetime`).
- `/web/timemap/link/<url>`, `/web/timemap/json/<url>`: TimeMaps.
- `/web/cdx` (pywb's CDX API) and `/cdx/search/cdx` (the Wayback Machine's).

Read-only, GET and HEAD; bounded (researcher/wayback/index.py); a malformed timestamp, URL
or parameter is a 400 naming it, never a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from researcher.reader import Archive
from researcher.replay import rewrite
from researcher.wayback import cdx, index, memento, timestamps

MAX_URL = 4096
_MEMENTO = re.compile(r"^(\d{4,14})(id_|mp_|if_)?/(.*)$", re.S)
_SCHEME_SLASH = re.compile(r"^(https?):/+", re.I)


class BadRequest400(ValueError):
    """A request the protocols refuse: answered 400 with this one line."""


def archived_url(raw: str, query: str) -> str:
    """The URL a /web/ path names: its query string is the archived URL's own, and a proxy
    that merged `https://` into `https:/` is undone. Only http(s) URLs (or bare hosts)."""
    url = _SCHEME_SLASH.sub(lambda m: m.group(1).lower() + "://", raw.strip())
    if query:
        url += "?" + query
    if not url or len(url) > MAX_URL:
        raise BadRequest400(f"the archived URL must be 1 to {MAX_URL} characters")
    scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):(?!\d)", url)  # not host:port
    if scheme and scheme.group(1).lower() not in ("http", "https"):
        raise BadRequest400(f"{url[:80]!r}: only http and https URLs are archived")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise BadRequest400("the archived URL holds spaces or control characters: percent-encode them")
    cdx.surt_of(url)  # a URL the key cannot be computed for is refused here (BadQuery)
    return url


def wayback_address(row: Mapping[str, Any]) -> str:
    """A capture's citable archive address, /web/<14-digit timestamp>/<url>."""
    ts = timestamps.format_ts(timestamps.from_iso(str(row["fetched_at"])))
    return memento.memento_path(ts, str(row.get("final_url") or row.get("requested_url")))


def web_link(ts: str) -> Callable[[str], str]:
    """How links inside a page captured at `ts` are rewritten: to this scheme at that time."""
    return lambda url: memento.memento_path(ts, url)


def install(
    app: FastAPI,
    archive: Archive,
    *,
    fresh: Callable[[], None],
    page: Callable[..., HTMLResponse],
    sandboxed: Callable[..., Response],
    budget_seconds: float,
) -> None:
    get = app.api_route

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def params(request: Request) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in request.query_params.multi_items():
            out.setdefault(k, []).append(v)
        return out

    def refused(message: str, status: int = 400) -> Response:
        return PlainTextResponse(f"error: {message}\n", status_code=status)

    def answer_cdx(request: Request, dialect: cdx.Dialect) -> Response:
        fresh()
        try:
            q = cdx.parse(params(request), dialect)
        except cdx.BadQuery as exc:
            return refused(str(exc))
        with archive.catalog.budget(budget_seconds):
            found = index.query(archive.catalog, q)
        headers = {"X-Archive-Truncated": f"walked {index.MAX_SCAN} captures"} if found.truncated else {}
        if q.show_num_pages:
            body, media = cdx.num_pages(q, found.total or 0)
            return Response(body, media_type=media, headers=headers)
        if not found.lines and q.page:  # past the last page: pywb says 400, the Wayback Machine nothing
            if dialect is cdx.PYWB:
                return refused(f"page {q.page} is past the last page")
            return Response("", media_type="text/plain", headers=headers)
        if not found.lines and dialect is cdx.PYWB:
            return Response(
                json.dumps({"error": f"No Captures found for: {q.url}"}) + "\n",
                status_code=404,
                media_type="application/json",
            )
        body, media = cdx.render(q, found.lines)
        return Response(body, media_type=media, headers=headers)

    @get("/cdx/search/cdx", methods=["GET", "HEAD"])
    def wayback_cdx(request: Request) -> Response:
        """The Wayback Machine's CDX server API."""
        return answer_cdx(request, cdx.WAYBACK)

    @get("/web/{rest:path}", methods=["GET", "HEAD"])
    def web(request: Request, rest: str) -> Response:
        """pywb's CDX API, TimeMaps, mementos and the TimeGate, told apart by the path."""
        if rest == "cdx":
            return answer_cdx(request, cdx.PYWB)
        fresh()
        try:
            if rest.startswith(("timemap/link/", "timemap/json/")):
                form, raw = rest[len("timemap/") :].split("/", 1)
                return timemap(request, form, archived_url(raw, request.url.query))
            m = _MEMENTO.match(rest)
            if m:
                try:
                    timestamps.parse(m.group(1))
                except timestamps.BadTimestamp as exc:
                    raise BadRequest400(str(exc)) from None
                return replay(request, m.group(1), m.group(2) or "", archived_url(m.group(3), request.url.query))
            if re.match(r"^\d+[a-z_]*/", rest):
                raise BadRequest400(f"{rest.split('/', 1)[0]!r} is not a timestamp (4 to 14 digits, optionally id_)")
            return timegate(request, archived_url(rest, request.url.query))
        except (BadRequest400, cdx.BadQuery) as exc:
            return refused(str(exc))

    def found_or_404(request: Request, url: str) -> list[tuple[memento.Memento, str]]:
        with archive.catalog.budget(budget_seconds):
            return index.mementos(archive.catalog, url)

    def not_archived(request: Request, url: str) -> Response:
        """A URL never captured (or only as a block page): said on a page of the room, with the
        Link to its original that a Memento client reads; the live web is not reached."""
        response = page(request, "error.html", 404, message=f"{url} is not in the archive (nothing was captured there)")
        response.headers["Link"] = f'<{url}>; rel="original"'
        return response

    def timegate(request: Request, url: str) -> Response:
        pairs = found_or_404(request, url)
        if not pairs:
            return not_archived(request, url)
        wanted = request.headers.get("accept-datetime")
        try:
            target = timestamps.parse_http_date(wanted) if wanted else None
        except timestamps.BadTimestamp as exc:
            raise BadRequest400(str(exc)) from None
        ms = [m for m, _ in pairs]
        i = memento.closest(ms, target)
        return RedirectResponse(
            base(request) + memento.memento_path(ms[i].timestamp, ms[i].url),
            status_code=302,
            headers={"Vary": "accept-datetime", "Link": memento.links(base(request), url, ms, i)},
        )

    def timemap(request: Request, form: str, url: str) -> Response:
        pairs = found_or_404(request, url)
        if not pairs:
            return not_archived(request, url)
        ms = [m for m, _ in pairs]
        if form == "json":
            return Response(memento.json_timemap(base(request), url, ms), media_type="application/json")
        return Response(memento.link_timemap(base(request), url, ms), media_type="application/link-format")

    def replay(request: Request, ts: str, modifier: str, url: str) -> Response:
        pairs = found_or_404(request, url)
        if not pairs:
            return not_archived(request, url)
        ms = [m for m, _ in pairs]
        i = memento.closest(ms, timestamps.parse(ts))
        chosen, capture_id = pairs[i]
        if chosen.timestamp != ts or (modifier == "if_"):
            # the Wayback Machine's answer to an inexact timestamp: the capture's own address
            where = memento.memento_path(chosen.timestamp, chosen.url, "mp_" if modifier == "if_" else modifier)
            return RedirectResponse(base(request) + _quoted(where), status_code=302)
        headers = {
            "Memento-Datetime": timestamps.http_date(chosen.moment),
            "Link": memento.links(base(request), url, ms, i),
        }
        with archive.catalog.budget(budget_seconds):
            row = archive.locate(capture_id)  # metadata only
        if modifier == "":
            framed = page(
                request,
                "replay.html",
                row=row,
                frame=memento.memento_path(ts, chosen.url, "mp_"),
                address=base(request) + memento.memento_path(ts, chosen.url),
            )
            framed.headers.update(headers)
            return framed
        with archive.catalog.budget(budget_seconds):
            body = archive.decoded(row["capture_id"])
        ctype = replay_type(row)
        if modifier == "mp_" and ctype.startswith(("text/html", "application/xhtml")):
            body, ctype = rewrite(body, ctype, chosen.url, link=web_link(ts), top=True), "text/html; charset=utf-8"
        response = sandboxed(body, ctype)
        response.headers.update(headers)
        return response


def _quoted(path: str) -> str:
    """A redirect target: the archived URL's characters kept, anything unsafe in a header quoted."""
    return quote(path, safe="/:?&=%#;,+@!$'()*~[]")


def replay_type(row: Mapping[str, Any]) -> str:
    """The content type a replay serves: HTML, XHTML or plain text as captured; anything else
    as plain text, so an archived body is never taken for something a browser runs."""
    headers = json.loads(row.get("response_headers") or "{}")
    ctype = str(headers.get("content-type") or "text/html")
    if not re.match(r"(text/html|application/xhtml\+xml|text/plain)\b", ctype):
        return "text/plain; charset=utf-8"
    return ctype

"""Pure parts of politeness and bad-input handling: Retry-After values, non-page payloads."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from extract.document import not_a_page
from spiders.politeness import parse_retry_after
from spiders.proxy import redact

NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (b"0", 0.0),
        (" 5 ", 5.0),
        ("Mon, 23 Nov 2026 10:01:30 GMT", 90.0),  # an HTTP-date
        ("Mon, 23 Nov 2026 09:00:00 GMT", 0.0),  # already past: no wait
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | bytes | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    ("body", "content_type", "what"),
    [
        (b"%PDF-1.4 ...", "application/pdf", "application/pdf"),
        (b"%PDF-1.4 ...", "text/html", "PDF (text/html)"),  # mislabelled: the bytes tell
        (b"\x89PNG\r\n\x1a\n....", None, "PNG image (no content type)"),
        (b"\xff\xd8\xff\xe0....", "image/jpeg", "image/jpeg"),
        (b"<html><body><p>Texte</p></body></html>", "text/html; charset=utf-8", None),
        (b"<html>...</html>", "application/octet-stream", None),  # a lazy server: judged as HTML
        ("<html>...</html>", "video/mp4", "video/mp4"),
    ],
)
def test_not_a_page(body: bytes | str, content_type: str | None, what: str | None) -> None:
    assert not_a_page(body, content_type) == what


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("via http://user:pw@proxy.example:3128 failed", "via http://***@proxy.example:3128 failed"),
        ("socks5h://u:p@10.0.0.1:1080", "socks5h://***@10.0.0.1:1080"),
        ("https://www.rt.com/news/1-x/", "https://www.rt.com/news/1-x/"),  # nothing to hide
        ("mailto:someone@example.org", "mailto:someone@example.org"),
    ],
)
def test_redact_hides_credentials_in_urls(text: str, redacted: str) -> None:
    assert redact(text) == redacted


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("http://u:p@proxy.example:3128", None),
        ("socks5h://u:p@exit.example:1080", None),
        ("socks4://exit.example:1080", "must be a proxy URL (http://, https://, socks5://, socks5h://), got 'socks4:"),
        ("ftp://u:secret@proxy.example", "got 'ftp://***@proxy.example'"),  # credentials redacted in the error
        ("", "$TEST_PROXY is not set"),
    ],
)
def test_proxy_url_schemes(value: str, error: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    from spiders.proxy import proxy_url
    from storage.errors import PermanentError

    monkeypatch.setenv("TEST_PROXY", value)
    if error is None:
        assert proxy_url("TEST_PROXY") == value
    else:
        with pytest.raises(PermanentError, match=re.escape(error)):
            proxy_url("TEST_PROXY")

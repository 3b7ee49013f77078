"""Canonical URLs: one article, one identity, whatever address it was listed under."""

from __future__ import annotations

import pytest

from spiders.urls import clean_url, url_key

MIRRORS = ("rtde.site", "rtde.live")


@pytest.mark.parametrize(
    ("url", "cleaned"),
    [
        ("https://de.rt.com/a/1-x/?utm_source=rss&utm_medium=feed", "https://de.rt.com/a/1-x/"),
        ("https://de.rt.com/a/1-x/#comments", "https://de.rt.com/a/1-x/"),
        ("HTTPS://WWW.AA.COM.TR:443/fr/monde/x/123", "https://www.aa.com.tr/fr/monde/x/123"),
        ("https://www.rt.com/news/1-x/?fbclid=abc&at_medium=rss", "https://www.rt.com/news/1-x/"),
        ("https://site.example/?p=123&utm_campaign=x", "https://site.example/?p=123"),  # ?p= is the article
        ("https://site.example/x?b=2&a=1", "https://site.example/x?a=1&b=2"),
        ("file:///etc/passwd", "file:///etc/passwd"),  # not ours to rewrite: the spider refuses it
        ("  https://site.example/x  ", "https://site.example/x"),
    ],
)
def test_clean_url(url: str, cleaned: str) -> None:
    assert clean_url(url) == cleaned


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://rtde.site/international/1-x/?utm_source=tg", "https://de.rt.com/international/1-x/"),
        ("https://rtde.live/international/1-x/", "https://de.rt.com/international/1-x/"),
        ("https://de.rt.com/international/1-x/", "https://de.rt.com/international/1-x/"),
        ("https://other.example/international/1-x/", "https://other.example/international/1-x/"),
    ],
)
def test_mirrors_fold_onto_the_primary_domain(url: str, key: str) -> None:
    assert url_key(url, "de.rt.com", MIRRORS) == key

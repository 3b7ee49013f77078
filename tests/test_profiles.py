"""The source registry: every shipped profile is valid; a broken one names file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from spiders.profile import PROFILES_DIR, Profile, ProfileError, load_profile, load_registry

GOOD = """id: {id}
name: Test
language: fr
domains: [example.org]
feeds: [https://example.org/feed/]
"""


def test_registry_has_every_target_outlet() -> None:
    reg = load_registry()
    assert set(reg) == {
        *("rt_en", "rt_fr", "rt_es", "rt_de", "sputnik_global", "sputnik_fr", "aa_fr", "aa_en", "aa_tr"),
        *("trt_world", "trt_fr", "antiwar_news", "antiwar_original", "antiwar_blog"),
        *("lesmoutonsenrages", "reseauinternational", "antiguerre_fr"),
    }
    for p in reg.values():
        assert p.start_points and p.domains and p.noise.drop_selectors


def test_profiles_dir_only_has_yaml() -> None:
    assert all(p.suffix == ".yaml" for p in PROFILES_DIR.iterdir())


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (GOOD.replace("language: fr", "language: french"), "language", "pattern"),
        (GOOD.replace("domains: [example.org]", "domains: []"), "domains", "at least 1"),
        (GOOD.replace("domains: [example.org]", "domains: ['http://example.org']"), "domains", "not a host name"),
        (GOOD.replace("feeds: [https://example.org/feed/]", "feeds: [not a url]"), "feeds.0", "URL"),
        (
            GOOD.replace("feeds: [https://example.org/feed/]", "feeds: [https://other.org/feed/]"),
            "(top level)",
            "outside",
        ),
        (
            GOOD.replace("feeds: [https://example.org/feed/]", ""),
            "(top level)",
            "at least one feed, sitemap, WordPress API, archive page pattern or section page",
        ),
        (GOOD + "politeness: {download_delay: -1}\n", "politeness.download_delay", "greater than or equal"),
        (
            GOOD + "archive_pages: {url: 'https://example.org/{yr}/', link_selector: a}\n",
            "archive_pages.url",
            "bad archive page template",
        ),
        (
            GOOD + "archive_pages: {url: 'https://example.org/{year}/', link_selector: 'h2 >'}\n",
            "archive_pages.link_selector",
            "invalid CSS selector",
        ),
        (GOOD + "mirrors: ['http://x.org']\n", "mirrors", "not a host name"),
        (
            GOOD + "politeness: {proxy: {url_env: lower, label: a, region: FR}}\n",
            "politeness.proxy.url_env",
            "pattern",
        ),
        (GOOD + "revisit_after: [0h]\n", "revisit_after", "not an age"),
        (GOOD + "sections: [fr/]\n", "sections.0", "pattern"),
        (
            GOOD + "section_pages: {urls: ['https://example.org/s'], item_selector: 'div['}\n",
            "section_pages.item_selector",
            "invalid CSS selector",
        ),
        (
            GOOD + "section_pages: {urls: ['https://other.org/s'], item_selector: div}\n",
            "(top level)",
            "outside",
        ),
        (GOOD + "section_pages: {urls: [], item_selector: div}\n", "section_pages.urls", "at least 1"),
        (GOOD + "politeness: {max_crawl_delay: 3600}\n", "politeness.max_crawl_delay", "less than or equal"),
        (GOOD + "noise: {drop_selectors: ['div[']}\n", "noise.drop_selectors", "invalid CSS selector"),
        (
            GOOD + "noise: {drop_line_patterns: ['(unclosed']}\n",
            "noise.drop_line_patterns",
            "invalid regular expression",
        ),
        (GOOD + "colour: blue\n", "colour", "Extra inputs"),
        (GOOD.replace("name: Test\n", ""), "name", "Field required"),
    ],
)
def test_broken_profile_names_file_and_field(tmp_path: Path, text: str, field: str, message: str) -> None:
    path = tmp_path / "broken_src.yaml"
    path.write_text(text.replace("{id}", "broken_src"), encoding="utf-8")
    with pytest.raises(ProfileError) as exc:
        load_profile(path)
    assert str(path) in str(exc.value)
    assert f"field '{field}'" in str(exc.value)
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        (GOOD.replace("{id}", "other_name"), "must match the file name"),
    ],
)
def test_unreadable_profiles(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken_src.yaml"
    path.write_text(text.replace("{id}", "broken_src"), encoding="utf-8")
    with pytest.raises(ProfileError, match=message):
        load_profile(path)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://example.org/a", True),
        ("https://www.example.org/a", True),
        ("https://example.org.evil.com/a", False),
        ("https://notexample.org/a", False),
        ("http://127.0.0.2/a", False),
    ],
)
def test_domain_check(tmp_path: Path, url: str, allowed: bool) -> None:
    path = tmp_path / "ok_src.yaml"
    path.write_text(GOOD.replace("{id}", "ok_src"), encoding="utf-8")
    assert load_profile(path).allows(url) is allowed


@pytest.mark.parametrize(
    ("sections", "url", "inside"),
    [
        ([], "https://www.aa.com.tr/en/world/x/1", True),  # no sections: the whole host
        (["/tr/"], "https://www.aa.com.tr/tr/dunya/x/1", True),
        (["/tr/"], "https://www.aa.com.tr/en/world/x/1", False),
        (["/tr/"], "https://www.aa.com.tr/tr", False),  # the edition's home page, not under /tr/
        (["/blog/"], "https://www.antiwar.com/blog/2019/05/20/x/", True),
        (["/blog/"], "https://www.antiwar.com/latest.php", False),
        (["/fr/", "/en/"], "https://www.aa.com.tr/en/x/2", True),
    ],
)
def test_section_check(sections: list[str], url: str, inside: bool) -> None:
    profile = Profile.model_validate(
        {"id": "sec_src", "name": "S", "language": "en", "domains": ["www.aa.com.tr", "www.antiwar.com"]}
        | {"feeds": ["https://www.aa.com.tr/feed/"], "sections": sections}
    )
    assert profile.in_sections(url) is inside

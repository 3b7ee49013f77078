"""Playwright driving Debian's Chromium (never a downloaded browser build), with a screenshot
of every step kept under .work/artifacts/<test>/ when the test fails."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / ".work" / "artifacts"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    return None


class Steps:
    """Screenshots of each step, kept under .work/artifacts/ when the test fails."""

    def __init__(self, page: Any, name: str):
        self.page, self.dir, self.n = page, ARTIFACTS / name, 0
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)

    def shot(self, what: str) -> None:
        self.n += 1
        self.page.screenshot(path=str(self.dir / f"{self.n:02d}-{what}.png"), full_page=True)


@pytest.fixture
def browser_page(request: pytest.FixtureRequest) -> Iterator[Any]:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Debian's chromium is not installed: apt-get install chromium (make test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1366, "height": 800}, accept_downloads=True)
        page = context.new_page()
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if urlsplit(r.url).hostname != "127.0.0.1" else None)
        steps = Steps(page, request.node.name)
        yield page, steps, outside
        failed = getattr(request.node, "rep_call", None)
        context.close()
        browser.close()
        if failed is not None and not failed.failed:
            shutil.rmtree(steps.dir, ignore_errors=True)

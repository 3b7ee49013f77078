"""Scrapy settings for a crawl, built from a profile. Pure."""

from __future__ import annotations

from typing import Any

from spiders.profile import Profile

# Operators set NEWSARCHIVE_USER_AGENT with a contact URL; this default names the software only.
DEFAULT_USER_AGENT = "newsarchive/0.1 (research news archive; Scrapy)"
USER_AGENT_ENV = "NEWSARCHIVE_USER_AGENT"


HTTPX_HANDLER = "scrapy.core.downloader.handlers._httpx.HttpxDownloadHandler"


def crawl_settings(
    profile: Profile, *, user_agent: str, warc_path: str, replay: bool, socks: bool = False
) -> dict[str, Any]:
    """`socks`: the profile's proxy is a SOCKS5 one, which only the httpx handler can use."""
    p = profile.politeness
    settings: dict[str, Any] = {
        "BOT_NAME": "newsarchive",
        "USER_AGENT": user_agent,
        "ROBOTSTXT_OBEY": True,
        "DOWNLOAD_DELAY": p.download_delay,
        "RANDOMIZE_DOWNLOAD_DELAY": True,
        "CONCURRENT_REQUESTS": p.concurrency * 2,
        # a callback's output is handled one item at a time: Scrapy's default (100) starts 100
        # cooperative tasks per response whatever it yields, ~300,000 per 3,000 pages
        "CONCURRENT_ITEMS": 1,
        "CONCURRENT_REQUESTS_PER_DOMAIN": p.concurrency,
        "AUTOTHROTTLE_ENABLED": p.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(p.download_delay, 0.1),
        "RETRY_ENABLED": True,
        "RETRY_TIMES": p.retries,
        "DOWNLOAD_TIMEOUT": p.timeout,
        "DOWNLOAD_MAXSIZE": p.max_page_mb * 1024 * 1024,
        "DOWNLOAD_WARNSIZE": 0,
        "RETRY_AFTER_MAX": p.max_retry_after,
        "CRAWL_DELAY_MAX": p.max_crawl_delay,
        "CRAWL_DELAY_APPLY": not replay,
        "COOKIES_ENABLED": False,
        # nothing listens in a crawl: no telnet console, no remote-control HTTP endpoint (it runs
        # any Python sent with the token of its job file), so a crawl opens no port at all
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        # every name resolved is checked before Twisted connects to the address it returns
        "TWISTED_DNS_RESOLVER": "spiders.guard.PublicAddressResolver",
        "NEWSARCHIVE_INTERNAL_ADDRESSES": profile.network.internal_addresses,
        "LOG_LEVEL": "INFO",
        "WARC_PATH": warc_path,
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "spiders.guard.RequestGuardMiddleware": 50,
            "spiders.politeness.RobotsCrawlDelayMiddleware": 100,
            "spiders.politeness.RetryAfterMiddleware": 550,
            "spiders.guard.ResolverRefusalMiddleware": 560,
            "spiders.proxy.ProxyMiddleware": 740,
            "spiders.recorder.WarcRecorderMiddleware": 990,
        },
        "DEFAULT_REQUEST_HEADERS": {
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "Accept-Language": f"{profile.language},en;q=0.5",
        },
    }
    if p.proxy:
        settings.update({"PROXY_URL_ENV": p.proxy.url_env, "PROXY_LABEL": p.proxy.provenance})
    if socks:
        if replay:
            raise ValueError("replay sends requests to a local server directly, not through a SOCKS proxy")
        # Scrapy's default (Twisted) handler speaks to HTTP proxies only; its httpx handler
        # (experimental in Scrapy 2.19) also to SOCKS5, so SOCKS profiles use it.
        settings["DOWNLOAD_HANDLERS"] = {"http": HTTPX_HANDLER, "https": HTTPX_HANDLER}
    if replay:
        # Replay contacts only a local server, never the real site: no need to wait
        # (robots.txt's Crawl-delay is still read and recorded, not applied).
        settings.update({"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "RANDOMIZE_DOWNLOAD_DELAY": False})
        settings["NEWSARCHIVE_INTERNAL_ADDRESSES"] = True  # the replay map's addresses are loopback, by its own check
        handler = "spiders.replay.ReplayDownloadHandler"
        settings["DOWNLOAD_HANDLERS"] = {"http": handler, "https": handler}
    return settings

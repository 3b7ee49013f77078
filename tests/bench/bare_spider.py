"""The bare library doing the crawl's work: a minimal Scrapy SitemapSpider, run as its own
process like the project's crawl, fetching the same site with the same concurrency.

It follows robots.txt and the sitemap index to every article and yields each article's URL
and title; it writes nothing. `python -m tests.bench.bare_spider URL --concurrency 8`.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.http import Response
from scrapy.spiders import SitemapSpider


class BareSpider(SitemapSpider):
    name = "bare"

    def parse(self, response: Response) -> Iterator[dict[str, Any]]:
        yield {"url": response.url, "title": response.css("title::text").get()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("sitemap")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--items", type=int, default=1, help="CONCURRENT_ITEMS (Scrapy's default is 100)")
    args = ap.parse_args()
    process = CrawlerProcess(
        {
            "ROBOTSTXT_OBEY": True,
            "DOWNLOAD_DELAY": 0,
            "CONCURRENT_REQUESTS": args.concurrency * 2,
            "CONCURRENT_REQUESTS_PER_DOMAIN": args.concurrency,
            "CONCURRENT_ITEMS": args.items,
            "COOKIES_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False,
            "REMOTE_CONTROL_ENABLED": False,
            "LOG_LEVEL": "INFO",
        }
    )
    process.crawl(BareSpider, sitemap_urls=[args.sitemap])
    process.start()


if __name__ == "__main__":
    main()

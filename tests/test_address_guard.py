"""The crawler never reaches inside: names that resolve to internal addresses, ports the
profile does not name, IP literals, and no listening port in a running crawl.

Names are resolved for real: a DNS server (tests/dnsserver.py, Twisted's) answers on
127.0.0.1 and the crawler's resolver asks it (NEWSARCHIVE_DNS_SERVER). Only loopback
addresses are ever connected to; the other classes are checked on the resolver's answer,
before any connection, in a process of their own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from spiders.addresses import address_class, parse_address
from spiders.crawl import RunContext, run_crawl
from spiders.guard import DNS_SERVER_ENV, refusal
from spiders.profile import Profile
from storage.store import LocalStore
from tests.hostile import HostileSite

REPO = Path(__file__).resolve().parents[1]
DAY = datetime(2022, 3, 1, tzinfo=UTC)
CTX = RunContext("dns_test", DAY, datetime(2022, 3, 2, tzinfo=UTC), date(2022, 3, 1))


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
        ("127.0.0.1", "loopback"),
        ("127.255.1.2", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("100.64.1.1", "shared (carrier-grade NAT)"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),  # broadcast, inside 240.0.0.0/4
        ("198.18.0.1", "private"),  # benchmarking range
        ("192.0.2.10", "private"),  # documentation range
        ("::ffff:127.0.0.1", "loopback (inside IPv6 ::ffff:7f00:1)"),
        ("::ffff:169.254.169.254", "link-local (inside IPv6 ::ffff:a9fe:a9fe)"),
        ("2002:a00:1::", "private (inside IPv6 2002:a00:1::)"),  # 6to4 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local (inside IPv6 64:ff9b::a9fe:a9fe)"),  # NAT64 of the metadata address
        ("64:ff9b::5db8:d822", None),  # NAT64 of a public address
    ],
)
def test_address_classes(address: str, kind: str | None) -> None:
    addr = parse_address(address)
    assert addr is not None
    assert address_class(addr) == kind


def _profile(**network: Any) -> Profile:
    port = f":{network['ports'][0]}" if network.get("ports") else ""
    return Profile.model_validate(
        {
            "id": "dns_test",
            "name": "DNS test",
            "language": "en",
            "domains": ["rt.test", "127.0.0.1"],
            "feeds": [f"http://news.rt.test{port}/feed.xml"],
            "network": network,
        }
    )


@pytest.mark.parametrize(
    ("network", "url", "why"),
    [
        ({}, "http://news.rt.test/a", None),
        ({}, "https://news.rt.test/a", None),
        ({}, "https://news.rt.test:443/a", None),
        ({}, "http://news.rt.test:6379/a", "port 6379 is not one of the source's ports (80, 443)"),
        ({}, "http://news.rt.test:99999/a", "port unreadable is not one of the source's ports (80, 443)"),
        ({}, "http://news.rt.test:0/a", "port 0 is not one of the source's ports (80, 443)"),
        ({}, "http://127.0.0.1/a", "127.0.0.1 is a loopback address"),  # a literal the profile names is still judged
        ({"internal_addresses": True}, "http://127.0.0.1/a", None),
        ({}, "http://10.0.0.1/a", "IP address, not one of the source's domains"),
        ({}, "http://[::1]/a", "IP address, not one of the source's domains"),
        ({}, "http://localhost/a", "outside the source's domains"),
        ({}, "gopher://news.rt.test/a", "scheme 'gopher' not fetched"),
        ({"ports": [8080]}, "http://news.rt.test:8080/a", None),
        ({"ports": [8080]}, "http://news.rt.test/a", "port 80 is not one of the source's ports (8080)"),
    ],
)
def test_refusal_table(network: dict[str, Any], url: str, why: str | None) -> None:
    assert refusal(_profile(**network), url) == why


def test_a_start_point_on_a_port_the_profile_does_not_name_is_refused_at_load() -> None:
    with pytest.raises(ValueError, match=r"uses a port outside network\.ports"):
        Profile.model_validate(
            {"id": "x_src", "name": "X", "language": "en", "domains": ["rt.test"], "feeds": ["http://rt.test:8080/f"]}
        )


@pytest.fixture
def dns() -> Iterator[Any]:
    """Start a DNS server with a map; yields start(mapping) -> 'host:port'."""
    procs: list[subprocess.Popen[str]] = []

    def start(mapping: dict[str, str]) -> str:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.dnsserver", json.dumps(mapping)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        procs.append(proc)
        assert proc.stdout is not None
        return f"127.0.0.1:{proc.stdout.readline().strip()}"

    yield start
    for p in procs:
        p.kill()
        p.wait()


PROBE = """
import json, sys
from twisted.internet import defer, reactor
from spiders.guard import PublicAddressResolver
out = {}
@defer.inlineCallbacks
def go():
    resolver = PublicAddressResolver(reactor, 0, 5.0, internal=False, exempt=["proxy.corp.test"])
    for name in json.loads(sys.argv[1]):
        try:
            out[name] = ["ok", (yield resolver.getHostByName(name))]
        except Exception as exc:
            out[name] = [type(exc).__name__, str(exc)]
    print(json.dumps(out))
    reactor.stop()
reactor.callWhenRunning(go)
reactor.run()
"""


def test_the_resolver_refuses_every_internal_class_before_any_connection(dns: Any) -> None:
    """Real DNS answers of every kind; the answer is judged before Twisted connects to it."""
    answers = {
        "loop.rt.test": "127.0.0.1",
        "meta.rt.test": "169.254.169.254",
        "intra.rt.test": "10.1.2.3",
        "home.rt.test": "192.168.0.1",
        "cgnat.rt.test": "100.64.1.1",
        "zero.rt.test": "0.0.0.0",
        "mcast.rt.test": "224.0.0.1",
        "future.rt.test": "240.0.0.1",
        "public.rt.test": "93.184.216.34",
        "proxy.corp.test": "10.9.9.9",  # the operator's egress proxy: exempt by configuration
    }
    server = dns(answers)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([*answers, "localhost"])],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), DNS_SERVER_ENV: server},
        timeout=60,
        check=True,
    )
    got = json.loads(out.stdout)
    assert got.pop("public.rt.test") == ["ok", "93.184.216.34"]
    assert got.pop("proxy.corp.test") == ["ok", "10.9.9.9"]
    assert got.pop("localhost")[0] != "ok"  # the configured server does not know it: not resolved elsewhere
    kinds = {
        "loop": "loopback",
        "meta": "link-local",
        "intra": "private",
        "home": "private",
        "cgnat": "shared (carrier-grade NAT)",
        "zero": "unspecified",
        "mcast": "multicast",
        "future": "reserved",
    }
    assert got == {
        f"{n}.rt.test": ["AddressRefused", f"{n}.rt.test resolves to {answers[f'{n}.rt.test']}, a {k} address"]
        for n, k in kinds.items()
    }


@pytest.fixture
def site() -> Iterator[HostileSite]:
    """A feed of four articles on news.rt.test:PORT: two pages, a redirect to port 6379 and
    one to an IP literal; `also-good` answers after `SLOW` seconds when set."""
    s = HostileSite()
    port = s.server_address[1]
    pub = "Tue, 01 Mar 2022 10:00:00 +0000"
    items = "".join(
        f"<item><title>{n}</title><link>http://news.rt.test:{port}/{n}</link><pubDate>{pub}</pubDate></item>"
        for n in ("good", "to-redis", "to-literal", "also-good")
    )
    s.set(
        "/feed.xml", f"<rss><channel>{items}</channel></rss>".encode(), headers={"Content-Type": "application/rss+xml"}
    )
    page = b"<html><head><title>A</title></head><body><p>text</p></body></html>"
    s.set("/good", page)
    s.set("/also-good", page)
    s.set("/to-redis", b"", status=302, headers={"Location": "http://news.rt.test:6379/x"})
    s.set("/to-literal", b"", status=302, headers={"Location": f"http://127.0.0.1:{port}/good"})
    yield s
    s.stop()


def _write_profile(tmp: Path, port: int, internal: bool) -> Path:
    path = tmp / "dns_test.yaml"
    path.write_text(
        f"""id: dns_test
name: A source whose name resolves inside
language: en
domains: [rt.test]
feeds: ["http://news.rt.test:{port}/feed.xml"]
politeness: {{download_delay: 0, concurrency: 2, retries: 2, timeout: 10, autothrottle: false}}
network: {{internal_addresses: {str(internal).lower()}, ports: [{port}]}}
""",
        encoding="utf-8",
    )
    return path


def test_a_source_name_that_resolves_to_loopback_is_refused_and_nothing_is_sent(
    tmp_path: Path, dns: Any, site: HostileSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = site.server_address[1]
    monkeypatch.setenv(DNS_SERVER_ENV, dns({"news.rt.test": "127.0.0.1"}))
    result = run_crawl(LocalStore(tmp_path / "a"), CTX, profile_path=_write_profile(tmp_path, port, internal=False))
    (feed,) = [r for r in result.log_rows if r.get("kind") == "feed"]
    assert feed["outcome"] == "failed"
    assert feed["reason"] == (
        f"http://news.rt.test:{port}/feed.xml refused: news.rt.test resolves to 127.0.0.1, a loopback address"
    )
    assert sum(site.hits.values()) == 0  # not one request reached the address
    assert not [r for r in result.log_rows if r["outcome"] == "archived"]


def test_with_internal_addresses_allowed_the_same_name_is_fetched_and_ports_still_hold(
    tmp_path: Path, dns: Any, site: HostileSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the DNS answer is what the crawler used (the feed is fetched once allowed);
    a redirect to another port of the source's own host, or to an IP literal, is still refused."""
    port = site.server_address[1]
    monkeypatch.setenv(DNS_SERVER_ENV, dns({"news.rt.test": "127.0.0.1"}))
    result = run_crawl(LocalStore(tmp_path / "a"), CTX, profile_path=_write_profile(tmp_path, port, internal=True))
    got = {
        r["url"].rsplit("/", 1)[-1]: (r["outcome"], r["reason"]) for r in result.log_rows if r.get("kind") == "article"
    }
    assert got == {
        "good": ("archived", None),
        "also-good": ("archived", None),
        "to-redis": (
            "failed",
            f"redirect to http://news.rt.test:6379/x refused: port 6379 is not one of the source's ports ({port})",
        ),
        "to-literal": (
            "failed",
            f"redirect to http://127.0.0.1:{port}/good refused: IP address, not one of the source's domains",
        ),
    }
    assert set(site.hits) == {"/robots.txt", "/feed.xml", "/good", "/also-good", "/to-redis", "/to-literal"}


def _job_files() -> Path:
    from platformdirs import user_state_dir

    return Path(user_state_dir("scrapy", appauthor=False), "job_files")


def test_a_running_crawl_listens_on_no_port_and_leaves_no_job_file(
    tmp_path: Path, dns: Any, site: HostileSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scrapy's telnet console and remote-control endpoint (which runs any Python posted to
    it) are off: the crawl process opens no listening socket and writes no job file; job
    files that killed crawls of an older version left behind are removed."""
    port = site.server_address[1]
    monkeypatch.setenv(DNS_SERVER_ENV, dns({"news.rt.test": "127.0.0.1"}))
    jobs = _job_files()
    jobs.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = jobs / f"{dead.pid}-stale.json"
    stale.write_text(json.dumps({"version": 1, "pid": dead.pid, "port": 1, "token": "t", "spider": "news"}))
    alive = jobs / f"{os.getpid()}-alive.json"  # another live Scrapy process's file is not ours to remove
    alive.write_text(json.dumps({"version": 1, "pid": os.getpid(), "port": 1, "token": "t", "spider": "other"}))
    before = set(jobs.iterdir())
    page = b"<html><head><title>A</title></head><body><p>text</p></body></html>"
    site.set("/also-good", page, delay=4.0)  # one article answers slowly: the crawl is looked at while it runs
    listening: list[Any] = []
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for child in psutil.Process().children(recursive=True):
                try:
                    if "spiders.process" in " ".join(child.cmdline()):
                        seen.append(child.pid)
                        listening.extend(c for c in child.net_connections(kind="inet") if c.status == "LISTEN")
                except psutil.NoSuchProcess:
                    pass
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = run_crawl(LocalStore(tmp_path / "a"), CTX, profile_path=_write_profile(tmp_path, port, internal=True))
    finally:
        done.set()
        watcher.join()
        alive.unlink(missing_ok=True)
    assert "archived" in result.summary["articles"]
    assert len(seen) > 5, "the crawl process was never observed running"
    assert listening == []
    after = set(jobs.iterdir())
    assert not stale.exists()
    assert after - before == set()

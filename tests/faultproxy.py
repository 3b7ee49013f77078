"""A fault-injecting HTTP proxy in front of a real S3 server (SeaweedFS), on 127.0.0.1.

boto3 talks to the proxy as if it were the S3 endpoint; the proxy forwards each request
byte for byte (Host header included, so SigV4 signatures still match) unless a rule says
otherwise: answer 500 / 503 SlowDown, answer 404 to a GET, cut a response body short, or
add latency. Rules match on method and key and may fire a limited number of times; every
fault served is counted, so a test can say how many it injected.
"""

from __future__ import annotations

import http.client
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

S3_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>injected fault</Message>'
    "<Resource>{path}</Resource><RequestId>fault</RequestId></Error>"
)


@dataclass
class Rule:
    """A fault for requests whose method is in `methods` and whose path contains `match`."""

    action: str  # "500" | "503" | "slowdown" | "404" | "truncate" | "latency" | "stale" | "overwrite"
    methods: tuple[str, ...] = ("GET", "PUT", "HEAD", "POST", "DELETE")
    match: str = ""
    times: int | None = 1  # how often it fires (None: always)
    probability: float = 1.0
    delay: float = 0.5  # seconds, for latency
    when: Callable[[str, str], bool] | None = None  # extra predicate on (method, path)
    hide: str = ""  # for stale: listings leave out the keys containing this (a listing behind the writes)

    def applies(self, method: str, path: str, rng: random.Random) -> bool:
        if method not in self.methods or self.match not in unquote(path):
            return False
        if self.when is not None and not self.when(method, path):
            return False
        if self.times is not None and self.times <= 0:
            return False
        return rng.random() < self.probability


@dataclass
class FaultProxy:
    upstream: str  # http://127.0.0.1:PORT of the real S3 server
    seed: int = 0
    rules: list[Rule] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    verbs: Counter[str] = field(default_factory=Counter)  # forwarded requests: GET, HEAD, LIST, PUT, ...
    bytes_read: int = 0  # body bytes the upstream returned to GETs (listings included)
    admin: Any = None  # a boto3 client to the upstream, for "overwrite" (a gateway that ignores If-None-Match)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        up = urlsplit(self.upstream)
        self._up_host, self._up_port = up.hostname or "127.0.0.1", up.port or 80
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline().strip():
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                rule = proxy._pick(self.command, self.path)
                if rule and rule.action in ("500", "503", "slowdown", "404"):
                    status, code = {
                        "500": (500, "InternalError"),
                        "503": (503, "ServiceUnavailable"),
                        "slowdown": (503, "SlowDown"),
                        "404": (404, "NoSuchKey"),
                    }[rule.action]
                    payload = S3_ERROR.format(code=code, path=self.path).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
                if rule and rule.action == "latency":
                    time.sleep(rule.delay)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding",)}
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(proxy._up_host, proxy._up_port, timeout=120)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    if rule and rule.action == "overwrite" and self.command == "PUT" and resp.status == 412:
                        self._overwrite(body)
                        return
                    verb = "LIST" if self.command == "GET" and "list-type" in self.path else self.command
                    with proxy._lock:
                        proxy.verbs[verb] += 1
                        proxy.bytes_read += len(data) if self.command == "GET" else 0
                    if rule and rule.action == "stale" and self.command == "GET" and b"<ListBucketResult" in data:
                        # a listing behind the writes: the keys containing `hide` are left out
                        pattern = rb"<Contents>(?:(?!</Contents>).)*?<Key>[^<]*" + re.escape(rule.hide.encode())
                        data = re.sub(pattern + rb"[^<]*</Key>.*?</Contents>", b"", data, flags=re.S)
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(k, v)
                    length = len(data) if self.command != "HEAD" else int(resp.getheader("Content-Length") or 0)
                    self.send_header("Content-Length", str(length))
                    if rule and rule.action == "truncate" and self.command == "GET" and len(data) > 1:
                        self.send_header("Connection", "close")
                        self.end_headers()
                        self.wfile.write(data[: len(data) // 2])  # fewer bytes than announced, then hang up
                        self.close_connection = True
                        return
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            def _overwrite(self, body: bytes) -> None:
                """What a gateway that drops If-None-Match does: the upload replaces the object.
                (The header is signed, so the proxy cannot strip it: it writes with its own client.)"""
                bucket, _, key = unquote(urlsplit(self.path).path).lstrip("/").partition("/")
                etag = proxy.admin.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _pick(self, method: str, path: str) -> Rule | None:
        with self._lock:
            self.requests += 1
            for rule in self.rules:
                if rule.applies(method, path, self._rng):
                    if rule.times is not None:
                        rule.times -= 1
                    if rule.action != "latency":
                        self.injected[rule.action] += 1
                    return rule
        return None

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def start(self) -> FaultProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""A DNS server on 127.0.0.1 for the address-guard tests: answers A queries from a fixed map.

`python -m tests.dnsserver '{"news.rt.test": "127.0.0.1"}'` prints the UDP port it listens on,
then serves until killed. Twisted's own DNS server (twisted.names), so the crawler's resolver
talks real DNS to it: names that resolve to internal addresses, not literals.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from twisted.internet import defer, reactor
from twisted.names import common, dns, error, server


class MapResolver(common.ResolverBase):
    def __init__(self, mapping: dict[str, str]):
        super().__init__()  # type: ignore[no-untyped-call]
        self.mapping = {k.lower().rstrip("."): v for k, v in mapping.items()}

    def _lookup(self, name: bytes, cls: int, type: int, timeout: Any) -> defer.Deferred[Any]:
        key = name.decode().lower().rstrip(".")
        address = self.mapping.get(key)
        if type not in (dns.A, dns.ALL_RECORDS) or address is None:
            return defer.fail(error.DomainError(key))
        answer = dns.RRHeader(name=name, type=dns.A, payload=dns.Record_A(address=address, ttl=0), ttl=0)  # type: ignore[arg-type,no-untyped-call]
        return defer.succeed(([answer], [], []))


def main() -> None:
    factory = server.DNSServerFactory(clients=[MapResolver(json.loads(sys.argv[1]))])  # type: ignore[no-untyped-call]
    protocol = dns.DNSDatagramProtocol(controller=factory)  # type: ignore[no-untyped-call]
    port = reactor.listenUDP(0, protocol, interface="127.0.0.1")  # type: ignore[attr-defined]
    print(port.getHost().port, flush=True)
    reactor.run()  # type: ignore[attr-defined,misc]


if __name__ == "__main__":
    main()

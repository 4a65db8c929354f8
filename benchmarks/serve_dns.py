"""The benchmark's DNS server: the tests' loopback authoritative server (tests/support/dnsserver.py,
dnslib) with no zones, so every query gets NXDOMAIN at once. Runs in its own process; prints
`PORT n` on stdout when it answers, then serves until SIGTERM. Its CPU is reported separately by
serve_bench.py (a real deployment's resolver would spend it, not the gateway).

    python benchmarks/serve_dns.py
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from serve_relay import die_with_parent  # noqa: E402

from tests.support.dnsserver import TestDNSServer  # noqa: E402


def main() -> None:
    die_with_parent()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = TestDNSServer().start()
    print(f"PORT {server.port}", flush=True)
    while not stop.wait(1.0):
        pass
    server.stop()


if __name__ == "__main__":
    main()

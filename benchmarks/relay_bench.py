"""Relay throughput and latency: through the gateway vs straight to the upstream (baseline).

Prints messages/s, latency percentiles per message (MAIL..DATA reply) and the gateway's RSS.
Both runs use the same recording upstream (aiosmtpd) on 127.0.0.1 in the same process run.

    python benchmarks/relay_bench.py [--messages 400] [--clients 8] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import resource
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.smtp.service import ThreadedGateway  # noqa: E402
from tests.conftest import make_config  # noqa: E402
from tests.support.sink import Sink  # noqa: E402


def load_messages(corpus: Path | None, n: int) -> list[bytes]:
    if corpus and corpus.is_dir():
        files = sorted(p for p in corpus.rglob("*") if p.is_file())[:n]
        msgs = [p.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for p in files]
        if msgs:
            return msgs
    body = b"From: a@ext.test\r\nTo: bob@example.org\r\nSubject: bench\r\n\r\n" + b"line of text\r\n" * 200
    return [body]


def run(port: int, messages: list[bytes], total: int, clients: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = total // clients

    def worker(k: int) -> None:
        c = smtplib.SMTP("127.0.0.1", port, timeout=30)
        c.ehlo("bench.test")
        own = []
        for i in range(per_client):
            msg = messages[(k * per_client + i) % len(messages)]
            t0 = time.perf_counter()
            c.sendmail("a@ext.test", ["bob@example.org"], msg)
            own.append(time.perf_counter() - t0)
        c.quit()
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, latencies


def report(name: str, elapsed: float, lat: list[float]) -> None:
    q = statistics.quantiles(lat, n=100)
    print(f"{name:10s} {len(lat) / elapsed:8.1f} msg/s   p50 {q[49] * 1000:7.2f} ms   "
          f"p95 {q[94] * 1000:7.2f} ms   p99 {q[98] * 1000:7.2f} ms   n={len(lat)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=400)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/corpora/ham/spamassassin/easy-ham-1")
    args = ap.parse_args()
    msgs = load_messages(args.corpus, args.messages)
    sink = Sink().start()
    base_elapsed, base_lat = run(sink.port, msgs, args.messages, args.clients)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # make_config points DNS at an empty authoritative server on 127.0.0.1 (every name NXDOMAIN)
    cfg = make_config(sink.port, Path(tempfile.mkdtemp()), "limits: {max_connections_per_ip: 100}")
    with ThreadedGateway(cfg) as gw:
        cpu0 = time.process_time()
        gw_elapsed, gw_lat = run(gw.port, msgs, args.messages, args.clients)
        cpu = time.process_time() - cpu0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{len(msgs)} distinct messages, {args.messages} sends, {args.clients} concurrent clients")
    report("baseline", base_elapsed, base_lat)
    report("gateway", gw_elapsed, gw_lat)
    print(f"process CPU during the gateway run: {cpu / len(gw_lat) * 1000:.2f} ms/message "
          f"(client + gateway + sink in one process)")
    print(f"max RSS: {rss_before / 1024:.0f} MiB before the gateway, {rss_after / 1024:.0f} MiB after")
    sink.stop()


if __name__ == "__main__":
    main()

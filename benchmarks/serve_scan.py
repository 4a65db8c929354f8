"""`scan`'s analysis of the messages a serve_bench.py window sent, in its own process, for
`serve_bench.py --scan-baseline`: the like-for-like term of issue 13's target "serve CPU per real
10 KB message <= the bare relay's CPU + scan's analysis CPU + 1 ms".

Like for like with the gateway under test: the same config file (policies, reference data, store,
DNS: serve_dns.py's port, or `--offline` when the gateway was started offline), `Runtime.analyse`
as `scan` and `serve` call it, the runtime warmed up as `serve` warms it (`Runtime.warm_up`),
then the load generator's own warm-up messages, then the same messages in the same order as the
window (session g of S sends messages g, g+S, g+2S, ...: the window's first N messages are, up to
the sessions still running at its end, the corpus' first N), each as the gateway receives it
(dot-unstuffed, CRLF) with the envelope the gateway builds for it (MAIL FROM of the pickle, the
bench's RCPT, client 127.0.0.1 with the load generator's HELO). The store: serve_bench.py
gives a copy of the gateway's store taken just before the gateway's window (before the load
generator's warm-up) and `--record`: each message is recorded after its analysis as `serve`
records it after delivery (that CPU left out: it is serve's, not scan's), so that each one
meets the history the gateway's copy met (up to the order 20 sessions finish in), not one that
already holds itself and every later message of the window.

CPU: time.process_time (every thread of this process) around each message's analysis (`cpu_each`,
which serve_bench.py sums over the window's count: it runs one pass before the window, when the
count is not known yet, and one after) and around the measured loop less the recording (`cpu_s`):
start-up, imports, warm-up and reading the messages are not counted (nor are they in the
gateway's window).

    python benchmarks/serve_scan.py --config scan.yml --messages ham.pickle --count 1500 --record [--offline]

Prints one line: RESULT {json}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from scan_bench import measure  # noqa: E402  (also puts the repository on sys.path)
from serve_load import Message, load_messages  # noqa: E402

from gateway.config import load_config  # noqa: E402
from gateway.model import Client, Envelope  # noqa: E402
from gateway.runtime import Runtime  # noqa: E402
from gateway.smtp.server import new_queue_id  # noqa: E402

HELO = "load.bench.test"  # what serve_load.py's sessions say in EHLO


def unstuffed(wire: bytes) -> bytes:
    """The message as aiosmtpd hands it to the gateway: dot-unstuffed (the final "." is not in the pickle)."""
    text = wire.replace(b"\r\n..", b"\r\n.")
    return text[1:] if text.startswith(b"..") else text


def work_of(messages: list[Message], rcpt: str, start: int, count: int) -> list[tuple[bytes, Envelope]]:
    out = []
    for i in range(start, start + count):
        sender, wire, _ = messages[i % len(messages)]
        env = Envelope(mail_from=sender, rcpt_tos=(rcpt,), client=Client(ip="127.0.0.1", port=40000, helo=HELO),
                       queue_id=new_queue_id())
        out.append((unstuffed(wire), env))
    return out


async def run(args: argparse.Namespace) -> dict[str, object]:
    config = load_config(args.config)
    runtime = Runtime(config, offline=args.offline)
    messages = load_messages(args.messages)
    await runtime.warm_up()
    work = work_of(messages, args.rcpt, 0, args.count)
    after = runtime.record if args.record else None
    result = await measure(runtime, work, work_of(messages, args.rcpt, 0, args.warmup), "scan (analyse)", after)
    await runtime.close()
    return {"messages": result.messages, "cpu_s": result.cpu_total, "wall_s": result.wall,
            "cpu_each": result.cpu_each, "verdicts": result.verdicts, "offline": args.offline,
            "recorded": args.record}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, required=True, help="the gateway's config file")
    ap.add_argument("--messages", type=Path, required=True, help="serve_bench.py's ham pickle")
    ap.add_argument("--count", type=int, required=True, help="messages to analyse (the window's count)")
    ap.add_argument("--warmup", type=int, default=30, help="untimed messages first (the load generator's)")
    ap.add_argument("--rcpt", default="bench@example.org")
    ap.add_argument("--offline", action="store_true", help="as `scan --offline` (the gateway was started offline)")
    ap.add_argument("--record", action="store_true",
                    help="record each message in the store after its analysis, as `serve` does, its CPU left out")
    args = ap.parse_args()
    from serve_relay import die_with_parent

    die_with_parent()
    print("RESULT " + json.dumps(asyncio.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

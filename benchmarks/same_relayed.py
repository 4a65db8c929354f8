"""The bytes `serve` would hand its upstream for each message, one line each: to compare two checkouts.

Usage: python benchmarks/same_relayed.py --root CHECKOUT [--corpus DIR ...] [--limit N] > out.txt
       (run once per checkout, from either one, then `cmp` the outputs)

Not a timing: a change to the serve path (header edits, the Received field, the upstream writer)
must not change a byte of delivered mail. Each message goes the way `serve` takes it after the
final dot: read as `serve_load.py` sends it (the mbox "From " line dropped, CRLF line ends),
analysed offline with the shipped policies and a store of its own (`same_verdicts.py`'s runtime),
then `carry_out` (gateway/act/execute.py) with the receiver's `plain` flag against an upstream that
records what `data` is given, dot-stuffed by the upstream writer (`dot_stuffed_pieces`) into the
exact DATA payload. Printed per message: the file, the verdict, the payload's length and SHA-256
with our Received field taken out (it holds the time), and the payload's first 16 bytes past it.
`--root` is the checkout whose `gateway` is imported (default: this one).

Untrusted input: the corpus messages (analysed; only their digests are printed).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


async def run(root: Path, corpora: list[tuple[Path, int | None]]) -> None:
    from scan_bench import CONFIG, envelope

    import gateway.runtime as gr
    from gateway.act.execute import carry_out
    from gateway.config import load_config
    from gateway.model import Reply
    from gateway.parse import normalize_newlines
    from gateway.smtp.upstream import dot_stuffed_pieces

    class Recorder:
        """The upstream side of `carry_out`: every step accepted, DATA's payload kept."""

        def __init__(self) -> None:
            self.payloads: list[bytes] = []

        async def mail(self, sender: str, options: list[str]) -> Reply:
            return Reply(250, "ok")

        async def rcpt(self, recipient: str, options: list[str]) -> Reply:
            return Reply(250, "ok")

        async def data(self, message: Any) -> Reply:
            self.payloads.append(b"".join(bytes(p) for p in dot_stuffed_pieces(message)))
            return Reply(250, "ok")

        async def rset(self) -> None:
            return None

    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "gateway.yml"
        config_path.write_text(CONFIG.format(policies=root / "policies", store=Path(tmp) / "store.sqlite3"))
        runtime = gr.Runtime(load_config(config_path), offline=True)
        for folder, limit in corpora:
            for path in sorted(p for p in folder.rglob("*") if p.is_file())[:limit]:
                raw = path.read_bytes()
                if raw.startswith(b"From "):  # as serve_load.py sends it
                    raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
                raw = normalize_newlines(raw)
                env = envelope(raw)
                result = await runtime.analyse(raw, env)
                up = Recorder()
                dots = raw.startswith(b".") or b"\r\n." in raw
                await carry_out(up, raw, env, result, plain=not dots)
                received = next((e.value for e in result.edits if e.name == "Received"), None)
                line = f"{path.relative_to(folder)} {result.decision.verdict.word}"
                for payload in up.payloads:
                    if received is not None:
                        payload = payload.replace(f"Received: {received}\r\n".encode(), b"", 1)
                    line += f" {len(payload)} {hashlib.sha256(payload).hexdigest()[:24]} {payload[:16]!r}"
                print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=HERE.parent, help="checkout whose gateway is imported")
    ap.add_argument("--corpus", type=Path, action="append", help="message folder (default: the ham corpus)")
    ap.add_argument("--limit", type=int, default=None, help="first N messages of each folder (default 1500)")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    sys.path[:0] = [str(root), str(HERE)]
    import gateway  # first: scan_bench puts this checkout first on the path, but finds it imported

    print(f"gateway from {Path(gateway.__file__).parent}", file=sys.stderr)
    from scan_bench import CORPUS

    corpora = [(c, args.limit) for c in args.corpus] if args.corpus else [(CORPUS, args.limit or 1500)]
    asyncio.run(run(root, corpora))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

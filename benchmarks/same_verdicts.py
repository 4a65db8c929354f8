"""What the offline analysis says of each message, one JSON line each: to compare two checkouts.

Usage: PYTHONPATH=CHECKOUT python CHECKOUT/benchmarks/same_verdicts.py [--corpus DIR ...] [--limit N] > out.jsonl
       (then `cmp` or `diff` the outputs of two checkouts)

A performance change must not change a verdict: run this from each checkout with its own
PYTHONPATH over the same messages and compare the outputs. Each line: the file (relative to its
corpus folder), verdict, score, the rules that hit with their reasons, every signal with its
evidence, and the header edits but for the Received field (it holds the time). Messages are read
as `scan_bench.py` reads them (sorted, newlines normalised, the envelope `scan` builds, the
shipped policies, offline), one after another in one runtime, so the store's history is the same
in both runs. Default corpora: the first 1,500 ham messages and the phish corpus. `--record`: each
message is recorded in the (SQLite) store after its analysis, as `serve` records it, so that the
later ones are read against the history of the earlier ones (sender and campaign history: a change
to the store's reads is compared on answers that are not all empty).

Untrusted input: the corpus messages (only analysed; printed as JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scan_bench import CONFIG, CORPUS, envelope  # noqa: E402

import gateway.runtime as gr  # noqa: E402
from gateway.config import load_config  # noqa: E402
from gateway.parse import normalize_newlines  # noqa: E402

PHISH = CORPUS.parent.parent / "phish"


async def run(corpora: list[tuple[Path, int | None]], record: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "gateway.yml"
        config_path.write_text(CONFIG.format(policies=ROOT / "policies", store=Path(tmp) / "store.sqlite3"))
        pipeline = gr.Runtime(load_config(config_path), offline=True)
        for folder, limit in corpora:
            for path in sorted(p for p in folder.rglob("*") if p.is_file())[:limit]:
                raw = normalize_newlines(path.read_bytes())
                result = await pipeline.analyse(raw, envelope(raw))
                if record:
                    await pipeline.record(result)
                d = result.decision
                print(json.dumps({
                    "file": str(path.relative_to(folder)), "verdict": d.verdict.word, "score": d.score,
                    "checked": d.checked, "note": d.note,
                    "hits": [[h.rule_id, h.score, h.reason] for h in d.hits],
                    "signals": [[s.name, {k: repr(v) for k, v in s.evidence.items()}] for s in result.signals],
                    "edits": [[e.name, e.value] for e in result.edits if e.name.lower() != "received"],
                }, sort_keys=True, ensure_ascii=False), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, action="append", help=f"message folder (default {CORPUS} and {PHISH})")
    ap.add_argument("--limit", type=int, default=None, help="first N messages of each folder (default: 1500 ham, "
                                                              "every phish)")
    ap.add_argument("--record", action="store_true", help="record each message in the store after its analysis")
    args = ap.parse_args(argv)
    corpora = [(c, args.limit) for c in args.corpus] if args.corpus else [(CORPUS, args.limit or 1500),
                                                                         (PHISH, args.limit)]
    asyncio.run(run(corpora, args.record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Firing rate of each sender/identity/content signal on real ham and real phishing (offline).

Usage: python benchmarks/signal_rates.py [--limit N] [--examples SIGNAL]

Runs the default checks offline (no DNS, no RDAP, no store: first contact needs history and is not
measured here) over ../shared/corpora/ham/spamassassin/*, ../shared/corpora/phish/phishing_pot
and the project's own labelled corpus (tests/corpus/legit, tests/corpus/approach), and prints one
row per signal: how many messages of each set raised it and the percentage. A signal that fires
on more than a few percent of ham is evidence for policies to weigh, not an alarm.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.config import Config, parse_config  # noqa: E402
from gateway.model import Envelope  # noqa: E402
from gateway.parse import (  # noqa: E402
    HeaderLimitExceeded,
    MessageView,
    normalize_newlines,
)
from gateway.runtime import Runtime  # noqa: E402

# ../shared/corpora from the repository root (worktrees one level deeper find it one further up)
CORPORA = next((p for p in (ROOT.parent / "shared" / "corpora", ROOT.parent.parent / "shared" / "corpora")
                if p.is_dir()), ROOT.parent / "shared" / "corpora")
SETS = {
    "ham": sorted(p for d in (CORPORA / "ham" / "spamassassin").iterdir() for p in d.iterdir() if p.is_file()),
    "phish": sorted((CORPORA / "phish" / "phishing_pot").glob("*.eml")),
    "legit": sorted((ROOT / "tests" / "corpus" / "legit").glob("*.eml")),
    "approach": sorted((ROOT / "tests" / "corpus" / "approach").glob("*.eml")),
}
CONFIG_TEXT = """
listen: 127.0.0.1:0
upstream: {host: 127.0.0.1}
hostname: gw.example.org
local_domains: [%s]
policies: []
store: {backend: memory}
"""
# The project's corpus is addressed to example.* organisations; the public corpora are not, and
# their placeholder addresses (example.com in phishing_pot) must not look like our own domains.
CONFIGS = {"legit": parse_config(CONFIG_TEXT % "example.gov.uk, example.ac.uk, example.org"),
           "approach": parse_config(CONFIG_TEXT % "example.gov.uk, example.ac.uk, example.org")}
DEFAULT_CONFIG = parse_config(CONFIG_TEXT % "benchmark-org.test")


async def measure(files: list[Path], examples: str | None, config: Config) -> tuple[Counter[str], int, int, float]:
    runtime = Runtime(config, offline=True)
    counts: Counter[str] = Counter()
    errors = 0
    start = time.perf_counter()
    for path in files:
        raw = normalize_newlines(path.read_bytes())
        try:
            MessageView.parse(raw)  # a header over the limits is an error here, as in serve
        except HeaderLimitExceeded:
            errors += 1
            continue
        signals = (await runtime.signals(raw, Envelope("", ()))).signals
        for name in {s.name for s in signals}:
            counts[name] += 1
        if examples:
            for s in signals:
                if s.name == examples:
                    print(f"  {path.name}: {s}"[:220])
        errors += sum(1 for s in signals if s.name == "check.error")
    return counts, len(files), errors, time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0, help="messages per set (0: all)")
    ap.add_argument("--examples", help="print each message that raised this signal")
    args = ap.parse_args()
    results = {}
    for name, files in SETS.items():
        files = files[: args.limit] if args.limit else files
        results[name] = asyncio.run(measure(files, args.examples, CONFIGS.get(name, DEFAULT_CONFIG)))
    signals = sorted({s for c, *_ in results.values() for s in c} - {"message.defects", "message.no_from"})
    cols = list(SETS)
    print("| signal | " + " | ".join(f"{c} n | {c} %" for c in cols) + " |")
    print("|---|" + "---:|" * (2 * len(cols)))
    for sig in signals:
        cells = []
        for c in cols:
            counts, total, _, _ = results[c]
            n = counts.get(sig, 0)
            cells += [str(n), f"{100 * n / total:.1f}" if total else "-"]
        print(f"| {sig} | " + " | ".join(cells) + " |")
    print()
    for c in cols:
        _, total, errors, secs = results[c]
        print(f"{c}: {total} messages, {errors} check errors/unparseable, {secs:.1f} s "
              f"({1000 * secs / max(total, 1):.1f} ms/message)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

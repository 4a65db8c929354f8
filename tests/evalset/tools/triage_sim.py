"""What the console's triage could do for a labelled set: an upper bound (docs/console.md).

Replays a labelled set in Date order as `evaluate --replay` does and, after each message, plays
an analyst who is always right and always in time: a flagged legitimate message is triaged "not
an approach", and with --approach a missed approach is triaged "approach", each before the
sender's next message arrives (a decision is remembered the way the console remembers it:
gateway/admin/console/app.py). Real staff report a fraction of what they get and analysts
decide later, so real figures lie between --off (no decisions: `evaluate`'s figures) and these.
Prints counts per label only (safe on a set the rule writer must not read).

    python tests/evalset/tools/triage_sim.py --labels tests/evalset/legitM.yml \\
        --learn tests/evalset/history/sent.mbox --learn tests/evalset/history/sentM-b.mbox [--approach] [--off]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from gateway.checks.campaign import decision_keys  # noqa: E402
from gateway.config import load_config  # noqa: E402
from gateway.domains import Domains  # noqa: E402
from gateway.policy.evaluate import analysed, load_labels  # noqa: E402
from gateway.runtime import Runtime  # noqa: E402
from gateway.store.learn import learn  # noqa: E402
from gateway.store.record import decision_meta  # noqa: E402

FLAGGED = ("suspicious", "high")


async def simulate(labels: Path, mboxes: list[Path], approach: bool, off: bool) -> dict[str, list[int]]:
    runtime = Runtime(load_config(ROOT / "tests" / "evalset" / "gateway.yml"), offline=True)
    assert runtime.store is not None
    await learn(runtime.store, mboxes, runtime.config.local_domains)
    ours = Domains(runtime.config.local_domains)
    counts: dict[str, list[int]] = {}
    try:
        # evaluate --replay's loop: each message analysed and recorded in Date order; the decision
        # goes in before the generator analyses the next one
        async for item, result in analysed(runtime, load_labels(labels), replay=True):
            when = result.meta.when if result.meta else 0.0
            flagged = result.decision.verdict.word in FLAGGED
            tally = counts.setdefault(item.label, [0, 0])
            tally[0] += flagged
            tally[1] += 1
            sender = result.meta.sender if result.meta else ""
            status = "not_approach" if item.label == "legit" and flagged else \
                "approach" if approach and item.label == "approach" and not flagged else ""
            keys = decision_keys(sender, status, ours) if status and not off else ()
            if keys:
                await runtime.store.record_message(decision_meta(sender, keys, when + 1, "sim", status),
                                                   runtime.config.local_domains)
    finally:
        await runtime.close()
    return counts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--labels", required=True, type=Path)
    p.add_argument("--learn", action="append", default=[], type=Path, help="sent mail to learn first")
    p.add_argument("--approach", action="store_true", help="also triage each missed approach 'approach'")
    p.add_argument("--off", action="store_true", help="no decisions (the figures of evaluate --replay)")
    a = p.parse_args()
    counts = asyncio.run(simulate(a.labels, a.learn, a.approach, a.off))
    print(" ".join(f"{label}: {f} of {n} flagged" for label, (f, n) in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

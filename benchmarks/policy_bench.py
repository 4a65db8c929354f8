"""Policy evaluation time per message over real ham, beside a one-rule baseline.

Usage: python benchmarks/policy_bench.py [--limit 500] [--ham DIR] [--policies PATH ...]

Messages: the first `--limit` files (sorted) of ../shared/corpora/ham. Each message is parsed and
its signals computed once (default checks, offline) outside the timed region; its text parts are
decoded too (checks read them in the pipeline). Timed: `PolicySet.evaluate` alone, which includes
reading, folding and searching fields. Policy sets, in the same run:
  baseline     one trivial rule ({subject: {contains: zzz}})
  shipped+ex   policies/ (shipped) + tests/unit/policy/data/policies (examples)
  synthetic50  50 rules of the kinds the shipped policies use (phrases, regex, signals, at_least)
Prints mean, p50, p95, p99 in microseconds per message.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.model import Envelope, Signal  # noqa: E402
from gateway.parse import MessageView, normalize_newlines  # noqa: E402
from gateway.policy import PolicySet, load_policies  # noqa: E402
from gateway.policy.commands import default_config  # noqa: E402
from gateway.runtime import Runtime  # noqa: E402

HAM = ROOT.parent / "shared" / "corpora" / "ham"

WORDS = {
    "offchannel": "whatsapp telegram wechat signal-app line-id viber 'personal email' "
                  "'private email' 'my gmail' 'text me' 'call me on'",
    "money": "retainer honorarium 'consultancy fee' 'paid report' 'generous compensation' "
             "'advisory role' 'long-term partnership' stipend 'per hour' 'per report' bitcoin",
    "secrecy": "confidential 'between us' discreet 'do not tell' 'keep this private' "
               "'off the record' secret 'no need to mention'",
    "recruit": "headhunter recruiter 'exciting opportunity' 'your profile' 'perfect fit' "
               "'talent acquisition' 'executive search' 'career move'",
    "sensitive": "'internal memo' 'unpublished' 'draft policy' 'non-public' 'org chart' "
                 "'colleagues names' 'internal views' 'classified' 'export control' roadmap",
    "travel": "'all expenses paid' 'flights and hotel' 'visit beijing' 'invitation letter' "
              "'business class' 'fully covered' 'travel grant'",
}
FIELDS = ["text", "subject", "from.display", "html_text"]


def synthetic_policy(directory: Path) -> Path:
    lines = ["thresholds: {caution: 3, suspicious: 6, high: 10}", "phrases:"]
    for name, words in WORDS.items():
        lines.append(f"  {name}: [{', '.join(w.strip(chr(39)) for w in _split(words))}]")
    lines.append("rules:")
    names = list(WORDS)
    for i in range(50):
        kind = i % 5
        ph, fld = names[i % len(names)], FIELDS[i % len(FIELDS)]
        if kind == 0:
            when = f"{{{fld}: {{phrases: {ph}}}}}"
        elif kind == 1:
            when = (f"{{all: [{{from.domain: {{in: [gmail.com, outlook.com, qq.com, 163.com]}}}}, "
                    f"{{text: {{phrases: {ph}}}}}]}}")
        elif kind == 2:
            when = f"{{subject: {{regex: '(?i)\\\\b(job|offer|invitation|urgent)\\\\s+n{i}\\\\b'}}}}"
        elif kind == 3:
            when = (f"{{at_least: {{n: 2, of: [{{text: {{phrases: {ph}}}}}, "
                    f"{{text: {{phrases: {names[(i + 1) % len(names)]}}}}}, "
                    f"{{signal: message.defects}}]}}}}")
        else:
            when = "{signal: message.no_from}"
        lines.append(f"  - {{id: r{i}, when: {when}, score: 1, reason: 'rule {i} {{matched}}'}}")
    path = directory / "synthetic.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _split(words: str) -> list[str]:
    import shlex

    return shlex.split(words)


def corpus(ham: Path, limit: int) -> list[tuple[MessageView, list[Signal], Envelope]]:
    files = sorted(p for p in ham.rglob("*") if p.is_file())[:limit]
    if len(files) < 2:
        raise SystemExit(f"no messages under {ham}; give --ham DIR")
    runtime = Runtime(default_config(), offline=True)
    out = []
    for f in files:
        raw = normalize_newlines(f.read_bytes()[:10_000_000])
        view = MessageView.parse(raw)
        env = Envelope(mail_from="", rcpt_tos=("alice@example.org",))
        signals = asyncio.run(runtime.signals(raw, env)).signals
        view.plain_text, view.html_text  # decoded as in the pipeline
        out.append((view, signals, env))
    return out


def measure(policies: PolicySet, msgs: list[tuple[MessageView, list[Signal], Envelope]],
            rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        for view, signals, env in msgs:
            t0 = time.perf_counter()
            policies.evaluate(signals, view, env)
            times.append(time.perf_counter() - t0)
    return times


def report(name: str, policies: PolicySet, times: list[float]) -> None:
    us = sorted(t * 1e6 for t in times)
    q = statistics.quantiles(us, n=100)
    print(f"{name:<12} rules={len(policies.rules):>3}  mean={statistics.fmean(us):8.1f}us  "
          f"p50={q[49]:8.1f}us  p95={q[94]:8.1f}us  p99={q[98]:8.1f}us  max={us[-1]:8.1f}us")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ham", type=Path, default=HAM)
    ap.add_argument("--policies", nargs="*", default=[str(ROOT / "policies"),
                    str(ROOT / "tests/unit/policy/data/policies")])
    args = ap.parse_args()
    msgs = corpus(args.ham, args.limit)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline.yml"
        base.write_text("rules:\n  - {id: t, when: {subject: {contains: zzz}}, score: 1}\n")
        sets = [("baseline", load_policies([str(base)])),
                ("shipped+ex", load_policies(args.policies)),
                ("synthetic50", load_policies([str(synthetic_policy(Path(tmp)))]))]
    print(f"{len(msgs)} messages from {args.ham}, {args.rounds} rounds each")
    measure(sets[1][1], msgs, 1)  # warm-up
    for name, policies in sets:
        report(name, policies, measure(policies, msgs, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())

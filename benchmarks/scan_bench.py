"""Offline analysis cost per message over the ham corpus, beside spamd -L and Rspamd, same run.

Usage: python benchmarks/scan_bench.py [--limit N] [--corpus DIR ...] [--warmup 50]
                                       [--no-warm-up] [--no-spamd] [--no-rspamd] [--no-cli]

Messages: every file under the corpus dirs (default ../shared/corpora/ham/spamassassin, ~4150),
sorted, newlines normalised as `scan` does. Every system sees the same messages, one at a time
(one stream, no concurrency), after `--warmup` untimed messages.

  gateway (in-process)  Runtime(config, offline=True).analyse(raw, envelope) per message, the
                        shipped policies/, envelope as `scan` builds it, after `Runtime.warm_up` as
                        `serve` runs it before it accepts mail (`--no-warm-up`: without, as before
                        session 40; one or the other per process, since the RE2 sets' DFA states
                        it builds are the module's). CPU = time.process_time
                        deltas (all threads of this process). Peak RSS = ru_maxrss of this process
                        (it also holds the corpus in memory).
  gateway scan CLI      `python -m gateway scan --offline --json FILES...` once, as a subprocess:
                        wall and CPU (rusage of the child) include interpreter start-up, imports,
                        policy compilation, reading files and printing JSON.
  spamd -L              SpamAssassin from Debian; see baselines.py for the configuration.
  Rspamd                Rspamd from Debian; see baselines.py for the configuration.

Also printed: the per-message CPU split of our pipeline (parse, each check, policy evaluation,
action planning, the rest), measured in a second instrumented pass, and PolicySet.evaluate alone.

Untrusted input: the corpus messages.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import baselines  # noqa: E402
from baselines import BaselineError, Run  # noqa: E402

import gateway.runtime as gr  # noqa: E402
from gateway.checks import CheckContext  # noqa: E402
from gateway.cli import scan_envelope  # noqa: E402
from gateway.config import load_config  # noqa: E402
from gateway.model import Envelope, Signal  # noqa: E402
from gateway.parse import normalize_newlines  # noqa: E402

CORPUS = next((p for p in (ROOT.parent / "shared" / "corpora" / "ham" / "spamassassin",
                            ROOT.parent.parent / "shared" / "corpora" / "ham" / "spamassassin")  # worktree
               if p.is_dir()), ROOT.parent / "shared" / "corpora" / "ham" / "spamassassin")

CONFIG = """listen: 127.0.0.1:0
upstream: {{host: 127.0.0.1, port: 10026}}
hostname: gw.example.org
authserv_id: gw.example.org
local_domains: [example.org, example.ac.uk]
policies: [{policies}]
store: {{path: {store}}}
"""


def load(dirs: list[Path], limit: int | None) -> tuple[list[Path], list[bytes]]:
    files = sorted(p for d in dirs for p in d.rglob("*") if p.is_file())[:limit]
    if not files:
        raise SystemExit(f"no messages under {', '.join(map(str, dirs))}; give --corpus DIR")
    return files, [normalize_newlines(f.read_bytes()) for f in files]


def envelope(raw: bytes) -> Envelope:
    args = argparse.Namespace(mail_from=None, rcpt=[], client_ip=None, helo=None)
    return scan_envelope(args, raw)  # what `scan` gives the pipeline (Return-Path, no rcpt)


# ---------------------------------------------------------------- our pipeline


class Split:
    """CPU seconds per stage, summed over messages."""

    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.policy_each: list[float] = []

    def add(self, stage: str, seconds: float) -> None:
        self.total[stage] = self.total.get(stage, 0.0) + seconds

    def timed(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(stage, time.process_time() - t0)
        return wrapper


class TimedCheck:
    """A check wrapped to time its run; it declares what the wrapped check declares, except that it
    runs on the analysis task one after another (io = False): a check that waits on the store would
    otherwise be charged with every computing check that ran while it waited."""

    def __init__(self, inner: Any, split: Split) -> None:
        self.inner, self.split = inner, split
        self.name, self.needs, self.provides = inner.name, inner.needs, inner.provides
        self.waits = inner.waits
        self.timeout_share, self.spec_of, self.io = inner.timeout_share, inner.spec_of, False

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        t0 = time.process_time()
        try:
            return list(await self.inner.run(ctx))
        finally:
            self.split.add(f"check {self.name}", time.process_time() - t0)


class TimedPolicies:
    def __init__(self, inner: Any, split: Split) -> None:
        self.inner, self.split = inner, split

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.process_time()
        try:
            return self.inner.evaluate(*args, **kwargs)
        finally:
            took = time.process_time() - t0
            self.split.add("policy evaluate", took)
            self.split.policy_each.append(took)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def ours(msgs: list[bytes], config_path: Path, warmup: int, warm_up: bool = True) -> tuple[Run, Split]:
    config = load_config(config_path)
    pipeline = gr.Runtime(config, offline=True)
    print(f"policies: {len(pipeline.policies.rules)} rules from {', '.join(map(str, config.policies))}; "
          f"checks: {', '.join(c.name for c in pipeline.checks)}", flush=True)
    if warm_up:  # what `serve` does before it listens (gateway/smtp/service.py)
        await pipeline.warm_up()
    work = [(raw, envelope(raw)) for raw in msgs]
    name = "gateway analyse (in-process)" if warm_up else "gateway analyse (in-process, no warm_up)"
    run = await measure(pipeline, work, work[:warmup], name)
    return run, await instrumented(pipeline, work)


async def measure(pipeline: gr.Runtime, work: list[tuple[bytes, Envelope]],
                  warm: list[tuple[bytes, Envelope]], name: str,
                  after: Callable[[gr.Result], Awaitable[Any]] | None = None) -> Run:
    """`warm` analysed untimed, then every message of `work` one after another: CPU of this
    process (every thread) per message and in all, verdicts. `after(result)`, when given, runs
    after each message (warm-up ones too) and its CPU is left out (serve_scan.py records each
    message in the store, as `serve` does, so that the next one sees the same history)."""
    for raw, env in warm:
        result = await pipeline.analyse(raw, env)
        if after is not None:
            await after(result)
    run = Run(name)
    left_out = 0.0
    cpu0 = time.process_time()
    for raw, env in work:
        c, t = time.process_time(), time.perf_counter()
        result = await pipeline.analyse(raw, env)
        run.wall += time.perf_counter() - t
        c1 = time.process_time()
        run.cpu_each.append(c1 - c)
        word = result.decision.verdict.word if result.decision.checked else "unchecked"
        run.verdicts[word] = run.verdicts.get(word, 0) + 1
        run.messages += 1
        if after is not None:
            await after(result)
            left_out += time.process_time() - c1
    run.cpu_total = time.process_time() - cpu0 - left_out
    run.peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    run.rss_note = "ru_maxrss of the bench process (includes the corpus held in memory)"
    return run


async def instrumented(pipeline: gr.Runtime, work: list[tuple[bytes, Envelope]]) -> Split:
    """Second pass with every stage wrapped: where the CPU goes."""
    split = Split()
    checks, policies = pipeline.checks, pipeline.policies
    saved = gr.MessageView, gr.plan, gr.draft_meta

    class View:
        parse = staticmethod(split.timed("parse (MessageView.parse)", gr.MessageView.parse))

    pipeline.checks = [TimedCheck(c, split) for c in checks]  # type: ignore[misc]
    pipeline.policies = TimedPolicies(policies, split)  # type: ignore[assignment]
    gr.MessageView = View  # type: ignore[misc,assignment]
    gr.plan = split.timed("action plan", gr.plan)
    gr.draft_meta = split.timed("message meta (store record draft)", gr.draft_meta)
    try:
        t0 = time.process_time()
        for raw, env in work:
            await pipeline.analyse(raw, env)
        split.add("TOTAL", time.process_time() - t0)
    finally:
        pipeline.checks, pipeline.policies = checks, policies
        gr.MessageView, gr.plan, gr.draft_meta = saved  # type: ignore[misc]
    return split


def cli(files: list[Path], config_path: Path, tmp: Path, name: str = "gateway scan CLI (subprocess)") -> Run:
    out = tmp / "scan.jsonl"
    cmd = [sys.executable, "-m", "gateway", "scan", "--config", str(config_path), "--offline", "--json",
           *map(str, files)]
    t0 = time.perf_counter()
    with out.open("wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=open(tmp / "scan.err", "wb"))
        _, status, usage = os.wait4(proc.pid, 0)
    run = Run(name, wall=time.perf_counter() - t0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    run.messages = sum(1 for _ in out.open("rb"))
    run.errors = len(files) - run.messages
    run.cpu_total = usage.ru_utime + usage.ru_stime
    run.peak_rss = usage.ru_maxrss * 1024
    run.rss_note = f"exit {proc.returncode}; includes start-up; rusage of the child"
    return run


# ---------------------------------------------------------------- report


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100)[p - 1] if len(values) > 1 else values[0]


def table(runs: list[Run]) -> None:
    head = (f"{'system':<32} {'msgs':>5} {'wall s':>8} {'msg/s':>8} {'CPU ms/msg':>10} {'p50':>7} {'p95':>7} "
            f"{'p99':>7} {'peak MiB':>9}")
    print(head)
    print("-" * len(head))
    for r in runs:
        n = max(r.messages, 1)
        ms = [c * 1e3 for c in r.cpu_each]
        q = (f"{pct(ms, 50):7.2f} {pct(ms, 95):7.2f} {pct(ms, 99):7.2f}" if ms else f"{'-':>7} {'-':>7} {'-':>7}")
        print(f"{r.name:<32} {r.messages:>5} {r.wall:8.2f} {n / r.wall if r.wall else 0:8.1f} "
              f"{r.cpu_total * 1e3 / n:10.2f} {q} {r.peak_rss / 2**20:9.1f}")
    print()
    for r in runs:
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(r.verdicts.items()))
        print(f"  {r.name}: {verdicts or '-'}{f'; {r.errors} errors' if r.errors else ''}; "
              f"memory: {r.rss_note}")


def split_report(split: Split, n: int) -> None:
    total = split.total.get("TOTAL", 0.0)
    print(f"\nOur pipeline, CPU per message by stage (instrumented pass, {n} messages; "
          f"total {total * 1e3 / n:.3f} ms/msg):")
    known = 0.0
    for stage, secs in sorted(split.total.items(), key=lambda kv: -kv[1]):
        if stage == "TOTAL":
            continue
        known += secs
        print(f"  {stage:<40} {secs * 1e3 / n:8.3f} ms  {100 * secs / total if total else 0:5.1f}%")
    rest = total - known
    print(f"  {'rest (headers, edits, asyncio, timing)':<40} {rest * 1e3 / n:8.3f} ms  "
          f"{100 * rest / total if total else 0:5.1f}%")
    us = [t * 1e6 for t in split.policy_each]
    if us:
        print(f"\nPolicySet.evaluate per message (signals computed): mean {statistics.fmean(us):.1f} us, "
              f"p50 {pct(us, 50):.1f}, p95 {pct(us, 95):.1f}, p99 {pct(us, 99):.1f}, max {max(us):.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, action="append", help=f"message folder (default {CORPUS})")
    ap.add_argument("--limit", type=int, default=None, help="first N messages (sorted by path)")
    ap.add_argument("--warmup", type=int, default=50, help="untimed messages sent first to each system")
    ap.add_argument("--policies", type=Path, default=ROOT / "policies")
    ap.add_argument("--no-warm-up", action="store_true", help="skip Runtime.warm_up (serve runs it before it listens)")
    ap.add_argument("--no-spamd", action="store_true")
    ap.add_argument("--no-rspamd", action="store_true")
    ap.add_argument("--no-cli", action="store_true")
    args = ap.parse_args(argv)
    files, msgs = load(args.corpus or [CORPUS], args.limit)
    warm = min(args.warmup, len(msgs))
    print(f"{len(msgs)} messages, {sum(map(len, msgs)) / 2**20:.1f} MiB, warm-up {warm}; "
          f"{os.cpu_count()} CPUs; python {sys.version.split()[0]}", flush=True)
    runs: list[Run] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="scan-bench-") as t:
        tmp = Path(t)
        config_path = tmp / "gateway.yml"
        config_path.write_text(CONFIG.format(policies=args.policies, store=tmp / "store.sqlite3"))
        run, split = asyncio.run(ours(msgs, config_path, warm, not args.no_warm_up))
        runs.append(run)
        print(f"done: {run.name}", file=sys.stderr, flush=True)
        if not args.no_cli:
            runs.append(cli(files[:1], config_path, tmp, "scan CLI, 1 message (start-up)"))
            runs.append(cli(files, config_path, tmp))
            print(f"done: {runs[-1].name}", file=sys.stderr, flush=True)
        if not args.no_rspamd:
            dns = baselines.DnsStub()
            try:
                runs.append(baselines.rspamd_run(msgs, tmp, warm, dns))
            except (BaselineError, OSError) as exc:
                failures.append(f"Rspamd: {exc}")
            finally:
                dns.close()
            print("done: rspamd", file=sys.stderr, flush=True)
        if not args.no_spamd:
            try:
                runs.append(baselines.spamd_run(msgs, tmp, warm))
            except (BaselineError, OSError) as exc:
                failures.append(f"spamd: {exc}")
            print("done: spamd", file=sys.stderr, flush=True)
    print()
    table(runs)
    split_report(split, len(msgs))
    for f in failures:
        print(f"\nNOT MEASURED {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

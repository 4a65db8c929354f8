"""The policy commands behind the CLI: `policy lint`, `policy test`, `evaluate`.

Purpose: keep `gateway.cli` a thin argument parser; these functions print what a person reads
(every error with file, line and fix) and return the exit status: 0 ok, 1 a failed check
(lint error, regression), 2 a usage or configuration error.

Untrusted input: message files named on the command line (analysed offline by the runtime).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.config import Config, HostPort, StoreConfig, UpstreamConfig, shipped_policies
from gateway.errors import AdminInputError
from gateway.model import Verdict
from gateway.policy.engine import load_policies
from gateway.policy.evaluate import (
    CasesError,
    Evaluation,
    Labelled,
    analysed,
    evaluate,
    format_text,
    label_dirs,
    load_cases,
    load_labels,
    run_cases,
)
from gateway.policy.lint import lint
from gateway.runtime import Runtime


def add_arguments(policy_sub: argparse._SubParsersAction,  # type: ignore[type-arg]
                  top_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    lint_p = policy_sub.add_parser("lint", help="validate policy files; exit 1 on any error")
    lint_p.add_argument("--config", help="take the policy paths (and checks) from this config")
    lint_p.add_argument("paths", nargs="*", help="policy files or directories, in load order "
                        "(after the config's)")
    sig_p = policy_sub.add_parser("signals", help="list every signal the checks declare, with its evidence")
    sig_p.add_argument("--markdown", action="store_true", help="the table of docs/signals.md")
    test_p = policy_sub.add_parser("test", help="run labelled example messages; exit 1 on "
                                   "any regression")
    test_p.add_argument("--config", help="gateway config (policies and checks); default: "
                        "built-in settings with ./policies")
    test_p.add_argument("--policies", action="append", default=[],
                        help="policy paths to test instead of the config's (repeatable)")
    test_p.add_argument("cases", nargs="+", help="cases YAML files")
    ev = top_sub.add_parser("evaluate", help="precision, recall and per-rule hits over "
                            "labelled folders")
    ev.add_argument("--config")
    ev.add_argument("--policies", action="append", default=[])
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--label", action="append", default=[], metavar="NAME=DIR")
    ev.add_argument("--labels", action="append", default=[], metavar="LABELS.yml")
    ev.add_argument("--positive", default="approach", help="the label that should be flagged")
    ev.add_argument("--flag-at", default="suspicious", help="verdict that counts as flagged")
    ev.add_argument("--replay", action="store_true", help="analyse in Date order through the config's store, "
                    "remembering each message as serve does (history and campaigns build up)")
    ev.add_argument("--learn", action="append", default=[], metavar="MBOX_OR_MAILDIR",
                    help="import the organisation's sent mail into the store first (as `learn`)")
    ev.add_argument("--aggregate", action="store_true",
                    help="figures only, no file names (for a sealed split)")
    fit_p = policy_sub.add_parser("fit", help="learn rule weights from labelled mail (logistic regression, "
                                  "grouped cross-validation) and write them as a policy file")
    fit_p.add_argument("--config", help="gateway config (policies, store, checks)")
    fit_p.add_argument("--labels", action="append", default=[], metavar="LABELS.yml")
    fit_p.add_argument("--label", action="append", default=[], metavar="NAME=DIR",
                       help="every file under DIR carries label NAME (e.g. ham=mail/ham: more negatives)")
    fit_p.add_argument("--positive", default="approach", help="the label that should be flagged")
    fit_p.add_argument("--replay", action="store_true", help="as evaluate --replay")
    fit_p.add_argument("--learn", action="append", default=[], metavar="MBOX_OR_MAILDIR",
                       help="import sent mail first, as evaluate --learn")
    fit_p.add_argument("--legit-correct", type=float, default=0.97,
                       help="share of legitimate training mail to keep below suspicious (default 0.97)")
    fit_p.add_argument("--fixed", action="append", default=[], metavar="RULE",
                       help="a rule that keeps its authored score (repeatable), e.g. one the policy mandates")
    fit_p.add_argument("--cap", action="append", default=[], metavar="RULE",
                       help="a combination capped like a single cue, below suspicious (repeatable), e.g. one "
                            "that counts a single offer with its context")
    fit_p.add_argument("--out", required=True, help="policy file to write (e.g. policies/local.d/40-fitted.yml)")


def default_config(policies: Sequence[str] = ()) -> Config:
    """The configuration of `policy test`, `policy fit` and `evaluate` without `--config`: the
    shipped policies and an in-memory store, so that a dry run neither writes a history file
    into the current directory nor reads one a previous run left there (the same cases give
    the same verdicts on every run)."""
    return Config(listen=HostPort("127.0.0.1", 0), upstream=UpstreamConfig(),
                  hostname="localhost", authserv_id="localhost", local_domains=(),
                  policies=tuple(policies) or (shipped_policies(),), store=StoreConfig(backend="memory"))


def _runtime(config: Config, policies: Sequence[str]) -> Runtime | None:
    """The offline runtime, or None after printing every policy or reference data error."""
    try:
        return Runtime(config, policies=load_policies(policies or config.policies, strict=True), offline=True)
    except AdminInputError as exc:  # PolicyError, DataError (an indicator file of the config)
        for err in exc.errors:
            print(f"error: {err}", file=sys.stderr)
        return None


def print_lint(errors: Sequence[str], warnings: Sequence[str] = ()) -> None:
    """The lint's report on stderr: `warning: ...` and `error: file:line: problem; fix` lines,
    then `N error(s)`; also the format of config errors met by `policy lint --config`."""
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if errors:
        print(f"{len(errors)} error(s)", file=sys.stderr)


def cmd_lint(config: Config | None, paths: Sequence[str]) -> int:
    paths = list(config.policies if config else ()) + list(paths) or [shipped_policies()]
    report = lint(paths, config)
    print_lint(report.errors, report.warnings)
    if not report.ok:
        return 1
    if report.policies is None:  # ok without policies cannot happen: say so rather than crash
        print("no policies loaded", file=sys.stderr)
        return 1
    print(f"ok: {len(report.policies.rules)} rules in {len(report.policies.sources)} files")
    return 0


def cmd_test(config: Config | None, policies: Sequence[str], cases: Sequence[str]) -> int:
    runtime = _runtime(config or default_config(), policies)
    if runtime is None:
        return 2
    passed, failures = 0, []
    for path in cases:
        try:
            loaded = load_cases(path)
        except CasesError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        report = asyncio.run(run_cases(runtime, loaded))
        passed += report.passed
        failures += report.failures
    for f in failures:
        print(f"FAIL {f}")
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


def is_combination(cond: Any) -> bool:
    """Whether a rule's condition needs two or more things at once (an `all:` with at least two
    positive parts, or `at_least` with n >= 2); a bare signal, a field test or an `any:` of
    alternatives is a single cue."""
    from gateway.policy.conditions import AllOf, AnyOf, AtLeast, CompositeRef, Not

    if isinstance(cond, CompositeRef):
        return cond.target is not None and is_combination(cond.target)
    if isinstance(cond, AtLeast):
        return cond.n >= 2
    if isinstance(cond, AllOf) and not isinstance(cond, AnyOf):
        return sum(1 for c in cond.children if not isinstance(c, Not)) >= 2 or \
            any(is_combination(c) for c in cond.children)
    return False


def _labelled(args: argparse.Namespace, what: str) -> list[Labelled] | None:
    """The messages of --label NAME=DIR and --labels FILE, or None after printing why not."""
    try:
        items: list[Labelled] = label_dirs(args.label)
        for path in args.labels:
            items += load_labels(path, args.positive)
    except (CasesError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    if not items:
        print(f"error: nothing to {what}; give --labels FILE or --label NAME=DIR", file=sys.stderr)
        return None
    return items


def cmd_fit(args: argparse.Namespace, config: Config | None) -> int:
    from gateway.policy.fit import Sample, fit, policy_patch

    items = _labelled(args, "fit on")
    if items is None:
        return 2
    # the weights being refitted do not take part: the authored scores are the prior
    from gateway.policy.loader import policy_files
    from gateway.problems import Problems

    cfg = config or default_config()
    out = Path(args.out).resolve()
    files = [str(f) for f in policy_files(cfg.policies, Problems()) if f.resolve() != out]
    runtime = _runtime(cfg, files)
    if runtime is None:
        return 2

    async def run() -> list[Sample]:
        if args.learn and runtime.store is not None:
            from gateway.store.learn import learn

            await learn(runtime.store, [Path(p) for p in args.learn], runtime.config.local_domains)
        try:
            # the fixed rules take no part (their scores are not counted in the CV either: the text
            # model's rules fire here from a model that saw these messages; tests/evalset/tools/
            # textmodel_oof.py --fit counts them out of fold)
            return [Sample(frozenset(h.rule_id for h in r.decision.hits) - set(args.fixed), item.label == args.positive,
                           item.group or str(item.file.parent))
                    async for item, r in analysed(runtime, items, replay=args.replay)]
        finally:
            await runtime.close()
    samples = asyncio.run(run())
    authored = {r.id: r.score for r in runtime.policies.rules}
    signs = {rid: (1 if sc > 0 else -1 if sc < 0 else 0) for rid, sc in authored.items()}
    thresholds = {v.word: t for v, t in runtime.policies.thresholds.items()}
    single = [r.id for r in runtime.policies.rules if not is_combination(r.when) or r.id in args.cap]
    report = fit(samples, legit_correct=args.legit_correct, signs=signs, priors=authored, thresholds=thresholds,
                 single_cues=single)
    source = ", ".join(list(args.labels) + list(args.label))
    Path(args.out).write_text(policy_patch(report, samples, thresholds, source, args.fixed, args.legit_correct,
                                           single))
    for l2, recall, correct in report.per_l2:
        print(f"l2 {l2:<6g} cross-validated recall {100 * recall:5.1f}%  legitimate kept {100 * correct:5.1f}%")
    print(f"chose l2 {report.l2:g}; wrote {len(report.model.weights)} rule weights to {args.out}")
    return 0


def cmd_evaluate(args: argparse.Namespace, config: Config | None) -> int:
    try:
        flag_at = Verdict.from_word(args.flag_at)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    items = _labelled(args, "evaluate")
    if items is None:
        return 2
    runtime = _runtime(config or default_config(), args.policies)
    if runtime is None:
        return 2
    async def run() -> Evaluation:
        if args.learn and runtime.store is not None:
            from gateway.store.learn import learn

            await learn(runtime.store, [Path(p) for p in args.learn], runtime.config.local_domains)
        try:
            return await evaluate(runtime, items, positive=args.positive, flag_at=flag_at, replay=args.replay)
        finally:
            await runtime.close()
    ev = asyncio.run(run())
    if args.json:
        print(json.dumps(ev.as_json(args.aggregate), indent=2, ensure_ascii=False))
    else:
        print(format_text(ev, args.aggregate))
    return 0

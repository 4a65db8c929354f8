"""`policy lint`: every problem in a set of policy files, each with file, line and fix.

Purpose: what `load_policies` refuses (syntax, unknown field or matcher, RE2 refusals, duplicate
ids, unknown phrase lists, threshold order) plus what needs the checks' declarations to know:
signal names no check declares, evidence keys a signal does not carry (in conditions and reason
placeholders), numeric comparisons on text evidence, and verdicts no combination of rules can
reach.

Untrusted input: admin-written policy files only.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.checks import SignalSpec, signal_specs
from gateway.config import Config
from gateway.policy.engine import ORDER, PolicySet, compile_merged
from gateway.policy.loader import read_all
from gateway.problems import Problems


@dataclass(frozen=True)
class LintReport:
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    policies: PolicySet | None

    @property
    def ok(self) -> bool:
        return not self.errors


def lint(paths: Iterable[str], config: Config | None = None,
         specs: dict[str, SignalSpec] | None = None, texts: Mapping[Path, str] | None = None) -> LintReport:
    """Lint `paths` (in load order) against the declared signals (default: every check's);
    `texts`: edited text read instead of those files (the console's editor)."""
    if specs is None:
        specs = {name: spec for name, (spec, _) in signal_specs().items()}
    problems = Problems()
    merged = read_all(list(paths), problems, texts)
    policies = compile_merged(merged, problems)
    unknown_signals(policies, frozenset(specs), problems)
    unknown_evidence(policies, specs, problems)
    if not problems.errors:
        unreachable(policies, merged.sources, problems)
    return LintReport(tuple(problems.report()), tuple(problems.warnings),
                      None if problems.errors else policies)


def unknown_signals(policies: PolicySet, known: frozenset[str], problems: Problems) -> None:
    for ref in policies.signal_refs:
        if ref.prefix:
            if not any(k.startswith(ref.name) for k in known):
                families = sorted({k.split(".", 1)[0] + ".*" for k in known})
                problems.add(ref.where, f"no known signal starts with {ref.name!r}",
                             f"use a family a check declares: {', '.join(families)}")
        elif ref.name not in known:
            close = difflib.get_close_matches(ref.name, sorted(known), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else \
                "use a name a check declares (see the signal list in policies/README.md)"
            problems.add(ref.where, f"unknown signal {ref.name!r}", hint)


def unknown_evidence(policies: PolicySet, specs: dict[str, SignalSpec], problems: Problems) -> None:
    for ref in policies.signal_refs:
        family = [s for n, s in specs.items() if (n.startswith(ref.name) if ref.prefix else n == ref.name)]
        if not family:
            continue  # reported as an unknown signal
        keys = {k: t for s in family for k, t in s.evidence.items()}
        for key in ref.keys:
            if key not in keys:
                close = difflib.get_close_matches(key, sorted(keys), n=2)
                hint = f"did you mean {', '.join(close)}?" if close else \
                    f"its evidence keys are: {', '.join(sorted(keys)) or '(none)'}"
                problems.add(ref.where, f"signal {ref.name}{'*' if ref.prefix else ''} has no evidence key {key!r}",
                             hint)
        for key in ref.numeric:
            if key in keys and keys[key] not in (int, float):
                problems.add(ref.where, f"evidence {key!r} of {ref.name} is text, not a number",
                             "compare it with equals, in, contains or regex instead of gt/ge/lt/le")


def unreachable(policies: PolicySet, sources: list[str], problems: Problems) -> None:
    top = policies.max_score()
    first = f"{sources[0]}:1" if sources else "(no files)"
    sets = [("thresholds", policies.thresholds, dict(policies.threshold_where))]
    sets += [(f"group {g.name} thresholds", g.thresholds, {}) for g in policies.groups]
    for what, th, where in sets:
        for v in ORDER:
            if th[v] > top:
                at = where.get(v.word) or (next(g.where for g in policies.groups
                                                if what == f"group {g.name} thresholds")
                                           if what.startswith("group") else first)
                problems.add(at, f"{what}: {v.word} needs {th[v]:g} but all enabled rules "
                             f"together score at most {top:g}, so {v.word} is unreachable",
                             f"lower {v.word} to {top:g} or less, or add rules")
                break  # higher verdicts are unreachable too; one error says it

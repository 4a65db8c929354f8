"""The policy language's entry points: `load_policies(paths) -> PolicySet`, `PolicySet.evaluate`.

Purpose: compile the merged policy files (`gateway.policy.loader`) into rules, phrase lists,
recipient groups and allow entries, then score one message: allowlisted senders are `clean` with
a reason; otherwise the scores of the rules that hit are summed and turned into a verdict through
the thresholds, where a recipient group's own thresholds apply when any recipient is in it (the
most sensitive wins). `actions` are kept raw (`actions_raw`, `actions_where`) for the act step.

Untrusted input: signals and message fields (stranger's data) are only matched with RE2 and
compared; policy files are admin input validated with `file:line: problem; fix` errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from gateway.act.actions import DEFAULT_ACTIONS, ActionsConfig, parse_actions
from gateway.errors import AdminInputError
from gateway.model import Decision, Envelope, RuleHit, Signal, Verdict
from gateway.parse import MessageView
from gateway.policy.conditions import Condition, MessageContext, SplitTrigger, false_without, split_trigger
from gateway.policy.loader import VERDICT_WORDS, Merged, Origin, read_all
from gateway.policy.schema import Compiler, SignalRef, Template
from gateway.policy.text import REASON_CAP, compile_phrases, one_line
from gateway.problems import Problems
from gateway.regex import Regex
from gateway.yamlmarks import Located

DEFAULT_THRESHOLDS = {Verdict.CAUTION: 3.0, Verdict.SUSPICIOUS: 6.0, Verdict.HIGH: 10.0}
ORDER = (Verdict.CAUTION, Verdict.SUSPICIOUS, Verdict.HIGH)
MAX_SCORE = 1000.0

log = logging.getLogger("gateway.policy")


class PolicyError(AdminInputError):
    """Policy files (or their `actions:`) are invalid. `errors` lists every problem as
    `file:line: problem; fix`, in reading order (gateway/problems.py)."""

    kind = "policy error"


@dataclass(frozen=True)
class Rule:
    id: str
    when: Condition
    score: float
    reason: Template
    description: str = ""
    where: str = ""


@dataclass(frozen=True)
class Group:
    """Recipients (addresses, or domains and their subdomains) with their own thresholds."""

    name: str
    addresses: frozenset[str]
    domains: tuple[str, ...]
    thresholds: Mapping[Verdict, float]
    where: str = ""

    def contains(self, address: str) -> bool:
        a = address.lower()
        d = a.rsplit("@", 1)[-1]
        return a in self.addresses or any(d == x or d.endswith("." + x) for x in self.domains)


@dataclass(frozen=True)
class AllowEntry:
    """A sender (From address) or domain whose mail is `clean`, if `when` also holds."""

    address: str
    domain: str
    reason: str
    when: Condition | None
    where: str = ""

    def matches(self, ctx: MessageContext) -> bool:
        if self.address and ctx.first("from.address").lower() != self.address:
            return False
        if self.domain:
            d = ctx.first("from.domain").lower()
            if not (d == self.domain or d.endswith("." + self.domain)):
                return False
        return self.when is None or self.when.test(ctx)


@dataclass(frozen=True)
class PolicySet:
    rules: tuple[Rule, ...] = ()
    thresholds: Mapping[Verdict, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    sources: tuple[str, ...] = ()
    groups: tuple[Group, ...] = ()
    allow: tuple[AllowEntry, ...] = ()
    phrases: Mapping[str, Regex] = field(default_factory=dict)
    actions_raw: Mapping[str, Any] = field(default_factory=dict)
    action_lines: Mapping[tuple[Any, ...], str] = field(default_factory=dict)
    threshold_where: Mapping[str, str] = field(default_factory=dict)
    signal_refs: tuple[SignalRef, ...] = ()
    warnings: tuple[str, ...] = ()
    actions: ActionsConfig = DEFAULT_ACTIONS

    def actions_where(self, path: Sequence[Any] | str) -> str:
        """`file:line` of the action setting at `path` (tuple of keys or "a.b"), or ''."""
        keys = tuple(path.split(".")) if isinstance(path, str) else tuple(path)
        for end in range(len(keys), 0, -1):
            found = self.action_lines.get(keys[:end])
            if found:
                return found
        return ""

    def groups_of(self, recipients: Sequence[str]) -> tuple[str, ...]:
        return tuple(g.name for g in self.groups if any(g.contains(r) for r in recipients))

    def evaluate(self, signals: Iterable[Signal], view: MessageView | None = None,
                 envelope: Envelope | None = None, *,
                 facts: Mapping[str, Any] | None = None) -> Decision:
        ctx = MessageContext(list(signals), view, envelope, facts, self.groups_of)
        for entry in self.allow:
            if entry.matches(ctx):
                return Decision(verdict=Verdict.CLEAN, score=0.0,
                                hits=(RuleHit("allowlisted", 0.0, entry.reason),))
        hits = []
        rules = self.rules
        for i in self._candidates(ctx.by_name):
            rule = rules[i]
            ctx.matched.clear()
            if rule.when.test(ctx):
                hits.append(RuleHit(rule.id, rule.score, rule.reason.render(ctx)))
        score = round(sum(h.score for h in hits), 2)
        return Decision(verdict=self.verdict_for(score, ctx.field("recipients").strs()),
                        score=score, hits=tuple(hits))

    @cached_property
    def _triggers(self) -> tuple[SplitTrigger | None, ...]:
        """Per rule, the signals without which its condition is False (read once, after the
        composites are resolved; see `false_without`)."""
        return tuple(None if t is None else split_trigger(t) for t in map(false_without, (r.when for r in self.rules)))

    @cached_property
    def _trigger_index(self) -> tuple[tuple[int, ...], dict[str, tuple[int, ...]],
                                      tuple[tuple[str, tuple[int, ...]], ...], tuple[str, ...]]:
        """`_triggers` turned around, once per policy set: the rules without a trigger, and per
        signal name (and per prefix) the rules whose trigger it is in."""
        always: list[int] = []
        names: dict[str, list[int]] = {}
        prefixes: dict[str, list[int]] = {}
        for i, trigger in enumerate(self._triggers):
            if trigger is None:
                always.append(i)
                continue
            for name in trigger[0]:
                names.setdefault(name, []).append(i)
            for prefix in trigger[1]:
                prefixes.setdefault(prefix, []).append(i)
        return (tuple(always), {n: tuple(v) for n, v in names.items()},
                tuple((p, tuple(v)) for p, v in prefixes.items()), tuple(prefixes))

    def _candidates(self, present: Mapping[str, Any]) -> list[int]:
        """Indexes of the rules to test, in order, for a message with the signals named in
        `present`: those without a trigger and those with a signal of their trigger present
        (the rules `any_present` keeps), found from the names present instead of per rule."""
        always, names, prefixes, any_prefix = self._trigger_index
        found = set(always)
        for name in present:
            rules = names.get(name)
            if rules is not None:
                found.update(rules)
            if any_prefix and name.startswith(any_prefix):
                for prefix, rules in prefixes:
                    if name.startswith(prefix):
                        found.update(rules)
        return sorted(found)

    def verdict_for(self, score: float, recipients: Sequence[str] = ()) -> Verdict:
        """The verdict for `score`: the most severe over the default thresholds (for recipients
        in no group) and the thresholds of each group a recipient belongs to."""
        sets: list[Mapping[Verdict, float]] = []
        ungrouped = not recipients
        for r in recipients:
            mine = [g.thresholds for g in self.groups if g.contains(r)]
            sets += mine
            ungrouped = ungrouped or not mine
        if ungrouped:
            sets.append(self.thresholds)
        best = Verdict.CLEAN
        for th in sets:
            for v in ORDER:
                if score >= th[v] and v > best:
                    best = v
        return best

    def max_score(self) -> float:
        return sum(r.score for r in self.rules if r.score > 0)


def load_policies(paths: Iterable[str], texts: Mapping[Path, str] | None = None, *,
                  strict: bool = False) -> PolicySet:
    """Load and merge policy files in order (see `gateway.policy.loader`; `texts`: edited text read
    instead of those files); compile everything. Raises PolicyError listing every problem found.
    `strict` (what the gateway serves with: `Runtime`, `policy test`): also what `_lint_at_load`
    refuses; without it the language alone is checked (its own tests use made-up signals)."""
    problems = Problems()
    merged = read_all(paths, problems, texts)
    policies = compile_merged(merged, problems)
    if strict and not problems.errors:
        _lint_at_load(policies, merged.sources, problems)
    if problems.errors:
        raise PolicyError(problems.report())
    return policies


def _lint_at_load(policies: PolicySet, sources: list[str], problems: Problems) -> None:
    """What `policy lint` refuses, `serve` refuses too, at start and on reload (admin21: a rule on a
    misspelt signal loaded and could never fire; an empty policy folder served every message as
    clean): a signal or evidence key no check declares, and no policy file at all (files that
    define no rule on purpose, `rules: []`, load with a warning).
    A verdict no rule can reach stays lint's error and is a warning here (a deployment may tag
    only `caution` on purpose)."""
    from gateway.checks import signal_specs
    from gateway.policy.lint import unknown_evidence, unknown_signals, unreachable

    specs = {name: spec for name, (spec, _) in signal_specs().items()}
    unknown_signals(policies, frozenset(specs), problems)
    unknown_evidence(policies, specs, problems)
    if not sources:
        problems.add("(no policy files)", "no policy file in the listed directories: every message would be clean",
                     "list the shipped policies directory (or a copy) under policies:")
        return
    if not policies.rules:
        log.warning("policies: no rule in %s: every message is clean", ", ".join(sources))
        return
    quiet = Problems()
    unreachable(policies, sources, quiet)
    for line in quiet.errors:
        log.warning("policies: %s", line)


def _resolve_composites(composites: dict[str, Condition], merged: Merged, compilers: list[Compiler],
                        problems: Problems) -> None:
    """Point every `{composite: NAME}` at its definition; an unknown name or a definition that
    uses itself (directly or through others) is an error at the line that names it."""
    refs = [(ref, where, owner) for c in compilers for ref, where, owner in c.composite_refs]
    uses: dict[str, set[str]] = {}
    for ref, where, owner in refs:
        if ref.name not in composites:
            known = ", ".join(sorted(composites)) or "(none defined)"
            problems.add(where, f"unknown composite {ref.name!r}",
                         f"define it under composites:, or use one of: {known}")
            continue
        ref.target = composites[ref.name]
        if owner:
            uses.setdefault(owner, set()).add(ref.name)
    state: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name):] + (name,)
            problems.add(merged.composites[name].where, f"composites use each other in a cycle: "
                         f"{' -> '.join(cycle)}", "break the cycle")
            for ref, _, _ in refs:  # never evaluate a cycle
                if ref.name in cycle:
                    ref.target = None
            return
        state[name] = 1
        for used in sorted(uses.get(name, ())):
            visit(used, path + (name,))
        state[name] = 2

    for name in composites:
        visit(name, ())


def compile_merged(merged: Merged, problems: Problems) -> PolicySet:
    phrases: dict[str, Regex] = {}
    broken = set(merged.broken_phrases)
    for name, (items, where) in merged.phrases.items():
        try:
            phrases[name] = compile_phrases(items)
        except ValueError as exc:
            problems.add(where, f"phrase list {name!r}: {exc}", "fix the phrases")
            broken.add(name)
    compilers: dict[int, Compiler] = {}

    def compiler(doc: Located) -> Compiler:
        if id(doc) not in compilers:
            compilers[id(doc)] = Compiler(doc, phrases, problems, frozenset(broken))
        return compilers[id(doc)]

    thresholds = dict(DEFAULT_THRESHOLDS)
    threshold_where = {}
    for word, origin in merged.thresholds.items():
        thresholds[Verdict.from_word(word)] = float(origin.value)
        threshold_where[word] = origin.where
    _check_order(thresholds, threshold_where, "thresholds", problems)
    composites: dict[str, Condition] = {}
    for name, o in merged.composites.items():
        comp = compiler(o.doc)
        comp.owner = name
        composites[name] = comp.condition(o.path, o.value)
        comp.owner = ""
    rules = tuple(r for rid, keys in merged.rules.items() if rid not in merged.disabled
                  for r in [_rule(rid, keys, compiler, problems)] if r is not None)
    groups = tuple(g for name, o in merged.groups.items()
                   for g in [_group(name, o, thresholds, compiler(o.doc), problems)] if g)
    allow = tuple(a for o in merged.allow for a in [_allow(o, compiler(o.doc), problems)] if a)
    _resolve_composites(composites, merged, list(compilers.values()), problems)
    refs = tuple(ref for c in compilers.values() for ref in c.signals)
    policies = PolicySet(rules=rules, thresholds=thresholds, sources=tuple(merged.sources),
                         groups=groups, allow=allow, phrases=phrases, actions_raw=merged.actions,
                         action_lines=merged.action_lines, threshold_where=threshold_where,
                         signal_refs=refs, warnings=tuple(problems.warnings))
    if merged.actions:
        fallback = merged.sources[-1] if merged.sources else "<policies>"

        def action_where(path: tuple[Any, ...]) -> str:
            keys = path[1:] if path[:1] == ("actions",) else path
            return policies.actions_where(keys) or f"{fallback}:1"

        before = len(problems.errors)
        actions = parse_actions(merged.actions, action_where, problems=problems)
        if len(problems.errors) == before:
            policies = replace(policies, actions=actions)
    return policies


def _check_order(th: Mapping[Verdict, float], where: Mapping[str, str], what: str,
                 problems: Problems) -> None:
    for low, high in zip(ORDER, ORDER[1:], strict=False):
        if not th[low] < th[high]:
            at = where.get(high.word) or where.get(low.word) or what
            problems.add(at, f"{what}: {high.word} ({th[high]:g}) must be above {low.word} "
                         f"({th[low]:g})", "order them caution < suspicious < high")


def _number(o: Origin | None) -> float | None:
    if o is None or isinstance(o.value, bool) or not isinstance(o.value, (int, float)):
        return None
    return float(o.value)


def _rule(rid: str, keys: dict[str, Origin], compiler: Any, problems: Problems) -> Rule | None:
    where = keys["id"].doc.where(keys["id"].path[:-1])
    ok = True
    if not rid or not all(ch.isalnum() or ch in "-_." for ch in rid):
        problems.add(keys["id"].where, f"rule id {rid!r} may only use letters, digits, - _ .",
                     "rename it (ids appear in the X-Approach-Reasons header)")
        ok = False
    score = _number(keys.get("score"))
    if score is None or abs(score) > MAX_SCORE:
        at = keys["score"].where if "score" in keys else where
        problems.add(at, f"rule {rid!r}: score must be a number within ±{MAX_SCORE:g}",
                     "write score: 2.5")
        ok = False
    w = keys["when"]
    when = compiler(w.doc).condition(w.path, w.value)
    r, desc = keys.get("reason"), keys.get("description")
    fallback = one_line(desc.value, REASON_CAP) if desc else rid  # literal, not a template
    reason = compiler(r.doc).template(r.path, r.value) if r else Template(fallback, [fallback])
    if not ok or score is None:
        return None
    return Rule(id=rid, when=when, score=score, reason=reason,
                description=str(desc.value) if desc else "", where=where)


def _group(name: str, o: Origin, defaults: Mapping[Verdict, float], compiler: Compiler,
           problems: Problems) -> Group | None:
    spec = o.value
    fix = "write NAME: {addresses: [...], domains: [...], thresholds: {suspicious: 4}}"
    if not isinstance(spec, dict) or set(spec) - {"addresses", "domains", "thresholds"}:
        problems.add(o.where, f"group {name!r} takes addresses, domains and thresholds", fix)
        return None
    addrs, domains = spec.get("addresses") or [], spec.get("domains") or []
    if not isinstance(addrs, list) or not isinstance(domains, list) or not (addrs or domains):
        problems.add(o.where, f"group {name!r} needs a list of addresses or domains", fix)
        return None
    th = dict(defaults)
    where: dict[str, str] = {}
    raw_th = spec.get("thresholds") or {}
    for word, value in (raw_th.items() if isinstance(raw_th, dict) else ()):
        at = o.doc.where(o.path + ("thresholds", word))
        if word not in VERDICT_WORDS or isinstance(value, bool) or \
                not isinstance(value, (int, float)):
            problems.add(at, f"group {name!r}: bad threshold {word}: {value!r}",
                         "use caution, suspicious or high with a number")
            continue
        th[Verdict.from_word(word)] = float(value)
        where[word] = at
    _check_order(th, where or {"high": o.where}, f"group {name} thresholds", problems)
    return Group(name=name, addresses=frozenset(str(a).lower() for a in addrs),
                 domains=tuple(str(d).lower().lstrip("@.") for d in domains), thresholds=th,
                 where=o.where)


def _allow(o: Origin, compiler: Compiler, problems: Problems) -> AllowEntry | None:
    spec = o.value
    fix = "write - {domain: partner.example, reason: ..., when: {signal: dmarc.pass}}"
    if not isinstance(spec, dict) or set(spec) - {"address", "domain", "reason", "when"} or \
            ("address" in spec) == ("domain" in spec):
        problems.add(o.where, "an allow entry takes address or domain, with optional reason and "
                     "when", fix)
        return None
    when = compiler.condition(o.path + ("when",), spec["when"]) if "when" in spec else None
    target = str(spec.get("address") or spec.get("domain")).lower()
    reason = str(spec.get("reason") or f"allowlisted {target}")
    return AllowEntry(address=str(spec.get("address", "")).lower(),
                      domain=str(spec.get("domain", "")).lower().lstrip("@."),
                      reason=reason, when=when, where=o.where)

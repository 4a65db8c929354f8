"""Compiling one rule's YAML (`when`, matchers, reason template) into condition objects.

Purpose: the grammar of the policy language in one place, with every problem collected as
`file:line: problem; fix` (STYLE.md rule 9) in `Problems` (gateway/problems.py, the collector
config and reference data use too) so `policy lint` can print them all at once.

Untrusted input: admin-written policy YAML only (already parsed by `gateway.yamlmarks`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.policy.conditions import (
    COMPARE,
    AllOf,
    AnyOf,
    AtLeast,
    Compare,
    CompositeRef,
    Condition,
    Contains,
    Equals,
    FieldCond,
    InList,
    Matcher,
    MessageContext,
    Not,
    Phrases,
    Present,
    RegexMatch,
    SignalCond,
    known_field,
)
from gateway.policy.text import REASON_CAP, one_line
from gateway.problems import Problems
from gateway.regex import Regex, RegexError
from gateway.yamlmarks import Located

MATCHER_KEYS = ("phrases", "regex", "equals", "in", "contains", "gt", "ge", "lt", "le", "present")
COMBINATORS = ("all", "any", "not", "at_least")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
FIELD_HELP = ("from.address, from.domain, from.display, reply_to, reply_to.domain, subject, text, "
              "html_text, mail_from, recipients, recipient_group, header.NAME, persona.KEY, "
              "inner.text")


@dataclass(frozen=True)
class SignalRef:
    """A signal name (or prefix, for `spf.*`) a rule mentions, and where, for lint."""

    name: str
    prefix: bool
    where: str
    keys: tuple[str, ...] = ()  # evidence keys the rule reads
    numeric: tuple[str, ...] = ()  # ... of which compared as numbers (gt, ge, lt, le)


Part = Callable[[MessageContext], str]


class Template:
    """A reason with `{field}`, `{signal.NAME.KEY}` and `{matched}` placeholders."""

    __slots__ = ("parts", "source")

    def __init__(self, source: str, parts: list[str | Part]) -> None:
        self.source, self.parts = source, parts

    def render(self, ctx: MessageContext) -> str:
        out = [p if isinstance(p, str) else one_line(p(ctx)) or "?" for p in self.parts]
        return one_line("".join(out), REASON_CAP)


def _signal_value(name: str, key: str) -> Part:
    def get(ctx: MessageContext) -> str:
        for sig in ctx.by_name.get(name, ()):
            if key in sig.evidence:
                value = sig.evidence[key]
                return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        return ""
    return get


def _field_value(name: str) -> Part:
    return lambda ctx: ", ".join(ctx.field(name).strs()[:3])


def _matched(ctx: MessageContext) -> str:
    return ctx.matched[0] if ctx.matched else ""


class Compiler:
    """Compiles rule parts of one file; `phrases` are the merged, compiled phrase lists."""

    def __init__(self, doc: Located, phrases: Mapping[str, Regex], problems: Problems,
                 broken: frozenset[str] = frozenset()) -> None:
        """`broken`: phrase lists whose definition had an error, reported already."""
        self.doc, self.phrases, self.problems, self.broken = doc, phrases, problems, broken
        self.signals: list[SignalRef] = []
        self.composite_refs: list[tuple[CompositeRef, str, str]] = []  # (ref, where, defining composite)
        self.owner = ""  # the composite whose definition is being compiled, "" for rules

    def fail(self, path: tuple[Any, ...], problem: str, fix: str) -> None:
        self.problems.add(self.doc.where(path), problem, fix)

    # ------------------------------------------------------------------ conditions

    def condition(self, path: tuple[Any, ...], node: Any) -> Condition:
        if isinstance(node, str):  # shorthand: a bare signal name
            return self._signal(path, node, None)
        if not isinstance(node, dict) or not node:
            self.fail(path, f"a condition must be a mapping, got {type(node).__name__}",
                      "write {signal: NAME}, {FIELD: {MATCHER: ...}}, {all: [...]}, {any: [...]}, "
                      "{not: ...}, {at_least: {n: 2, of: [...]}} or {composite: NAME}")
            return AllOf(())
        if "signal" in node or "signal_prefix" in node:
            return self._signal_node(path, node)
        if len(node) != 1:
            self.fail(path, f"one condition per mapping, got keys {sorted(map(str, node))}",
                      "wrap several conditions in all: [...] or any: [...]")
            return AllOf(())
        (key, value), = node.items()
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                self.fail(path + (key,), f"{key} needs a non-empty list of conditions",
                          f"write {key}: [COND, COND, ...]")
                return AllOf(())
            kids = [self.condition(path + (key, i), v) for i, v in enumerate(value)]
            return AllOf(kids) if key == "all" else AnyOf(kids)
        if key == "not":
            return Not(self.condition(path + ("not",), value))
        if key == "at_least":
            return self._at_least(path + ("at_least",), value)
        if key == "composite":
            if not isinstance(value, str) or not value:
                self.fail(path + (key,), "composite takes a name", "write {composite: NAME}")
                return AllOf(())
            ref = CompositeRef(value)
            self.composite_refs.append((ref, self.doc.where(path + (key,)), self.owner))
            return ref
        if isinstance(key, str) and known_field(key):
            return FieldCond(key, self.matchers(path + (key,), value))
        self.fail(path + (key,), f"unknown field or combinator {key!r}",
                  f"use all, any, not, at_least, composite, signal or a field: {FIELD_HELP}")
        return AllOf(())

    def _at_least(self, path: tuple[Any, ...], value: Any) -> Condition:
        if not isinstance(value, dict) or set(value) != {"n", "of"}:
            self.fail(path, "at_least needs exactly n and of", "write at_least: {n: 2, of: [...]}")
            return AllOf(())
        n, of = value["n"], value["of"]
        if not isinstance(of, list) or not of:
            self.fail(path + ("of",), "of needs a non-empty list of conditions",
                      "write of: [COND, COND, ...]")
            return AllOf(())
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= len(of):
            self.fail(path + ("n",), f"n must be a whole number from 1 to {len(of)}, got {n!r}",
                      "lower n or add conditions to of")
            n = 1
        return AtLeast(n, [self.condition(path + ("of", i), v) for i, v in enumerate(of)])

    def _signal_node(self, path: tuple[Any, ...], node: dict[str, Any]) -> Condition:
        extra = set(node) - {"signal", "signal_prefix", "evidence"}
        if extra or ("signal" in node) == ("signal_prefix" in node):
            self.fail(path, f"a signal condition takes signal (or signal_prefix) and optional "
                      f"evidence, got {sorted(map(str, node))}",
                      "write {signal: NAME, evidence: {KEY: MATCHER}}")
            return AllOf(())
        name = node.get("signal", node.get("signal_prefix"))
        if not isinstance(name, str) or not name:
            self.fail(path, "the signal name must be text", "write signal: family.name")
            return AllOf(())
        if "signal_prefix" in node:
            name = name.rstrip("*").rstrip(".") + ".*"
        return self._signal(path, name, node.get("evidence"))

    def _signal(self, path: tuple[Any, ...], name: str, evidence: Any) -> Condition:
        prefix = name.endswith("*")
        if prefix:
            name = name.rstrip("*")
        where = self.doc.where(path + ("signal",)) if isinstance(self._node(path), dict) \
            else self.doc.where(path)
        checks: list[tuple[str, list[Matcher]]] = []
        numeric: list[str] = []
        if evidence is not None:
            if not isinstance(evidence, dict) or not evidence:
                self.fail(path + ("evidence",), "evidence must be a mapping of key to matcher",
                          "write evidence: {KEY: VALUE} or {KEY: {gt: 3}}")
            else:
                for key, spec in evidence.items():
                    checks.append((str(key), self.matchers(path + ("evidence", key), spec)))
                    if isinstance(spec, dict) and set(spec) & {"gt", "ge", "lt", "le"}:
                        numeric.append(str(key))
        self.signals.append(SignalRef(name, prefix, where, tuple(k for k, _ in checks), tuple(numeric)))
        return SignalCond(name, prefix, checks)

    def _node(self, path: tuple[Any, ...]) -> Any:
        node = self.doc.value
        for key in path:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                return None
        return node

    # ------------------------------------------------------------------ matchers

    def matchers(self, path: tuple[Any, ...], spec: Any) -> list[Matcher]:
        if isinstance(spec, (str, int, float, bool)):
            return [Equals(spec)]
        if isinstance(spec, list):
            return [InList(spec)]
        if not isinstance(spec, dict) or not spec:
            self.fail(path, "expected a value, a list or a mapping of matchers",
                      f"use one of: {', '.join(MATCHER_KEYS)}")
            return []
        out: list[Matcher] = []
        for key, arg in spec.items():
            made = self._matcher(path + (key,), key, arg)
            if made is not None:
                out.append(made)
        return out

    def _phrases(self, path: tuple[Any, ...], arg: Any) -> Matcher | None:
        names = arg if isinstance(arg, list) else [arg]
        found = []
        for name in names:
            if name in self.broken and name not in self.phrases:
                continue  # its definition's error says it (not a second "unknown phrase list")
            if name not in self.phrases:
                known = ", ".join(sorted(self.phrases)) or "none defined"
                self.fail(path, f"unknown phrase list {name!r}",
                          f"define it under phrases: (known: {known})")
            else:
                found.append(Phrases(str(name), self.phrases[name]))
        return found[0] if len(found) == 1 else _AnyMatcher(found) if found else None

    def _matcher(self, path: tuple[Any, ...], key: Any, arg: Any) -> Matcher | None:
        if key == "phrases":
            return self._phrases(path, arg)
        if key == "regex":
            if not isinstance(arg, str):
                self.fail(path, "regex must be text", "quote the pattern")
                return None
            try:
                return RegexMatch(Regex(arg))
            except RegexError as exc:
                self.fail(path, f"RE2 cannot compile {arg!r}: {exc}",
                          "rewrite without backreferences or lookaround (RE2 syntax: "
                          "https://github.com/google/re2/wiki/Syntax)")
                return None
        if key == "equals":
            return Equals(arg)
        if key == "in":
            if not isinstance(arg, list):
                self.fail(path, "in needs a list", "write in: [a, b]")
                return None
            return InList(arg)
        if key == "contains":
            return Contains(str(arg))
        if key in COMPARE:
            if isinstance(arg, bool) or not isinstance(arg, (int, float)):
                self.fail(path, f"{key} needs a number, got {arg!r}", f"write {key}: 30")
                return None
            return Compare(str(key), float(arg))
        if key == "present":
            if not isinstance(arg, bool):
                self.fail(path, "present needs true or false", "write present: true")
                return None
            return Present(arg)
        self.fail(path, f"unknown matcher {key!r}", f"use one of: {', '.join(MATCHER_KEYS)}")
        return None

    # ------------------------------------------------------------------ templates

    def template(self, path: tuple[Any, ...], source: Any) -> Template:
        if not isinstance(source, str):
            self.fail(path, "reason must be text", "write reason: \"...\"")
            return Template("", [])
        parts: list[str | Part] = []
        pos = 0
        for m in _PLACEHOLDER.finditer(source):
            parts.append(source[pos:m.start()])
            pos = m.end()
            token = m.group(0)
            if token in ("{{", "}}"):
                parts.append(token[0])
            elif m.group(1) is None:
                self.fail(path, f"unbalanced brace in reason {source!r}",
                          "write {{ or }} for a literal brace")
            else:
                part = self._placeholder(path, m.group(1).strip())
                if part is not None:
                    parts.append(part)
        parts.append(source[pos:])
        return Template(source, [p for p in parts if p != ""])

    def _placeholder(self, path: tuple[Any, ...], name: str) -> Part | None:
        if "|" in name:  # {a|b|c}: the first of them that has a value
            alternatives = [self._placeholder(path, n.strip()) for n in name.split("|")]
            if any(a is None for a in alternatives):
                return None
            found = [a for a in alternatives if a is not None]

            def first(ctx: MessageContext) -> str:
                return next((v for v in (a(ctx) for a in found) if v), "")
            return first
        if name == "matched":
            return _matched
        if name.startswith("signal."):
            sig, _, key = name[len("signal."):].rpartition(".")
            if not sig or not key:
                self.fail(path, f"placeholder {{{name}}} needs a signal and an evidence key",
                          "write {signal.FAMILY.NAME.KEY}, e.g. {signal.identity.claimed_"
                          "affiliation.org}")
                return None
            self.signals.append(SignalRef(sig, False, self.doc.where(path), (key,)))
            return _signal_value(sig, key)
        if known_field(name):
            return _field_value(name)
        self.fail(path, f"unknown placeholder {{{name}}}",
                  f"use {{matched}}, {{signal.NAME.KEY}} or a field: {FIELD_HELP}")
        return None


class _AnyMatcher(Matcher):
    """`phrases: [a, b]`: any of several phrase lists."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[Phrases]) -> None:
        self.parts = parts

    def test(self, values: Any, ctx: MessageContext) -> bool:
        return any(p.test(values, ctx) for p in self.parts)

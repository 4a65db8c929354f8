"""Compiled `when` conditions and matchers, and the per-message context they read.

Purpose: the evaluation half of the policy language. Conditions are small objects built once at
load (`gateway.policy.loader`) and tested per message against a `MessageContext`, which reads each
message field lazily, at most once, bounded to `FIELD_CAP` characters, and caches its folded
UTF-8 form for phrase lists.

Untrusted input: signals' evidence and message fields (a stranger's data); compared and searched
with RE2, never executed or formatted as code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gateway.model import Envelope, Signal
from gateway.parse import MessageView
from gateway.policy.text import FIELD_CAP, clean_match, fold, words_utf8
from gateway.regex import Regex


class Values:
    """One field's (or one evidence key's) values with lazily built comparison forms."""

    __slots__ = ("items", "_strs", "_folded", "_raw")

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = items
        self._strs: tuple[str, ...] | None = None
        self._folded: tuple[bytes, ...] | None = None
        self._raw: tuple[bytes, ...] | None = None

    def strs(self) -> tuple[str, ...]:
        if self._strs is None:
            self._strs = tuple(str(v)[:FIELD_CAP] for v in self.items if v is not None)
        return self._strs

    def folded(self) -> tuple[bytes, ...]:
        if self._folded is None:
            self._folded = tuple(words_utf8(s) for s in self.strs())
        return self._folded

    def raw(self) -> tuple[bytes, ...]:
        if self._raw is None:
            self._raw = tuple(s.encode("utf-8", "replace") for s in self.strs())
        return self._raw


EMPTY = Values(())


def _as_list(value: Any) -> Sequence[Any]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return (value,)


class MessageContext:
    """What conditions read for one message: signals by name, fields on demand, facts."""

    __slots__ = ("view", "envelope", "facts", "signals", "by_name", "groups", "_fields",
                 "matched")

    def __init__(self, signals: Sequence[Signal], view: MessageView | None,
                 envelope: Envelope | None, facts: Mapping[str, Any] | None,
                 groups: Callable[[Sequence[str]], tuple[str, ...]]) -> None:
        self.view = view
        self.envelope = envelope
        self.facts = facts or {}
        self.signals = signals
        self.by_name: dict[str, list[Signal]] = {}
        for s in signals:
            self.by_name.setdefault(s.name, []).append(s)
        self.groups = groups
        self._fields: dict[str, Values] = {}
        self.matched: list[str] = []  # texts matched while testing the current rule

    def field(self, name: str) -> Values:
        found = self._fields.get(name)
        if found is None:
            found = Values(tuple(read_field(self, name)))
            self._fields[name] = found
        return found

    def first(self, name: str) -> str:
        strs = self.field(name).strs()
        return strs[0] if strs else ""

    def signals_named(self, name: str, prefix: bool) -> list[Signal]:
        if not prefix:
            return self.by_name.get(name, [])
        return [s for n, group in self.by_name.items() if n.startswith(name) for s in group]


# ----------------------------------------------------------------------------- fields

def _view(ctx: MessageContext, get: Callable[[MessageView], Any]) -> Sequence[Any]:
    return _as_list(get(ctx.view)) if ctx.view is not None else ()


def _text(view: MessageView) -> str:
    plain, html = view.plain_text[:FIELD_CAP], view.html_text[:FIELD_CAP]
    return (plain + "\n" + html)[:FIELD_CAP] if plain and html else (plain or html)


def _recipients(ctx: MessageContext) -> Sequence[str]:
    return [r.lower() for r in ctx.envelope.rcpt_tos] if ctx.envelope else ()


def _fact(ctx: MessageContext, section: str, key: str) -> Sequence[Any]:
    value = ctx.facts.get(section)
    if isinstance(value, Mapping):
        return _as_list(value.get(key))
    if value is None or key.startswith("_"):
        return ()
    return _as_list(getattr(value, key, None))


FIELDS: dict[str, Callable[[MessageContext], Sequence[Any]]] = {
    "from.address": lambda c: _view(c, lambda v: v.from_address),
    "from.domain": lambda c: _view(c, lambda v: v.from_domain),
    "from.display": lambda c: _view(c, lambda v: v.from_display),
    "reply_to": lambda c: _view(c, lambda v: v.reply_to),
    "reply_to.domain": lambda c: [a.rsplit("@", 1)[-1] for a in _view(c, lambda v: v.reply_to)],
    "subject": lambda c: _view(c, lambda v: v.visible_subject),
    "text": lambda c: _view(c, _text),
    "html_text": lambda c: _view(c, lambda v: v.html_text[:FIELD_CAP]),
    "mail_from": lambda c: [c.envelope.mail_from] if c.envelope else (),
    "recipients": _recipients,
    "recipient_group": lambda c: c.groups(_recipients(c)),
    "inner.text": lambda c: _fact(c, "inner", "text"),
}
FIELD_PREFIXES = ("header.", "persona.", "inner.")


def known_field(name: str) -> bool:
    return name in FIELDS or any(name.startswith(p) and len(name) > len(p) for p in FIELD_PREFIXES)


def read_field(ctx: MessageContext, name: str) -> Sequence[Any]:
    getter = FIELDS.get(name)
    if getter is not None:
        return getter(ctx)
    section, _, key = name.partition(".")
    if section == "header":
        return ctx.view.headers(key) if ctx.view is not None else ()
    return _fact(ctx, section, key)


# ----------------------------------------------------------------------------- matchers

class Matcher:
    __slots__ = ()

    def test(self, values: Values, ctx: MessageContext) -> bool:
        raise NotImplementedError


class Phrases(Matcher):
    __slots__ = ("name", "regex")

    def __init__(self, name: str, regex: Regex) -> None:
        self.name, self.regex = name, regex

    def test(self, values: Values, ctx: MessageContext) -> bool:
        for data in values.folded():
            found = self.regex.search(data)
            if found is not None:
                ctx.matched.append(clean_match(found))
                return True
        return False


class RegexMatch(Matcher):
    __slots__ = ("regex",)

    def __init__(self, regex: Regex) -> None:
        self.regex = regex

    def test(self, values: Values, ctx: MessageContext) -> bool:
        for data in values.raw():
            found = self.regex.search(data)
            if found is not None:
                ctx.matched.append(clean_match(found))
                return True
        return False


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    try:
        n = float(str(value))
    except ValueError:
        return None
    return n if math.isfinite(n) else None


def _keys(value: Any) -> tuple[Any, ...]:
    """Comparison keys of a value: its folded text, plus its number when it is numeric."""
    if isinstance(value, bool):
        return (str(value).casefold(),)
    n = _number(value)
    text = fold(str(value))
    return (text,) if n is None else (text, n)


class InList(Matcher):
    """`in: [...]` (and `equals:`): case/accent-insensitive text or numeric equality."""

    __slots__ = ("options",)

    def __init__(self, options: Sequence[Any]) -> None:
        self.options = frozenset(k for o in options for k in _keys(o)[-1:])

    def test(self, values: Values, ctx: MessageContext) -> bool:
        return any(k in self.options for v in values.items for k in _keys(v))


def Equals(expected: Any) -> InList:  # reads as the matcher it builds
    return InList([expected])


class Contains(Matcher):
    __slots__ = ("needle",)

    def __init__(self, needle: str) -> None:
        self.needle = fold(needle)

    def test(self, values: Values, ctx: MessageContext) -> bool:
        for s in values.strs():
            if self.needle in fold(s):
                ctx.matched.append(self.needle)
                return True
        return False


COMPARE: dict[str, Callable[[float, float], bool]] = {
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
}


class Compare(Matcher):
    __slots__ = ("op", "bound")

    def __init__(self, op: str, bound: float) -> None:
        self.op, self.bound = op, bound

    def test(self, values: Values, ctx: MessageContext) -> bool:
        cmp = COMPARE[self.op]
        for v in values.items:
            n = _number(v)
            if n is not None and cmp(n, self.bound):
                return True
        return False


class Present(Matcher):
    """`present: true|false`: the field or evidence key has a non-empty value (or not)."""

    __slots__ = ("want",)

    def __init__(self, want: bool) -> None:
        self.want = want

    def test(self, values: Values, ctx: MessageContext) -> bool:
        return any(s.strip() for s in values.strs()) == self.want


def all_match(matchers: Sequence[Matcher], values: Values, ctx: MessageContext) -> bool:
    return all(m.test(values, ctx) for m in matchers)


# ----------------------------------------------------------------------------- conditions

class Condition:
    __slots__ = ()

    def test(self, ctx: MessageContext) -> bool:
        raise NotImplementedError


class AllOf(Condition):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[Condition]) -> None:
        self.children = tuple(children)

    def test(self, ctx: MessageContext) -> bool:
        saved = len(ctx.matched)
        if all(c.test(ctx) for c in self.children):
            return True
        del ctx.matched[saved:]  # a branch that failed as a whole is not evidence
        return False


class AnyOf(AllOf):
    __slots__ = ()

    def test(self, ctx: MessageContext) -> bool:
        return any(c.test(ctx) for c in self.children)


class Not(Condition):
    __slots__ = ("child",)

    def __init__(self, child: Condition) -> None:
        self.child = child

    def test(self, ctx: MessageContext) -> bool:
        saved = len(ctx.matched)
        result = not self.child.test(ctx)
        del ctx.matched[saved:]  # what a negated branch matched is not evidence
        return result


class AtLeast(Condition):
    __slots__ = ("n", "children")

    def __init__(self, n: int, children: Sequence[Condition]) -> None:
        self.n, self.children = n, tuple(children)

    def test(self, ctx: MessageContext) -> bool:
        need, left, saved = self.n, len(self.children), len(ctx.matched)
        for c in self.children:
            if need > left:
                del ctx.matched[saved:]
                return False
            if c.test(ctx):
                need -= 1
                if need <= 0:
                    return True
            left -= 1
        del ctx.matched[saved:]
        return False


class CompositeRef(Condition):
    """`{composite: NAME}`: a named condition defined once (`composites:` in any policy file) and
    resolved when all files are compiled, so a local file can use the shipped ones."""

    __slots__ = ("name", "target")

    def __init__(self, name: str) -> None:
        self.name = name
        self.target: Condition | None = None

    def test(self, ctx: MessageContext) -> bool:
        return self.target is not None and self.target.test(ctx)


class SignalCond(Condition):
    __slots__ = ("name", "prefix", "evidence")

    def __init__(self, name: str, prefix: bool,
                 evidence: Sequence[tuple[str, Sequence[Matcher]]] = ()) -> None:
        self.name, self.prefix, self.evidence = name, prefix, tuple(evidence)

    def test(self, ctx: MessageContext) -> bool:
        for sig in ctx.signals_named(self.name, self.prefix):
            if all(all_match(ms, Values(_as_list(sig.evidence.get(key))), ctx)
                   for key, ms in self.evidence):
                return True
        return False


class FieldCond(Condition):
    __slots__ = ("field", "matchers")

    def __init__(self, field: str, matchers: Sequence[Matcher]) -> None:
        self.field, self.matchers = field, tuple(matchers)

    def test(self, ctx: MessageContext) -> bool:
        return all_match(self.matchers, ctx.field(self.field), ctx)


# ----------------------------------------------------------------------------- shortcut

Trigger = frozenset[tuple[str, bool]]  # (signal name, is a prefix)


def false_without(cond: Condition) -> Trigger | None:
    """Signals (name, prefix) such that, when the message has none of them, `cond.test` is
    False having tested only signal conditions (nothing else read, nothing matched); None when
    no such set is known. The engine skips a rule whose set is absent: the same verdict and
    hits, without testing each of ~50 rules against a message that triggers few."""
    if isinstance(cond, SignalCond):
        return frozenset({(cond.name, cond.prefix)})
    if isinstance(cond, AnyOf):  # before AllOf: AnyOf subclasses it. False only when every child is
        sets = [false_without(c) for c in cond.children]
        return frozenset().union(*(s for s in sets if s is not None)) if all(s is not None for s in sets) else None
    if isinstance(cond, AllOf):  # its first child is tested first: when that is False, nothing else is
        return false_without(cond.children[0]) if cond.children else None
    if isinstance(cond, AtLeast) and cond.children:  # every child False is fewer than n true
        sets = [false_without(c) for c in cond.children]
        return frozenset().union(*(s for s in sets if s is not None)) if all(s is not None for s in sets) else None
    if isinstance(cond, CompositeRef):
        return false_without(cond.target) if cond.target is not None else frozenset()
    return None


SplitTrigger = tuple[frozenset[str], tuple[str, ...]]  # a Trigger as (names, prefixes)


def split_trigger(trigger: Trigger) -> SplitTrigger:
    return (frozenset(n for n, prefix in trigger if not prefix),
            tuple(sorted(n for n, prefix in trigger if prefix)))


def any_present(trigger: SplitTrigger, ctx: MessageContext) -> bool:
    """Whether the message has a signal of `trigger` (as `signals_named` finds them)."""
    names, prefixes = trigger
    found = ctx.by_name
    return not names.isdisjoint(found) or (bool(prefixes) and any(n.startswith(prefixes) for n in found))

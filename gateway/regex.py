"""Typed adapter around google-re2 (`import re2`): linear-time regular expressions.

Purpose: the only module that imports `re2` (STYLE.md rule 5). Policy regexes and the checks'
phrase families over a stranger's text are compiled here at load time; a construct RE2 cannot
run (backreferences, lookaround) raises `RegexError`, never a silent fallback to Python's
backtracking `re`. Patterns are compiled for UTF-8 bytes so the text of a message is encoded once
and searched by many patterns.

Untrusted input: the text searched (a stranger's message, already bounded by the caller).
"""

from __future__ import annotations

import importlib
import re
import weakref
from typing import Any

import re2  # untyped C extension (ignore_missing_imports); wrapped here only


class RegexError(ValueError):
    """RE2 refused the pattern; the message says what it could not parse."""


def _options(case_insensitive: bool = False) -> Any:
    opts = re2.Options()
    opts.log_errors = False  # errors are reported with file:line by the policy loader
    opts.max_mem = 64 << 20
    if case_insensitive:
        opts.case_sensitive = False
    return opts


class Regex:
    """A compiled RE2 pattern that searches UTF-8 bytes and returns the matched text."""

    __slots__ = ("case_insensitive", "pattern", "_re")

    def __init__(self, pattern: str, *, case_insensitive: bool = False) -> None:
        self.pattern = pattern
        self.case_insensitive = case_insensitive
        try:
            self._re = re2.compile(pattern.encode("utf-8"), _options(case_insensitive))
        except re2.error as exc:
            detail = exc.args[0] if exc.args else exc
            if isinstance(detail, bytes):
                detail = detail.decode("utf-8", "replace")
            raise RegexError(str(detail)) from None

    def search(self, data: bytes) -> str | None:
        """The first match as text, or None. `data` is UTF-8."""
        m = self._re.search(data)
        if m is None:
            return None
        found: bytes = m.group(0)
        return found.decode("utf-8", "replace")

    def count(self, data: bytes, limit: int = 1000) -> int:
        """How many non-overlapping matches (at most `limit`). `data` is UTF-8."""
        n = 0
        for _ in self._re.finditer(data):
            n += 1
            if n >= limit:
                break
        return n

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"


class RegexSet:
    """Many named patterns searched together (RE2::Set: one pass, or one per `per_pass` members):
    which of them match, and the match of those only. Most texts match none of a check's phrase
    families, and one pass over the text costs about what one pattern's search does (over the ham
    corpus, 21 families: about 20 us a message instead of 100 us; with 24 families of more
    phrases and gaps, see `per_pass`).

    `screens`: for some members, a pattern the set searches in their place, which must match
    wherever the member matches (a superset: a bounded gap `{0,40}` made `*`, say). A counted
    repetition multiplies the states of the set's DFA, which RE2 builds per new text (and
    rebuilds once its memory is full); a screen keeps the DFA small, and a member its screen
    finds is confirmed by the member's own search, so the answers are the members' exactly.

    `per_pass`: at most this many members in one RE2 set (0: all of them), the text searched
    once per set. A state of a set's DFA is where every member stands in the text at once, so
    members with unbounded gaps (screens) multiply each other's states: over new text the DFA of
    many of them keeps meeting states it has not built, and once its memory is full RE2 throws
    all of them away and starts again. Smaller sets each stay small; a pass over a DFA whose
    states exist costs ~2 us a message. The answers do not depend on it."""

    __slots__ = ("__weakref__", "_names", "_passes", "_screened", "folded", "members")

    def __init__(self, members: dict[str, Regex], screens: dict[str, str] | None = None, *,
                 folded: bool = False, per_pass: int = 0) -> None:
        self.members = dict(members)
        self.folded = folded  # searched in `fold`ed text (a Prefilter's): what `warm_sets` feeds it
        _SETS.add(self)
        self._names = list(self.members)
        screens = {n: p for n, p in (screens or {}).items() if n in self.members and p != self.members[n].pattern}
        self._screened = frozenset(screens)
        size = per_pass if per_pass > 0 else max(len(self._names), 1)
        # (RE2 set, the index in `_names` of its members in the order added)
        self._passes: list[tuple[Any, tuple[int, ...]]] = []
        for first in range(0, len(self._names), size):
            at = tuple(range(first, min(first + size, len(self._names))))
            one = re2.Set.SearchSet(_options())
            for i in at:
                regex = self.members[self._names[i]]
                flags = "(?i:" if regex.case_insensitive else "(?:"
                pattern = screens.get(self._names[i], regex.pattern)
                try:
                    one.Add((flags + pattern + ")").encode("utf-8"))
                except re2.error as exc:  # every member compiled alone, so this is not expected
                    raise RegexError(f"{pattern!r} cannot join a set: {exc}") from None
            one.Compile()
            self._passes.append((one, at))

    def _hits(self, data: bytes) -> list[int]:
        """The indexes (in `_names`) of the members whose pattern or screen matches, ascending."""
        if len(self._passes) == 1:
            one, at = self._passes[0]
            return sorted(at[i] for i in one.Match(data) or ())  # re2: None when none matches
        return [at[i] for one, at in self._passes for i in sorted(one.Match(data) or ())]

    def search_passes(self, data: bytes) -> None:
        """Search `data` with every RE2 set, the answers thrown away (`warm_sets`)."""
        for one, _at in self._passes:
            one.Match(data)

    def which(self, data: bytes) -> frozenset[str]:
        """The names of the members that match somewhere in `data` (UTF-8): the set pass alone,
        without each member's search for its match (but for members found by their screen)."""
        hit = self._hits(data)
        if not hit:
            return frozenset()
        names = [self._names[i] for i in hit]
        return frozenset(n for n in names if n not in self._screened or self.members[n].search(data) is not None)

    def matches(self, data: bytes) -> dict[str, str]:
        """name -> first match (as `Regex.search` gives it) of every member that matches, in
        the order the members were given. `data` is UTF-8."""
        hit = self._hits(data)
        if not hit:
            return {}
        out: dict[str, str] = {}
        for i in hit:
            name = self._names[i]
            found = self.members[name].search(data)
            if found is not None:  # a screen may find more than its member; else they agree
                out[name] = found
        return out


_SETS: weakref.WeakSet[RegexSet] = weakref.WeakSet()  # every set built (module constants, mostly)


def warm_sets(text: str) -> None:
    """Search `text` with every RegexSet built so far (folded for a Prefilter's), for the DFA
    states it leads to. RE2 builds a DFA's states lazily, as new text reaches them, and a set of
    phrase families over real prose meets new states for hundreds of messages: the pretext set
    cost ~180 us on each of the first 200 unseen ham texts and ~50-75 us after 400, ~10 us on a
    text it had seen. Ordinary English prose fed at start takes over most of that early cost
    (gateway/warmup.py `prose`, `Runtime.warm_up`); answers never change, only the cost."""
    for s in list(_SETS):
        if s.members:
            s.search_passes((fold(text) if s.folded else text).encode("utf-8", "replace"))


# ----------------------------------------------------------------------------- prefilter

# Python's own parser of `re` patterns: a prefilter is read from the pattern itself, so it
# follows every edit of the pattern it guards. Private to `re`, stable in 3.11-3.13.
_sre_parse: Any = importlib.import_module("re._parser")
_CLASS_LIMIT = 16  # a class of more characters demands less


def fold(text: str) -> str:
    """`text` lower-cased so that every character that `re.IGNORECASE` matches to an ASCII letter
    IS that letter (besides A-Z: the dotted and dotless I, U+0130 and U+0131, the long s,
    U+017F, and the Kelvin sign, U+212A, which lower() folds). One character for one, except
    that a U+0307 after an i is dropped (the dot of lower-cased U+0130)."""
    low = text.lower()
    if low.isascii():
        return low
    return low.replace("i\u0307", "i").replace("\u0131", "i").replace("\u017f", "s")


def _known(ch: str) -> bool:
    """A pattern character that `fold` turns every text character it matches into `ch.lower()`
    (case-sensitive or not): ASCII, or a character without case other than U+0307."""
    return ch.isascii() or (ch.lower() == ch == ch.upper() and ch != "\u0307")


def _literal(ch: str) -> str:
    return ch if not ch.isascii() or ch.isalnum() else f"\\x{{{ord(ch):02x}}}"


# Python's \s, \d and \w as classes of the folded text (tests/unit/test_regex_prefilter.py checks
# the whitespace list against `re`): \d and \w widened to every non-ASCII character.
_CATEGORY = {"CATEGORY_SPACE": r"\t-\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
                               r"\x{202f}\x{205f}\x{3000}",
             "CATEGORY_DIGIT": r"0-9\x{80}-\x{10ffff}", "CATEGORY_WORD": r"0-9_a-z\x{80}-\x{10ffff}"}
_ONE = "(?s:.)?"  # any one character of the text: at most one of the folded text (see `fold`)
_Part = tuple[str | None, float, tuple[str, float] | None]  # see _superset_seq


def _superset_seq(items: Any) -> _Part:
    """(regex, score, best) for a parsed sequence. `regex`: an RE2 pattern matching, in the
    folded text, wherever the sequence matches in the text, without a gap (a repeated "any
    character": RE2's DFA for gaps costs more to build per new text than the prefilter saves),
    or None when the sequence may span a gap; `score`: how much `regex` demands (characters it
    fixes); `best`: the most demanding gap-free superset of a part of every match, or None."""
    cur: list[str] = []
    score = 0.0
    candidates: list[tuple[str, float]] = []
    gap = False
    for op, av in items:
        regex, sc, best = _superset_item(op.name, av)
        if regex is not None:
            cur.append(regex)
            score += sc
            continue
        gap = True
        if score > 0:
            candidates.append(("".join(cur), score))
        cur, score = [], 0.0
        if best is not None:
            candidates.append(best)
    if not gap:
        whole = "".join(cur)
        return whole, score, ((whole, score) if score > 0 else None)
    if score > 0:
        candidates.append(("".join(cur), score))
    return None, 0.0, max(candidates, key=lambda c: c[1]) if candidates else None


def _class(av: Any) -> tuple[str, float]:
    chars: set[str] = set()  # lower-cased
    body: list[str] = []  # non-ASCII ranges, categories
    for iop, iav in av:
        name = iop.name
        if name == "LITERAL" and _known(chr(iav)):
            chars.add(chr(iav).lower())
        elif name == "RANGE" and all(_known(chr(c)) for c in range(iav[0], iav[1] + 1)):
            chars.update(chr(c).lower() for c in range(iav[0], min(iav[1], 0x7F) + 1))
            if iav[1] >= 0x80:
                body.append(f"\\x{{{max(iav[0], 0x80):x}}}-\\x{{{iav[1]:x}}}")
        elif name == "CATEGORY" and iav.name in _CATEGORY:
            body.append(_CATEGORY[iav.name])
        else:  # NEGATE, \S \D \W, a character `fold` may change
            return _ONE, 0.0
    small = not body and len(chars) <= _CLASS_LIMIT
    return "[" + "".join(map(_literal, sorted(chars))) + "".join(body) + "]", (1.0 if small else 0.25)


def _superset_item(op: str, av: Any) -> _Part:
    if op == "LITERAL":
        ch = chr(av)
        return (_literal(ch.lower()), 1.0, None) if _known(ch) else (_ONE, 0.0, None)
    if op == "IN":
        cls, weight = _class(av)
        return cls, weight, None
    if op == "CATEGORY":
        return (f"[{_CATEGORY[av.name]}]", 0.25, None) if av.name in _CATEGORY else (_ONE, 0.0, None)
    if op in ("ANY", "NOT_LITERAL"):
        return _ONE, 0.0, None
    if op in ("AT", "ASSERT", "ASSERT_NOT"):
        return "", 0.0, None  # zero width: dropping a condition only widens
    if op in ("SUBPATTERN", "ATOMIC_GROUP"):
        regex, score, best = _superset_seq(av[3] if op == "SUBPATTERN" else av)
        return ("(?:" + regex + ")" if regex is not None else None), score, best
    if op == "BRANCH":
        alts = [_superset_seq(b) for b in av[1]]
        if all(r is not None for r, _s, _b in alts):
            return "(?:" + "|".join(r for r, _s, _b in alts if r is not None) + ")", min(s for _r, s, _b in alts), None
        bests = [b for _r, _s, b in alts]
        if all(b is not None for b in bests):
            return None, 0.0, ("(?:" + "|".join(b[0] for b in bests if b is not None) + ")",
                               min(b[1] for b in bests if b is not None))
        return None, 0.0, None
    if op in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        low, high, sub = av
        regex, score, best = _superset_seq(sub)
        if regex is None:
            return None, 0.0, (best if low >= 1 else None)
        if high > 1 and score == 0:
            return None, 0.0, None  # a run of any characters: a gap
        if low == high == 1:
            return regex, score, None
        suffix = ("?" if high == 1 else "*") if low == 0 else "+"
        return "(?:" + regex + ")" + suffix, (score if low >= 1 else 0.0), None
    return None, 0.0, None  # a back reference, a conditional: any text


def superset_pattern(pattern: re.Pattern[str]) -> str | None:
    """An RE2 pattern that matches, in the `fold`ed text, wherever `pattern` matches in the text
    (and maybe elsewhere), or None when nothing short of "any text" is: the pattern's literal
    characters lower-cased, its \\s \\d \\w as classes, any other character widened to "any one",
    assertions dropped, counted repetition made `*` or `+`, and at a gap (a run of any
    characters) only the most demanding gap-free part kept. Read from Python's own parse of the
    pattern, so it follows every edit of the pattern."""
    regex, score, best = _superset_seq(_sre_parse.parse(pattern.pattern, pattern.flags))
    if regex is not None and score > 0:
        return regex
    return best[0] if best is not None else None


class Prefilter:
    """Which of several Python `re` patterns can match a text at all, in one RE2 pass: each
    pattern's `superset_pattern` is searched in the folded text (a pattern without one always
    can match). A pattern it calls impossible cannot match, so running only the possible ones
    gives what running every one gives (Python `re` costs ~30 us per pattern over 2 KB of text,
    and most mail holds none of a check's rarer phrases)."""

    __slots__ = ("_always", "_set", "supersets")

    def __init__(self, patterns: dict[str, re.Pattern[str]]) -> None:
        self.supersets = {name: superset_pattern(p) for name, p in patterns.items()}
        self._always = frozenset(n for n, sup in self.supersets.items() if sup is None)
        self._set = RegexSet({n: Regex(sup) for n, sup in self.supersets.items() if sup is not None}, folded=True)

    def possible(self, text: str) -> frozenset[str]:
        """The names of the patterns that may match somewhere in `text` (or in a part of it)."""
        return self._always | self._set.which(fold(text).encode("utf-8", "replace"))

"""Typed adapter around google-re2 (`import re2`): linear-time regular expressions.

Purpose: the only module that imports `re2` (STYLE.md rule 5). Policy regexes and the checks'
phrase families over a stranger's text are compiled here at load time; a construct RE2 cannot
run (backreferences, lookaround) raises `RegexError`, never a silent fallback to Python's
backtracking `re`. Patterns are compiled for UTF-8 bytes so the text of a message is encoded once
and searched by many patterns.

Untrusted input: the text searched (a stranger's message, already bounded by the caller).
"""

from __future__ import annotations

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
    """Many named patterns searched in one pass (RE2::Set): which of them match, and the match of
    those only. Most texts match none of a check's phrase families, and one pass over the text
    costs about what one pattern's search does (over the ham corpus, 21 families: about 20 us a
    message instead of 100 us)."""

    __slots__ = ("_names", "_set", "members")

    def __init__(self, members: dict[str, Regex]) -> None:
        self.members = dict(members)
        self._names = list(self.members)
        self._set = re2.Set.SearchSet(_options())
        for regex in self.members.values():
            flags = "(?i:" if regex.case_insensitive else "(?:"
            try:
                self._set.Add((flags + regex.pattern + ")").encode("utf-8"))
            except re2.error as exc:  # every member compiled alone, so this is not expected
                raise RegexError(f"{regex.pattern!r} cannot join a set: {exc}") from None
        if self.members:
            self._set.Compile()

    def matches(self, data: bytes) -> dict[str, str]:
        """name -> first match (as `Regex.search` gives it) of every member that matches, in
        the order the members were given. `data` is UTF-8."""
        if not self.members:
            return {}
        hit = self._set.Match(data)
        if not hit:
            return {}
        out: dict[str, str] = {}
        for i in sorted(hit):
            name = self._names[i]
            found = self.members[name].search(data)
            if found is not None:  # the set and the pattern agree; kept for safety
                out[name] = found
        return out

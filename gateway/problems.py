"""One collector for every error an admin reads: config, policies, actions, reference data.

Purpose: validators record each problem as `file:line: problem; fix` and go on with the next
value, so one run shows every mistake instead of one per restart (STYLE.md rule 9). The config
(gateway/config.py), the policy loader, compiler and lint (gateway/policy/), the `actions:`
section (gateway/act/actions.py) and the reference data and indicator files (gateway/refdata.py)
all collect into `Problems`; `report()` is the order a person reads: files in the order they were
first named, lines ascending within a file, each message once. `key_fix` is the fix for an
unknown key: "did you mean X?" when a known key is close, else the list of known keys.

Untrusted input: none (messages about the admin's own files).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_WHERE = re.compile(r"^(?P<file>.*?):(?P<line>\d+): ")


@dataclass
class Problems:
    """Errors (and warnings) collected while validating, each `file:line: problem; fix`."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, where: str, problem: str, fix: str) -> None:
        self.errors.append(f"{where}: {problem}; {fix}")

    def warn(self, where: str, problem: str, fix: str) -> None:
        self.warnings.append(f"{where}: {problem}; {fix}")

    def report(self) -> list[str]:
        """The errors in reading order, each once."""
        return reading_order(self.errors)


def reading_order(messages: Iterable[str]) -> list[str]:
    """`file:line: ...` messages grouped by file (in the order each file first appears), sorted
    by line within a file (a message without a line comes first), duplicates dropped; the order
    of messages on one line is kept."""
    files: dict[str, int] = {}
    keyed = []
    for n, msg in enumerate(dict.fromkeys(messages)):
        m = _WHERE.match(msg)
        name, line = (m.group("file"), int(m.group("line"))) if m else (msg.split(": ", 1)[0], 0)
        keyed.append((files.setdefault(name, len(files)), line, n, msg))
    return [msg for *_, msg in sorted(keyed)]


def did_you_mean(word: object, known: Iterable[str]) -> str | None:
    """'did you mean X?' (or 'X or Y?') when a known name is close to `word`, else None."""
    close = difflib.get_close_matches(str(word), sorted(known), n=2)
    return f"did you mean {' or '.join(close)}?" if close else None


def key_fix(key: object, known: Iterable[str], otherwise: str = "remove it or use one of") -> str:
    """The fix for an unknown key: a close known key, else `otherwise` and every known key."""
    names = list(known)
    hint = did_you_mean(key, names)
    return f"{hint} (or remove it)" if hint else f"{otherwise}: {', '.join(names)}"

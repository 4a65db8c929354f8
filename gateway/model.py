"""Value types that flow through the pipeline: envelope, signals, rule hits, verdicts, edits.

Purpose: the shared vocabulary of receive -> parse -> checks -> policy -> act -> relay. All
values are frozen; nothing here does I/O or touches untrusted bytes beyond holding them.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.replies import Reply as Reply  # re-exported: one reply type (gateway/replies.py imports nothing)


class Verdict(enum.IntEnum):
    """Ordered verdicts (contract): clean < caution < suspicious < high."""

    CLEAN = 0
    CAUTION = 1
    SUSPICIOUS = 2
    HIGH = 3

    @property
    def word(self) -> str:
        return self.name.lower()

    @classmethod
    def from_word(cls, word: str) -> Verdict:
        try:
            return cls[word.upper()]
        except KeyError:
            raise ValueError(f"unknown verdict {word!r}; use clean, caution, suspicious or high") from None


@dataclass(frozen=True)
class Client:
    """Who connected: the real client (after PROXY/XFORWARD), as later checks must see it."""

    ip: str | None = None
    port: int | None = None
    helo: str | None = None
    hostname: str | None = None  # reverse DNS name when known (XFORWARD NAME)
    protocol: str = "ESMTP"
    tls: bool = False


@dataclass(frozen=True)
class Envelope:
    mail_from: str  # "" for the null sender
    rcpt_tos: tuple[str, ...]
    client: Client = field(default_factory=Client)
    queue_id: str = ""
    smtputf8: bool = False
    received_at: float | None = None  # epoch seconds; None: now (replays of saved mail set it)

    @property
    def when(self) -> float:
        return self.received_at if self.received_at is not None else time.time()


@dataclass(frozen=True)
class Signal:
    """A fact a check established: a fixed name plus evidence. No score (STYLE.md rule 1)."""

    name: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.evidence:
            return self.name
        ev = ", ".join(f"{k}={v}" for k, v in self.evidence.items())
        return f"{self.name}({ev})"


@dataclass(frozen=True)
class RuleHit:
    rule_id: str
    score: float
    reason: str


@dataclass(frozen=True)
class HeaderEdit:
    """Prepend header `name: value` (value already folded) or remove all fields named `name`."""

    name: str
    value: str | None = None  # None means remove

    @property
    def is_removal(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class Decision:
    """What the policy step concluded for one message."""

    verdict: Verdict
    score: float
    hits: tuple[RuleHit, ...] = ()
    checked: bool = True  # False when analysis failed or timed out (on_error: accept)
    note: str = ""


@dataclass(frozen=True)
class Outgoing:
    """A message to relay as two pieces, so that a large body is never copied to build it:
    `head` (the edited header block), then `body[start:]` (the received bytes from the blank
    line on). `bytes(out)` joins them, for the rare paths that need one object (ARC seal,
    quarantine); the upstream writer reads the pieces (gateway/smtp/upstream.py). `plain`:
    `body[start:]` is known to hold only CRLF line ends and no line that starts with a dot (the
    receiver counted both while reading it), so the writer sends it as it is instead of
    normalising and dot-stuffing it again."""

    head: bytes
    body: bytes
    start: int
    plain: bool = False

    def __len__(self) -> int:
        return len(self.head) + len(self.body) - self.start

    def __bytes__(self) -> bytes:
        return b"".join((self.head, memoryview(self.body)[self.start:]))



"""Hooks the SMTP side calls so that operations can count what happens (no-ops by default).

Purpose: keep metrics out of the mail path's logic. `Observer` is what `ServerState.observer`,
`UpstreamSession` and `deliver` call; `gateway.admin.metrics.GatewayMetrics` implements it with
Prometheus metrics; `gateway.smtp.observed` adds the per-connection hooks.

Untrusted input: none (codes and stage names only; never addresses or text).
"""

from __future__ import annotations

from collections.abc import Sequence


class Observer:
    """What the mail path reports. Every method must be cheap and must never raise."""

    def session_opened(self) -> None:
        """A client connection was accepted by the listener."""

    def session_closed(self) -> None:
        """That connection is gone."""

    def reply(self, stage: str, code: int) -> None:
        """We answered `code` at `stage` (connect, helo, starttls, mail, rcpt, data, dot, rset,
        quit, other; `dot` is the reply after the message's final dot)."""

    def upstream(self, stage: str, seconds: float, error: str | None = None) -> None:
        """One exchange with the upstream (connect, mail, rcpt, data, rset, xforward) took
        `seconds`; `error` names the failure (timeout, refused, closed, ...) or is None."""

    def message(self, verdict: str, checked: str, rule_ids: Sequence[str], signals: Sequence[str],
                analysis_seconds: float | None) -> None:
        """One message reached the end of DATA. verdict: clean/caution/suspicious/high, or
        `unanalysed` (refused or tempfailed before a verdict); checked: yes/partial/no."""

    def record_failed(self) -> None:
        """Remembering a delivered message in the store failed (logged; the mail is delivered)."""

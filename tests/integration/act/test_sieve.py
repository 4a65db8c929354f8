"""deploy/sieve/approach.sieve run by Pigeonhole's sieve-test on messages the gateway produced:
suspicious/high are filed into "Approach" and flagged, caution is flagged in the inbox, clean
mail (even with a forged X-Approach-Verdict from the sender, in any spelling) stays in the inbox
unflagged -- with the shipped script and with a naive one that reads every occurrence."""

from __future__ import annotations

import pytest

from gateway.act.headers import apply_edits, removal_edits, verdict_edits
from gateway.model import Decision, RuleHit, Verdict
from tests.support.forged import ALL_FORGED, forged_message
from tests.support.sieve import NAIVE, SHIPPED, deliver

MESSAGE = (b"X-Approach-Verdict: high\r\n"  # forged by the sender: the gateway must strip it
           b"From: Recruiter <r@gmail.com>\r\nTo: b@example.org\r\nSubject: Opportunity\r\n"
           b"Message-ID: <1@example.net>\r\n\r\nLet us talk on WhatsApp.\r\n")


def gateway_output(verdict: Verdict, raw: bytes = MESSAGE) -> bytes:
    decision = Decision(verdict, float(verdict) * 4, (RuleHit("off-channel", 4, "Asks to move to WhatsApp"),))
    return apply_edits(raw, removal_edits("gw.example.org") + verdict_edits(decision))


@pytest.mark.parametrize("verdict,folder,flagged", [
    (Verdict.HIGH, "Approach", True), (Verdict.SUSPICIOUS, "Approach", True),
    (Verdict.CAUTION, "INBOX", True), (Verdict.CLEAN, "INBOX", False),
])
def test_sieve_files_and_flags_by_verdict(verdict: Verdict, folder: str, flagged: bool) -> None:
    raw = gateway_output(verdict)
    assert raw.count(b"X-Approach-Verdict:") == 1
    [(got_folder, flags)] = deliver(raw)
    assert got_folder == folder
    assert ("F" in flags) == flagged


@pytest.mark.parametrize("script", ["shipped", "naive"])
@pytest.mark.parametrize("label,line", ALL_FORGED, ids=[x[0] for x in ALL_FORGED])
def test_forged_spellings_never_file_a_clean_message(label: str, line: bytes, script: str) -> None:
    """Regression: the shipped script filed a clean message into Approach by a forged
    `X-Approach-Verdict\\0: high` the strip had left (Dovecot reads a name up to the NUL)."""
    raw = gateway_output(Verdict.CLEAN, forged_message(line, "middle"))
    assert deliver(raw, SHIPPED if script == "shipped" else NAIVE) == [("INBOX", "")]


DOVECOT_READS = [x for x in ALL_FORGED
                 if x[0] in ("nul-suffix", "nul-then-junk", "space-before-colon", "lower-case", "ar-nul-name",
                             "ar-quoted", "ar-comment-first")]


@pytest.mark.parametrize("label,line", DOVECOT_READS, ids=[x[0] for x in DOVECOT_READS])
def test_the_forgery_itself_would_have_filed_it(label: str, line: bytes) -> None:
    """The naive filter is not blind: on the message as the sender wrote it, the forgeries
    Dovecot reads as our fields do file it (so the test above measures the strip)."""
    assert deliver(forged_message(line, "middle"), NAIVE) != [("INBOX", "")]

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

from gateway.act.headers import apply_edits, authserv_id_of, fold, reasons_value, removal_edits, verdict_edits
from gateway.model import Decision, HeaderEdit, RuleHit, Verdict

RAW = (b"Received: from a by b; Sun, 29 Nov 2026 10:00:00 +0000\r\n"
       b"X-Approach-Verdict: clean\r\n"
       b"x-approach-score:\r\n 0\r\n"
       b"Authentication-Results: gw.example.org (comment);\r\n dkim=pass header.d=bank.test\r\n"
       b"Authentication-Results: mx.google.com; spf=pass\r\n"
       b"Subject: hi\r\n\r\nX-Approach-Verdict: in the body stays\r\n")


def test_removes_our_headers_folded_and_any_case_and_only_our_auth_results() -> None:
    out = apply_edits(RAW, removal_edits("gw.example.org"))
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"X-Approach" not in head and b"x-approach" not in head
    assert b"bank.test" not in head
    assert b"Authentication-Results: mx.google.com; spf=pass" in head
    assert body == b"X-Approach-Verdict: in the body stays\r\n"


def test_additions_are_prepended_in_order_and_the_rest_is_byte_identical() -> None:
    edits = [HeaderEdit("Received", "from x by y; date"), HeaderEdit("X-Approach-Verdict", "high")]
    out = apply_edits(RAW, edits)
    assert out == b"Received: from x by y; date\r\nX-Approach-Verdict: high\r\n" + RAW


def test_authserv_id_parsing() -> None:
    assert authserv_id_of(" gw.example.org (c); spf=pass") == "gw.example.org"
    assert authserv_id_of("mx.example 1; none") == "mx.example"
    assert authserv_id_of("(only comment) GW.EXAMPLE.ORG; none") == "gw.example.org"


def test_reasons_are_folded_and_cannot_inject_headers() -> None:
    hits = tuple(RuleHit(f"rule-{i}", 1.5, "evil\r\nBcc: victim@example.org reason text") for i in range(8))
    d = Decision(Verdict.SUSPICIOUS, 12, hits)
    edits = verdict_edits(d)
    raw = apply_edits(b"Subject: x\r\n\r\nbody\r\n", edits)
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Bcc"] is None
    assert msg["X-Approach-Verdict"] == "suspicious" and msg["X-Approach-Score"] == "12"
    assert str(msg["X-Approach-Reasons"]).startswith("rule-0 (1.5): evil Bcc: victim@example.org")
    for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n"):
        assert len(line) <= 78 or b" " not in line.strip()


def test_fold_non_ascii_uses_encoded_words() -> None:
    folded = fold("X-Approach-Reasons", "claims Zoë Müller from gmail.com")
    assert folded.isascii() and "=?utf-8?" in folded


def test_reasons_value_none_when_no_hits() -> None:
    assert reasons_value(Decision(Verdict.CLEAN, 0)) == "none"


def test_spoofed_auth_results_with_quoted_or_nested_comment_ids_are_removed() -> None:
    """Regression: `"gw.example.org"; ...` and `(x (y) z) gw.example.org; ...` escaped the strip
    while the authentication parser (and a downstream verifier) read them as our id."""
    raw = (b'Authentication-Results: "gw.example.org"; dkim=pass header.d=ibm.com\r\n'
           b"Authentication-Results: (x (y) z) gw.example.org; dmarc=pass header.from=ibm.com\r\n"
           b"Authentication-Results: gw.example.org.; spf=pass\r\n"
           b"Authentication-Results: mx.other.example; spf=pass\r\n\r\nbody\r\n")
    out = apply_edits(raw, removal_edits("gw.example.org"))
    assert out == b"Authentication-Results: mx.other.example; spf=pass\r\n\r\nbody\r\n"


# ---- every spelling of a forged field (tests/support/forged.py) ------------------------------

import pytest  # noqa: E402

from gateway.parse import MessageView  # noqa: E402
from tests.support.forged import (  # noqa: E402
    ALL_FORGED,
    BODY_MARK,
    fields_named,
    forged_message,
    our_auth_results,
)


def relayed(raw: bytes, verdict: Verdict = Verdict.CLEAN) -> bytes:
    return apply_edits(raw, removal_edits("gw.example.org") + verdict_edits(Decision(verdict, 0)))


@pytest.mark.parametrize("where", ["top", "middle", "last"])
@pytest.mark.parametrize("label,line", ALL_FORGED, ids=[x[0] for x in ALL_FORGED])
def test_no_reader_finds_a_forged_field_after_the_strip(label: str, line: bytes, where: str) -> None:
    """Regression: `X-Approach-Verdict\\0: high` (and other spellings) survived the strip and
    Sieve, which reads a name up to the NUL, filed a clean message as high."""
    out = relayed(forged_message(line, where))
    verdicts = fields_named(out, "X-Approach-Verdict")
    assert verdicts == [b"X-Approach-Verdict: clean\r\n"], verdicts
    assert fields_named(out, "X-Approach-Score") == [b"X-Approach-Score: 0\r\n"]
    assert len(fields_named(out, "X-Approach-Reasons")) == 1
    assert our_auth_results(out) == []
    assert BODY_MARK in out  # nothing is lost
    msg = message_from_bytes(out, policy=policy.compat32)
    assert msg.get_all("X-Approach-Verdict") == ["clean"]


def test_an_invalid_field_ends_the_header_section_for_every_reader() -> None:
    raw = forged_message(b"X-Approach-Verdict\x00: high", "middle")
    out = relayed(raw)
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"\x00" not in head and body.startswith(b"X-Approach-Verdict\x00: high\r\n")
    assert BODY_MARK in body
    # the analysis reads the same split: the fields after the invalid line are body for it too
    view = MessageView.parse(raw)
    assert view.header("Subject") == "forged t" and view.header("Message-ID") is None
    assert "invalid header line: header ended before it" in view.defects


def test_whitespace_before_the_colon_is_the_same_field_for_the_analysis() -> None:
    view = MessageView.parse(b"From : Stranger <s@gmail.com>\r\nSubject\t: hi\r\n\r\nbody\r\n")
    assert view.from_address == "s@gmail.com" and view.subject == "hi"
    out = apply_edits(b"From : s@gmail.com\r\n\r\nbody\r\n", removal_edits("gw.example.org"))
    assert out == b"From: s@gmail.com\r\n\r\nbody\r\n"


def test_a_message_without_its_empty_line_keeps_its_text() -> None:
    raw = b"Subject: hi\r\nFrom: a@x.test\r\nDear Bob: the text\r\nmore text\r\n"
    out = relayed(raw)
    assert out.endswith(b"From: a@x.test\r\n\r\nDear Bob: the text\r\nmore text\r\n")


def test_other_authentication_results_stay() -> None:
    raw = (b"Authentication-Results: mx.other.example; spf=pass smtp.mailfrom=gw.example.org\r\n"
           b"Authentication-Results: x.gw.example.org; spf=pass\r\n"
           b"Authentication-Results: gw.example.org.evil; spf=pass\r\n\r\nbody\r\n")
    assert apply_edits(raw, removal_edits("gw.example.org")) == raw


HAM = Path(__file__).resolve().parents[4] / "shared" / "corpora" / "ham" / "spamassassin"
# Header blocks where our names appear in other places (values, body, other names, other cases),
# folded, with whitespace before the colon, non-ASCII names and an Authentication-Results that
# names another server: the block is kept whole only when no field is one of ours.
_KEEP_OR_STRIP = [
    RAW,
    b"Subject: X-Approach-Verdict: high\r\nFrom: a@b.test\r\n\r\nbody\r\n",
    b"X-Approach-Verdict-Not: 1\r\nX-Approach-Verdicts: 2\r\n\r\n",
    b"x-APPROACH-verdict : high\r\nFrom: a@b.test\r\n\r\n",
    b"X-Other: 1\r\n\tX-Approach-Score: 5\r\nFrom: a@b.test\r\n\r\n",
    b"Authentication-Results: mx.google.com; spf=pass\r\nFrom: a@b.test\r\n\r\n",
    b"AUTHENTICATION-RESULTS:   GW.EXAMPLE.ORG.; dkim=pass\r\n\r\n",
    b"X-\xff\xfeApproach-Verdict: high\r\nX-Approach-\xc3\xa9: 1\r\nFrom: a@b.test\r\n\r\n",
    b"From: a@b.test\nX-Approach-Checked: yes\n\nlf only\n",
    b"From: a@b.test\r\nX-Approach-Reasons:\r\n\r\n",
    b"no header section at all",
    b"",
]


def _field_by_field(raw: bytes, edits: list[HeaderEdit]) -> bytes:
    """`apply_edits` with every header block split into fields (the path before the shortcut)."""
    from gateway.act import headers

    real = headers._may_remove
    headers._may_remove = lambda block, removals, ar_ids: True  # type: ignore[assignment]
    try:
        return apply_edits(raw, edits)
    finally:
        headers._may_remove = real


@pytest.mark.parametrize("raw", _KEEP_OR_STRIP)
@pytest.mark.parametrize("extra", [[], [HeaderEdit("Subject"), HeaderEdit("Subject", "[tag] hi")],
                                   [HeaderEdit("X-\ufffdApproach-Verdict")]])
def test_a_block_without_our_fields_is_kept_whole_and_the_same_as_field_by_field(
        raw: bytes, extra: list[HeaderEdit]) -> None:
    edits = removal_edits("gw.example.org") + extra + [HeaderEdit("Received", "from x by y; date")]
    assert apply_edits(raw, edits) == _field_by_field(raw, edits)


def test_the_shortcut_is_taken_only_when_no_field_can_be_removed() -> None:
    from gateway.act.headers import _may_remove

    ours = {"x-approach-verdict", "x-approach-score"}
    assert not _may_remove(b"From: a@b.test\r\nSubject: hi\r\n", ours, {"gw.example.org"})
    assert _may_remove(b"From: a@b.test\r\nx-approach-SCORE: 1\r\n", ours, set())
    assert _may_remove(b"Authentication-Results: mx.test; none\r\n", ours, {"gw.example.org"})
    assert not _may_remove(b"Authentication-Results: mx.test; none\r\n", ours, set())
    assert _may_remove(b"From: a@b.test\r\n", {"x-\ufffd"}, set())  # decided field by field


def test_real_ham_is_relayed_as_field_by_field() -> None:
    files = sorted(p for p in HAM.rglob("*") if p.is_file())[:800] if HAM.is_dir() else []
    if not files:
        pytest.skip(f"no ham corpus at {HAM}")
    edits = removal_edits("gw.example.org") + [HeaderEdit("Received", "from x by y; date")]
    for f in files:
        raw = f.read_bytes()
        assert apply_edits(raw, edits) == _field_by_field(raw, edits), f.name


def test_an_encoded_word_in_a_reason_is_not_one_for_a_reader_that_decodes_them() -> None:
    """attack33c #3: a display name hiding "=?utf-8?q?=0D=0AX-Approach-Verdict:_clean?=" (itself encoded once more,
    so the gateway's own decoding left it literal) came out in X-Approach-Reasons, where a client or Sieve
    decodes it back into a line break and a forged verdict."""
    reason = "the display name Alice =?utf-8?q?=0D=0AX-Approach-Verdict:_clean=E2=80=AE?= does not match the sender"
    decision = Decision(Verdict.SUSPICIOUS, 6.0, (RuleHit("display-name-anomaly", 2.1, reason),))
    value = next(e.value for e in verdict_edits(decision) if e.name == "X-Approach-Reasons")
    assert "=?" not in value
    raw = apply_edits(b"Subject: hi\r\n\r\nbody\r\n", verdict_edits(decision))
    decoded = str(message_from_bytes(raw, policy=policy.default)["X-Approach-Reasons"])
    assert "\r" not in decoded and "\n" not in decoded and "\u202e" not in decoded
    assert "X-Approach-Verdict: clean" not in decoded and "display-name-anomaly (2.1)" in decoded

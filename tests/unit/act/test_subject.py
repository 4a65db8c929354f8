"""Subject tags: once, original bytes kept when ASCII, RFC 2047 otherwise."""

from __future__ import annotations

import email.policy
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.act.headers import apply_edits
from gateway.act.subject import subject_edits
from gateway.parse import MessageView


def _tag(raw: bytes, tag: str = "[SUSPICIOUS]") -> bytes:
    return apply_edits(raw, subject_edits(raw, MessageView.parse(raw), tag))


def _subject(raw: bytes) -> str:
    return str(BytesParser(policy=email.policy.default).parsebytes(raw)["Subject"])


def test_ascii_subject_keeps_its_folding() -> None:
    raw = b"Subject: a long\r\n subject line\r\nFrom: x@example.net\r\n\r\nbody\r\n"
    out = _tag(raw)
    assert out.startswith(b"Subject: [SUSPICIOUS] a long\r\n subject line\r\n")
    assert out.count(b"Subject:") == 1 and out.endswith(b"From: x@example.net\r\n\r\nbody\r\n")


def test_encoded_subject_is_decoded_and_reencoded() -> None:
    raw = b"Subject: =?utf-8?b?0J/RgNC40LLQtdGC?=\r\n\r\nbody\r\n"
    out = _tag(raw)
    assert _subject(out) == "[SUSPICIOUS] \u041f\u0440\u0438\u0432\u0435\u0442"
    assert out.split(b"\r\n\r\n")[0].isascii()


def test_no_double_tag_and_no_subject() -> None:
    raw = b"Subject: [suspicious] hi\r\n\r\nbody\r\n"
    assert subject_edits(raw, MessageView.parse(raw), "[SUSPICIOUS]") == ()
    raw = b"From: x@example.net\r\n\r\nbody\r\n"
    assert _subject(_tag(raw)) == "[SUSPICIOUS]"


def test_several_subject_fields_become_one() -> None:
    raw = b"Subject: one\r\nSubject: two\r\n\r\nbody\r\n"
    out = _tag(raw)
    assert out.count(b"Subject:") == 1 and b"Subject: [SUSPICIOUS] one\r\n" in out


def test_hostile_subject_with_8bit_bytes() -> None:
    raw = b"Subject: caf\xc3\xa9 \xff\r\n\r\nbody\r\n"
    out = _tag(raw)
    assert _subject(out).startswith("[SUSPICIOUS] caf\u00e9")
    assert out.split(b"\r\n\r\n")[0].isascii()  # re-encoded as RFC 2047


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=120))
def test_any_subject_is_tagged_exactly_once(subject: str) -> None:
    from email.header import Header

    encoded = Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n") if subject else ""
    raw = f"Subject: {encoded}\r\nFrom: x@example.net\r\n\r\nbody\r\n".encode()
    before = _subject(raw)
    out = _tag(raw)
    assert out.split(b"\r\n\r\n")[0].isascii() and out.endswith(b"\r\n\r\nbody\r\n")
    after = _subject(out)
    if "[suspicious]" in before.lower():
        assert out == raw
    else:
        assert after.startswith("[SUSPICIOUS]") and after.count("[SUSPICIOUS]") == 1
        assert " ".join(after[len("[SUSPICIOUS]"):].split()) == " ".join(before.split())
    assert _tag(out) == out


def test_a_lone_surrogate_in_the_subject_is_tagged(monkeypatch: pytest.MonkeyPatch) -> None:
    # attack22 #12: UTF-7 "+2D0-" decodes to a lone U+D83D; encoding it raised, no tag was written
    raw = b"Subject: =?utf-7?Q?A_research_question_+2D0-?=\r\n\r\nbody\r\n"
    assert _subject(_tag(raw)) == "[SUSPICIOUS] A research question \ufffd"
    # whatever a decoder lets out, the edit still encodes
    monkeypatch.setattr(MessageView, "subject", property(lambda self: "odd \ud83d text"))
    edits = subject_edits(raw, MessageView.parse(raw), "[SUSPICIOUS]")
    assert _subject(apply_edits(raw, edits)) == "[SUSPICIOUS] odd \ufffd text"


def test_a_decoded_subject_writes_no_field_of_its_own() -> None:
    """review33b #2: a Subject of "=?utf-8?q?Invoice=0D=0AAuthentication-Results:..." was tagged from its decoded
    reading, line breaks and all: our Authentication-Results and a verdict of the sender's in the relayed header."""
    from gateway.act.headers import apply_edits
    from gateway.act.subject import subject_edits
    from gateway.parse import MessageView
    raw = (b"From: a@b.test\r\nSubject: =?utf-8?q?Invoice=0D=0AAuthentication-Results:_gw.example.org;"
           b"_dmarc=3Dpass=0D=0AX-Approach-Verdict:_clean_=3D=3Futf-8=3Fq=3Fx=3F=3D?=\r\n\r\nbody\r\n")
    edits = subject_edits(raw, MessageView.parse(raw), "[SUSPICIOUS]")
    head = apply_edits(raw, edits).split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0] for line in head.split(b"\r\n") if line[:1] not in (b" ", b"\t")]
    assert names == [b"Subject", b"From"]
    assert b"=?utf-8?q?x" not in head and b"[SUSPICIOUS] Invoice" in head


def test_an_edit_value_with_a_bare_line_break_stays_one_field() -> None:
    from gateway.act.headers import apply_edits
    from gateway.model import HeaderEdit
    out = apply_edits(b"From: a@b.test\r\n\r\nbody\r\n", [HeaderEdit("X-Note", "a\r\nX-Evil: 1\nb\rc\x00d")])
    assert out.startswith(b"X-Note: a\r\n X-Evil: 1 b cd\r\nFrom: a@b.test\r\n")

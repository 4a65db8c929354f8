"""message/delivery-status and message/global-delivery-status bodies are read as one payload
(`gateway.parse.OPAQUE_TYPES`): the stdlib parser made one Message per blank-line block, which
max_mime_parts did not count (attack19 finding 1: 248 KB of blank lines, ~1 s on the event loop;
6 MB beside an approach text: analysis timed out, delivered unchecked). The body is analysed as
text/plain, so prose in it is still read; part counts and limits are asserted, never timings."""

from __future__ import annotations

import asyncio

import pytest

from gateway.parse import MessageView
from gateway.runtime import Runtime
from tests.conftest import ROOT
from tests.support.messages import config

HEAD = (b"From: Anna <anna@ext.test>\r\nTo: bob@example.org\r\nSubject: hi\r\n"
        b"Message-ID: <o1@ext.test>\r\nMIME-Version: 1.0\r\n")
MARK = "MARKER-TEXT-4417"
DSN = (b"Reporting-MTA: dns; mx.ext.test\r\n\r\nFinal-Recipient: rfc822; bob@example.org\r\n"
       b"Action: failed\r\nStatus: 5.1.1\r\n")


def report(ds_type: bytes, ds_body: bytes, text: bytes = b"Your message could not be delivered.") -> bytes:
    return (HEAD + b'Content-Type: multipart/report; report-type=delivery-status; boundary="zz"\r\n\r\n'
            b"--zz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + b"\r\n"
            b"--zz\r\nContent-Type: " + ds_type + b"\r\n\r\n" + ds_body + b"\r\n--zz--\r\n")


@pytest.mark.parametrize("ds_type", [b"message/delivery-status", b"message/global-delivery-status"])
@pytest.mark.parametrize("blank_lines", [10, 100_000])
def test_a_delivery_status_part_is_one_leaf_read_as_text(ds_type: bytes, blank_lines: int) -> None:
    raw = report(ds_type, DSN + b"\r\n" * blank_lines + b"prose " + MARK.encode() + b"\r\n")
    view = MessageView.parse(raw)
    assert [(p.get_content_type(), depth) for p, depth in view.leaf_parts] == [
        ("text/plain", 1), (ds_type.decode(), 1)]
    assert not view.mime_parts_exceeded
    assert [p.content_type for p in view.text_parts] == ["text/plain", "text/plain"]
    assert MARK in view.plain_text  # after 100,000 blank lines: before, the 500-part limit hid it
    assert "Final-Recipient: rfc822; bob@example.org" in view.plain_text
    assert view.msg.get_payload()[1].get_content_type() == ds_type.decode()  # the type stays as written


@pytest.mark.parametrize("blank_lines", [3, 124_000])
def test_a_top_level_delivery_status_body_is_one_payload(blank_lines: int) -> None:
    raw = HEAD + b"Content-Type: message/delivery-status\r\n\r\n" + b"\r\n" * blank_lines + MARK.encode() + b"\r\n"
    view = MessageView.parse(raw)
    assert len(view.leaf_parts) == 1 and not view.msg.is_multipart()
    assert view.content_type == "message/delivery-status"
    assert not view.mime_parts_exceeded
    assert MARK in view.plain_text


def test_a_delivery_status_part_inside_an_attached_message_is_one_leaf() -> None:
    inner = (b"From: x@ext.test\r\nMIME-Version: 1.0\r\nContent-Type: message/delivery-status\r\n\r\n"
             + b"\r\n" * 50_000 + MARK.encode() + b"\r\n")
    raw = (HEAD + b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: message/rfc822\r\n\r\n'
           + inner + b"\r\n--m--\r\n")
    view = MessageView.parse(raw)
    assert [p.get_content_type() for p, _ in view.leaf_parts] == ["message/delivery-status"]
    assert MARK in view.plain_text and not view.mime_parts_exceeded


def test_other_message_types_are_still_parsed_as_messages() -> None:
    raw = report(b"message/rfc822", b"From: m@evil.test\r\nSubject: inner\r\n\r\ninner " + MARK.encode())
    view = MessageView.parse(raw)
    inner = view.msg.get_payload()[1].get_payload()[0]
    assert inner["Subject"] == "inner"
    assert MARK in view.plain_text


@pytest.fixture(scope="module")
def pipeline() -> Runtime:
    return Runtime(config(f"policies: [{ROOT / 'policies'}]\nstore: {{backend: memory}}\n"), offline=True)


def _analyse(pipeline: Runtime, raw: bytes) -> tuple[str, bool]:
    from gateway.model import Client, Envelope
    env = Envelope("anna@ext.test", ("bob@example.org",), Client(ip="192.0.2.1", helo="x.test"), queue_id="Q")
    decision = asyncio.run(pipeline.analyse(raw, env)).decision
    return decision.verdict.word, decision.checked


def test_an_approach_beside_or_inside_a_delivery_status_part_is_still_judged(pipeline: Runtime) -> None:
    src = (ROOT / "tests/corpus/approach/001-freemail-recruiter-whatsapp.eml").read_bytes()
    src = src.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    head, _, body = src.partition(b"\r\n\r\n")
    alone = _analyse(pipeline, src)
    assert alone == ("high", True)
    lines = [x for x in head.split(b"\r\n") if not x.lower().startswith((b"content-", b"mime-version", b" ", b"\t"))]
    head = b"\r\n".join(lines) + b'\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; boundary="zz"\r\n\r\n'
    beside = (head + b"--zz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
              + b"\r\n--zz\r\nContent-Type: message/delivery-status\r\n\r\n" + b"\r\n" * 100_000 + b"--zz--\r\n")
    inside = (head + b"--zz\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--zz\r\n"
              b"Content-Type: message/delivery-status\r\n\r\n" + b"\r\n" * 2_000 + body + b"\r\n--zz--\r\n")
    assert _analyse(pipeline, beside) == alone
    assert _analyse(pipeline, inside)[1] and _analyse(pipeline, inside)[0] != "clean"

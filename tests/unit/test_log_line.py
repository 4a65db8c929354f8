"""The text form of a message or refusal log line (gateway/log.py `MessageLine`): one line per
message whatever a stranger put in the envelope, quoted where a reader would split it, and byte
for byte what the format has always written (operators parse it)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.log import MessageLine, message_line
from gateway.model import Client, Envelope


def reference(fields: dict[str, Any]) -> str:
    """The format as first written: each field through str (time to 3 decimals, lists joined by
    commas), escaped when not printable, JSON-quoted when empty or holding a space, quote or '='."""
    parts = []
    for key, value in fields.items():
        if key == "time" and isinstance(value, float):
            text = f"{value:.3f}"
        elif isinstance(value, (list, tuple)):
            text = ",".join(str(v) for v in value)
        else:
            text = str(value)
        if not text.isprintable():
            text = text.encode("unicode_escape").decode("ascii")
        if not text or any(c in text for c in ' "='):
            text = json.dumps(text, ensure_ascii=True)
        parts.append(f"{key}={text}")
    return " ".join(parts)


# text with lone surrogates too: an envelope address of non-UTF-8 bytes decoded with surrogateescape
any_text = st.one_of(st.text(), st.text(st.characters(exclude_categories=())))
values = st.one_of(any_text, st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(),
                   st.lists(st.one_of(any_text, st.integers()), max_size=4).map(tuple))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["queue_id", "helo", "from", "to", "reply", "time", "reasons", "size"]),
                       values, max_size=8))
def test_text_line_is_the_format_it_always_was(fields: dict[str, Any]) -> None:
    assert str(MessageLine(fields)) == reference(fields)


def test_hostile_envelope_stays_one_quoted_line() -> None:
    env = Envelope(mail_from='x"y=z@\u2028evil\n.example', rcpt_tos=("a@example.org", "b c@example.org"),
                   client=Client(ip="192.0.2.1", helo="\x1b[31mred"), queue_id="ABCDEF012345")
    line = str(message_line(env, 0.12345, size=10, verdict="clean", reasons=(), reply="250 2.0.0 Ok"))
    assert "\n" not in line and "\u2028" not in line and "\x1b" not in line
    assert line == ('queue_id=ABCDEF012345 client=192.0.2.1 helo=\\x1b[31mred '
                    'from="<x\\"y=z@\\\\u2028evil\\\\n.example>" to="<a@example.org>,<b c@example.org>" size=10 '
                    'verdict=clean reasons="" reply="250 2.0.0 Ok" time=0.123')


def test_non_utf8_envelope_bytes_are_escaped_as_before() -> None:
    sender = b"\xff\xfeuser@example.org".decode("utf-8", "surrogateescape")
    fields = {"from": f"<{sender}>", "helo": "h\udc80 lo"}
    line = str(MessageLine(fields))
    assert line == reference(fields) == 'from=<\\udcff\\udcfeuser@example.org> helo="h\\\\udc80 lo"'
    line.encode("ascii")  # writable to any log handler

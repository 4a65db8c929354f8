"""Small builders shared by the policy tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from gateway.model import Envelope
from gateway.parse import MessageView
from gateway.policy import PolicySet, load_policies

DATA = Path(__file__).parent / "data"


def write(dirpath: Path, name: str, text: str) -> Path:
    path = dirpath / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def policy(tmp_path: Path, text: str, name: str = "p.yml") -> PolicySet:
    return load_policies([str(write(tmp_path, name, text))])


def message(body: str = "hello", subject: str = "Hi", sender: str = "Bob <bob@example.com>",
            extra: str = "", html: str | None = None) -> MessageView:
    head = f"From: {sender}\r\nTo: alice@example.org\r\nSubject: {subject}\r\n{extra}"
    if html is None:
        raw = head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
    else:
        raw = (head + 'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n'
               "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n--b\r\n"
               "Content-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n--b--\r\n")
    return MessageView.parse(raw.encode("utf-8"))


def envelope(*rcpt: str) -> Envelope:
    return Envelope(mail_from="bob@example.com", rcpt_tos=tuple(rcpt) or ("alice@example.org",))

"""Hypothesis strategies for MIME trees with known parts, encoded with an independent encoder."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from hypothesis import strategies as st

CHARSETS = {
    "utf-8": st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    "us-ascii": st.characters(min_codepoint=32, max_codepoint=126),
    "iso-8859-1": st.characters(min_codepoint=32, max_codepoint=255, exclude_categories=("Cc",)),
    "windows-1252": st.sampled_from(list("abcdeé€ŠšŽžŸ –—“”‘’…äöüßçñ ABC xyz.,;!?")),
    "iso-2022-jp": st.sampled_from(list("あいうえおかきくけこ日本語東京 abcXYZ.,!?")),
}
CTES = ("7bit", "8bit", "quoted-printable", "base64")


@dataclass
class Node:
    ctype: str
    body: bytes = b""  # encoded body (leaves)
    headers: list[tuple[str, str]] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    text: str | None = None  # decoded text of a text leaf
    charset: str | None = None
    cte: str = "7bit"
    attachment: bool = False


def _lines(text: str) -> list[str]:
    return [text[i:i + 60] for i in range(0, len(text), 60)] or [""]


def encode_body(data: bytes, cte: str) -> bytes:
    if cte == "base64":
        return base64.encodebytes(data).replace(b"\n", b"\r\n")
    if cte == "quoted-printable":
        lf = data.replace(b"\r\n", b"\n")
        return binascii.b2a_qp(lf, istext=True).replace(b"\n", b"\r\n")
    return data


@st.composite
def text_leaf(draw: st.DrawFn, kind: str | None = None) -> Node:
    kind = kind or draw(st.sampled_from(["plain", "html"]))
    charset = draw(st.sampled_from(sorted(CHARSETS)))
    words = draw(st.text(CHARSETS[charset], min_size=0, max_size=200))
    lines = _lines(words)
    if kind == "html":
        esc = [ln.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for ln in lines]
        wrapper = draw(st.sampled_from(["full", "fragment", "upper"]))
        inner = "\n".join(f"<p>{ln}</p>" for ln in esc)
        if wrapper == "full":
            text = f"<html><head><title>t</title></head>\n<body style=\"margin:0\">\n{inner}\n</body></html>\n"
        elif wrapper == "upper":
            text = f"<HTML><BODY BGCOLOR=white>{inner}</BODY></HTML>"
        else:
            text = inner
    else:
        text = "\n".join(lines) + draw(st.sampled_from(["", "\n"]))
    text = text.replace("\n", "\r\n")
    data = text.encode(charset)
    cte = draw(st.sampled_from(CTES))
    if cte == "7bit" and not data.isascii():
        cte = "8bit"
    return Node(ctype=f"text/{kind}", body=encode_body(data, cte), text=text, charset=charset,
                cte=cte, headers=[("Content-Type", f'text/{kind}; charset="{charset}"'),
                                  ("Content-Transfer-Encoding", cte)])


@st.composite
def attachment(draw: st.DrawFn) -> Node:
    kind = draw(st.sampled_from(["octet", "png", "textfile", "calendar"]))
    data = draw(st.binary(min_size=0, max_size=300))
    if kind == "textfile":
        body = encode_body(b"plain text attachment\r\n" + data.hex().encode(), "quoted-printable")
        return Node("text/plain", body, [("Content-Type", 'text/plain; charset="utf-8"'),
                                         ("Content-Disposition", 'attachment; filename="notes.txt"'),
                                         ("Content-Transfer-Encoding", "quoted-printable")],
                    attachment=True, cte="quoted-printable")
    if kind == "calendar":
        return Node("text/calendar", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                    [("Content-Type", 'text/calendar; charset="utf-8"; method=REQUEST')],
                    attachment=True)
    ctype = "image/png" if kind == "png" else "application/octet-stream"
    return Node(ctype, encode_body(data, "base64"),
                [("Content-Type", f'{ctype}; name="f.bin"'),
                 ("Content-Disposition", 'attachment; filename="f.bin"'),
                 ("Content-Transfer-Encoding", "base64")], attachment=True, cte="base64")


def multipart(subtype: str, children: list[Node]) -> Node:
    return Node(f"multipart/{subtype}", children=children)


@st.composite
def body_tree(draw: st.DrawFn, depth: int = 0) -> Node:
    choice = draw(st.sampled_from(["plain", "html", "alternative", "related", "mixed"]
                                  if depth < 3 else ["plain", "html"]))
    if choice in ("plain", "html"):
        return draw(text_leaf(choice))
    if choice == "alternative":
        return multipart("alternative", [draw(text_leaf("plain")), draw(text_leaf("html"))])
    if choice == "related":
        return multipart("related", [draw(text_leaf("html")), draw(attachment())])
    first = draw(body_tree(depth + 1))
    rest = draw(st.lists(st.one_of(attachment(), text_leaf()), min_size=0, max_size=3))
    return multipart("mixed", [first, *rest])


def targets(node: Node) -> list[Node]:
    """The parts that should get a banner: each text alternative of the main body."""
    if node.attachment:
        return []
    if node.ctype in ("text/plain", "text/html"):
        return [node]
    if node.ctype == "multipart/alternative":
        return [t for c in node.children for t in targets(c)]
    if node.children:  # a mixed one's first part with text (readers show its parts one after another)
        found = targets(node.children[0])
        if node.ctype != "multipart/mixed" or any(t.body.strip() for t in found) or node.children[0].children:
            return found  # (a blank multipart first: its own first text, what its reader sees first)
        later = (targets(c) for c in node.children[1:])
        return next((got for got in later if any(t.body.strip() for t in got)), found)
    return []


def render(node: Node, counter: list[int] | None = None) -> bytes:
    counter = counter if counter is not None else [0]
    if not node.children:
        head = "".join(f"{k}: {v}\r\n" for k, v in node.headers)
        return head.encode() + b"\r\n" + node.body
    counter[0] += 1
    boundary = f"==b{counter[0]}_x-y"
    out = f'Content-Type: {node.ctype}; boundary="{boundary}"\r\n\r\npreamble\r\n'.encode()
    for child in node.children:
        out += f"--{boundary}\r\n".encode() + render(child, counter) + b"\r\n"
    return out + f"--{boundary}--\r\nepilogue\r\n".encode()


def message(node: Node) -> bytes:
    return (b"From: a@example.net\r\nTo: b@example.org\r\nSubject: test\r\n"
            b"MIME-Version: 1.0\r\n" + render(node))

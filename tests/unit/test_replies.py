"""gateway/replies.py: the gateway's own SMTP replies, the README's table of them, and no reply
spelt out anywhere else in the gateway."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from gateway import replies
from gateway.replies import Reply
from tests.conftest import ROOT

HEADING = "### SMTP replies the gateway makes itself"
ROW = re.compile(r"^\| (?P<when>.*?) \| `(?P<reply>[^`]+)` \| `(?P<name>[A-Z0-9_]+)` \|$")
CONSTANTS = {name: value for name, value in vars(replies).items() if isinstance(value, Reply)}


def readme_rows() -> list[re.Match[str]]:
    """The rows of the README's table of replies (every line of the table must be a row)."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index(HEADING)
    table = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            table.append(line)
        elif table:  # the first line after the table
            break
    assert table[0] == "| when | reply | constant |" and table[1] == "|---|---|---|", table[:2]
    rows = []
    for line in table[2:]:
        m = ROW.match(line)
        assert m, f"README.md: not a row of the reply table: {line!r}"
        rows.append(m)
    return rows


def test_the_readme_lists_exactly_the_reply_constants() -> None:
    rows = readme_rows()
    names = [m["name"] for m in rows]
    assert len(names) == len(set(names)), f"listed twice: {sorted({n for n in names if names.count(n) > 1})}"
    assert set(names) - set(CONSTANTS) == set(), "in README.md but not in gateway/replies.py"
    assert set(CONSTANTS) - set(names) == set(), "in gateway/replies.py but not in README.md's table"
    for m in rows:
        reply = CONSTANTS[m["name"]]
        cell = m["reply"]
        code, space, rest = cell[:3], cell[3:4], cell[4:]
        assert code.isdigit() and space == " ", cell
        documented = Reply(int(code), rest)
        assert (documented.code, documented.enhanced, documented.text) == (reply.code, reply.enhanced, reply.text), \
            f"README.md documents {m['name']} as {cell!r}; gateway/replies.py says {str(reply)!r}"
        assert re.search(r"\w", m["when"]), f"README.md: {m['name']} without a 'when'"


def test_reply_parts() -> None:
    assert replies.UPSTREAM_LOST.enhanced == "4.4.1" and replies.UPSTREAM_LOST.code == 451
    assert replies.NEED_RCPT.enhanced is None  # aiosmtpd's wording, kept
    assert replies.HELO_OK.enhanced is None
    assert str(replies.RELAY_DENIED.format(address="a@b.test", host="unused")) == \
        "550 5.7.1 <a@b.test>: Relay access denied"
    assert Reply(250, "first\nsecond").line() == "250-first\r\n250 second"
    assert not replies.INTERNAL_ERROR.ok and replies.QUARANTINED.ok


def test_every_reply_is_one_printable_line_with_a_known_code() -> None:
    for name, reply in CONSTANTS.items():
        assert 200 <= reply.code < 600, name
        assert re.fullmatch(r"[\x20-\x7e]+", reply.text), name
        # RFC 3463: the class of the enhanced code is the reply's
        assert reply.enhanced is None or reply.enhanced[0] == str(reply.code)[0], name


def test_replies_module_imports_nothing_of_the_gateway() -> None:
    tree = ast.parse((ROOT / "gateway" / "replies.py").read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if m == "gateway" or m.startswith("gateway.")], imported


# Files that may still spell replies out, and why.
NOT_YET = {
    "gateway/demo.py": "the demo's own local mailbox server, not the gateway's replies",
}
_REPLY_TEXT = re.compile(r"[2-5][0-9][0-9] ([2-5]\.[0-9]|[A-Z{]|$)")  # "421 not written" is a log line


def _spelt_replies(path: Path) -> list[str]:
    """String literals that start like an SMTP reply (`550 ...`), and `Reply(550, ...)` calls."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            text = node.values[0].value
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Reply" \
                and node.args and isinstance(node.args[0], ast.Constant):
            text = f"{node.args[0].value} "
        else:
            continue
        if isinstance(text, str) and _REPLY_TEXT.match(text):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_no_reply_is_spelt_out_outside_the_replies_module() -> None:
    found = []
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel != "gateway/replies.py" and rel not in NOT_YET:
            found += _spelt_replies(path)
    assert not found, "use (or add) a constant in gateway/replies.py:\n" + "\n".join(found)


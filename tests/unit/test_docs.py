"""The docs do what they say: every example in README.md, policies/README.md and docs/*.md runs.

Each fenced block is classified and exercised:
- a YAML policy (top-level keys of the policy schema) is linted together with the shipped
  policies, placed where the example says it lives;
- a YAML gateway config (has `listen:`) is validated; a config fragment (signals, store, ...) is
  validated inside a minimal config;
- an indicator file is loaded; a cases/labels list is parsed;
- each `approach-gateway ...` / `python -m gateway ...` command line in a `sh` block is parsed by
  the real command-line parser (subcommand, options and arguments must exist);
- blocks that show output or a sketch carry `<!-- example: not runnable (reason) -->` on the line
  before the fence, and nothing else is skipped.
"""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gateway.config import parse_config
from tests.conftest import ROOT

DOCS = [ROOT / "README.md", ROOT / "policies" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
POLICY_KEYS = {"thresholds", "phrases", "groups", "allow", "actions", "rules", "signal_groups"}
_FENCE = re.compile(r"^```(\w*)\s*$")
_SKIP = re.compile(r"<!--\s*example:\s*not runnable\s*\((.+)\)\s*-->")


@dataclass(frozen=True)
class Block:
    file: Path
    line: int
    lang: str
    text: str
    skip: str | None

    def __str__(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def blocks() -> list[Block]:
    out = []
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        i = 0
        while i < len(lines):
            m = _FENCE.match(lines[i])
            if not m:
                i += 1
                continue
            start, lang = i, m.group(1)
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            skip = _SKIP.search(lines[start - 1]) if start else None
            out.append(Block(doc, start + 1, lang, "\n".join(lines[start + 1:j]),
                             skip.group(1) if skip else None))
            i = j + 1
    return out


ALL = blocks()


def test_every_block_is_exercised_or_says_why_not() -> None:
    unknown = [str(b) for b in ALL if b.skip is None and b.lang not in ("yaml", "sh", "python")]
    assert not unknown, f"blocks with no language and no 'not runnable' reason: {unknown}"


MINIMAL = "listen: 127.0.0.1:0\nupstream: {host: 127.0.0.1, port: 10026}\nhostname: gw.example.org\n" \
          "local_domains: [example.org]\n"


def _policy_path(block: Block, tmp: Path) -> Path:
    """Where the example says it lives (`# policies/local.d/50-x.yml`), in a copy of policies/."""
    copy = tmp / "policies"
    shutil.copytree(ROOT / "policies", copy)
    first = block.text.splitlines()[0] if block.text else ""
    named = re.match(r"#\s*(?:\S*/)?policies/(\S+\.ya?ml)", first)
    return copy / (named.group(1) if named else "local.d/99-doc-example.yml")


@pytest.mark.parametrize("block", [b for b in ALL if b.lang == "yaml" and b.skip is None], ids=str)
def test_yaml_example(block: Block, tmp_path: Path) -> None:
    doc = yaml.safe_load(block.text)
    if isinstance(doc, dict) and "listen" in doc:
        parse_config(block.text, str(tmp_path / "gateway.yml"))
    elif isinstance(doc, dict) and "indicators" in doc:
        from gateway.refdata import load_indicator_file

        path = tmp_path / "indicators.yml"
        path.write_text(block.text)
        assert load_indicator_file(str(path))
    elif isinstance(doc, dict) and set(doc) <= POLICY_KEYS:
        from gateway.policy.lint import lint

        path = _policy_path(block, tmp_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text)
        report = lint([str(tmp_path / "policies")], None)
        assert not report.errors, "\n".join(report.errors)
    elif isinstance(doc, dict):  # a config fragment, e.g. `signals:` or `store:`
        for key in doc:
            assert key in ("signals", "store", "dns", "limits", "quarantine", "arc", "tls", "proxy_protocol",
                           "log", "policies", "trusted_authserv_ids", "console", "admin"), \
                f"{block}: unknown top-level key {key}"
        text = MINIMAL + re.sub(r"\[indicators/[^\]]*\]", "[]", block.text)
        parse_config(text, str(tmp_path / "gateway.yml"))
    elif isinstance(doc, list) and doc and isinstance(doc[0], dict) and "file" in doc[0]:
        from gateway.policy.evaluate import load_cases

        path = tmp_path / "cases.yml"
        path.write_text(block.text)
        for entry in doc:
            msg = tmp_path / entry["file"]
            msg.parent.mkdir(parents=True, exist_ok=True)
            msg.write_bytes(b"From: a@example.net\r\n\r\nx\r\n")
        assert load_cases(path)
    else:
        pytest.fail(f"{block}: a YAML example of no known kind: mark it not runnable with a reason")


def _command_lines(text: str) -> list[list[str]]:
    out = []
    joined = re.sub(r"\\\n\s*", " ", text)
    for line in joined.splitlines():
        line = line.split("  #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        argv = shlex.split(line, comments=True)
        for prefix in (["approach-gateway"], [".venv-run/bin/approach-gateway"], ["python", "-m", "gateway"],
                       ["python3", "-m", "gateway"]):
            if argv[:len(prefix)] == prefix:
                out.append(argv[len(prefix):])
    return out


SH = [b for b in ALL if b.lang == "sh" and b.skip is None]


@pytest.mark.parametrize("block", SH, ids=str)
def test_command_example_parses(block: Block) -> None:
    from gateway.cli import _parser

    for argv in _command_lines(block.text):
        try:
            _parser().parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"{block}: `approach-gateway {' '.join(argv)}` does not parse (exit {exc.code})")


def test_the_shell_examples_name_only_real_scripts() -> None:
    for block in SH:
        for line in block.text.splitlines():
            word = line.strip().split(" ", 1)[0]
            if word.startswith("./"):
                assert (ROOT / word[2:]).is_file(), f"{block}: {word} does not exist"


def test_docs_name_existing_files() -> None:
    """Paths in backquotes that look like repository files exist."""
    missing = []
    for doc in DOCS:
        for m in re.finditer(r"`((?:gateway|policies|deploy|docs|tests|benchmarks)/[\w./-]+\.\w+)`", doc.read_text()):
            if not (ROOT / m.group(1)).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {m.group(1)}")
    assert not missing, missing


def test_signals_doc_is_generated_from_the_declarations() -> None:
    from gateway.checks.docs import BEGIN, END, markdown_table

    text = (ROOT / "docs" / "signals.md").read_text()
    assert BEGIN in text and END in text, "docs/signals.md lost its generated-table markers"
    current = text[text.index(BEGIN):text.index(END) + len(END)]
    assert current == markdown_table(), \
        "docs/signals.md is stale: regenerate it: python -m gateway.checks.docs docs/signals.md"


def test_reload_table_is_the_codes_list() -> None:
    """docs/operations.md says which config keys a reload applies and which need a restart (admin21
    00:52: documented nowhere): the two rows are RELOADABLE and every other key of the config."""
    import dataclasses

    from gateway.config import Config
    from gateway.smtp.service import RELOADABLE

    text = (ROOT / "docs" / "operations.md").read_text()
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\| ((?:`\w+`(?:, )?)+) \| (applied|restart)\b", line)
        if m:
            rows[m.group(2)] = re.findall(r"`(\w+)`", m.group(1))
    assert set(rows) == {"applied", "restart"}, "docs/operations.md lost its reload table"
    keys = [f.name for f in dataclasses.fields(Config) if f.name != "source"]
    assert rows["applied"] == list(RELOADABLE)
    assert sorted(rows["restart"]) == sorted(k for k in keys if k not in RELOADABLE)
    assert rows["restart"] == [k for k in keys if k not in RELOADABLE]  # in the config's order


@pytest.mark.parametrize("block", [b for b in ALL if b.lang == "python" and b.skip is None], ids=str)
def test_python_example_runs(block: Block) -> None:
    """A Python example is executed; a check it defines is run on a message through the same
    helper the check tests use, and must emit only what it declares."""
    from gateway.checks import Check
    from tests.support.messages import message, run

    namespace: dict[str, object] = {"__name__": "doc_example"}
    exec(compile(block.text, str(block), "exec"), namespace)  # our own documentation
    checks = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, Check) and v is not Check]
    for cls in checks:
        signals, _ = run([cls()], message("A <a@ext.example>", "Please answer within 48 hours."))
        assert not [s for s in signals if s.name == "check.error"], signals
        assert signals, f"{block}: the example check emitted nothing on its sample"

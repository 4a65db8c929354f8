"""The policy editor: effective rules, lint of an edit, try a message, evaluate, save.

Purpose: show the rules in force (shipped files plus `local.d`), each with its score and the
file:line it comes from (definition, score, disabling); lint an edited local file server-side
exactly as `approach-gateway policy lint` does (errors at file:line with the fix); analyse a
pasted or uploaded message with the edited policies (verdict, every signal with its evidence,
every rule that fired with its reason); measure the edit with `evaluate` on the triaged reports;
save it under `console.policy_dir` (atomically, only when lint passes), reload the gateway and
leave the diff in the audit log.

Untrusted input: the edited YAML (an admin's, linted, never executed) and the message to try (a
stranger's, analysed offline by the same runtime code as live mail).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from gateway.config import Config
from gateway.model import Verdict
from gateway.policy.engine import PolicyError, PolicySet, load_policies
from gateway.policy.evaluate import Evaluation, Labelled, envelope_for, evaluate
from gateway.policy.lint import LintReport, lint
from gateway.policy.loader import read_all
from gateway.problems import Problems
from gateway.runtime import Result, Runtime

_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}\.ya?ml$")
MAX_POLICY_TEXT = 512 * 1024
NEW_FILE = """# A local policy file: overrides of the shipped rules (policies/README.md).
rules:
  - id: example-override
    description: Replace this example.
    when: {signal: sender.freemail}
    score: 0
    reason: example
    enabled: false
"""


class EditError(ValueError):
    """A bad file name or text; the message says what to do."""


@dataclass(frozen=True)
class RuleRow:
    id: str
    score: float | None
    score_where: str
    defined_where: str
    disabled_where: str
    description: str


def policy_dir(config: Config) -> Path:
    if not config.console.policy_dir:
        raise EditError("no folder to write local policies in: set console.policy_dir (a local.d read by policies)")
    return Path(config.console.policy_dir)


def target(config: Config, name: str) -> Path:
    if not _FILE.match(name or ""):
        raise EditError(f"{name!r} is not a policy file name; write e.g. 50-local.yml (letters, digits, . _ -)")
    return policy_dir(config) / name


def effective_rules(config: Config) -> tuple[list[RuleRow], dict[str, str], list[str]]:
    """(rules in load order, thresholds with where they are set, problems) of the files on disk."""
    problems = Problems()
    merged = read_all(config.policies, problems)
    rows = []
    for rid, keys in merged.rules.items():
        score = keys.get("score")
        value = score.value if score is not None and isinstance(score.value, (int, float)) else None
        desc = keys.get("description")
        rows.append(RuleRow(rid, float(value) if value is not None else None, score.where if score else "",
                            keys["when"].where if "when" in keys else keys["id"].where,
                            merged.disabled.get(rid, ""), str(desc.value) if desc else ""))
    thresholds = {w: f"{o.value:g} ({o.where})" for w, o in merged.thresholds.items()}
    return rows, thresholds, problems.errors


def local_files(config: Config) -> list[str]:
    try:
        folder = policy_dir(config)
    except EditError:
        return []
    return sorted(f.name for f in folder.iterdir() if f.suffix in (".yml", ".yaml") and f.is_file()) \
        if folder.is_dir() else []


def read_local(config: Config, name: str) -> str:
    path = target(config, name)
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def check_text(text: str) -> str:
    if len(text.encode("utf-8", "replace")) > MAX_POLICY_TEXT:
        raise EditError(f"the policy text is larger than {MAX_POLICY_TEXT // 1024} KiB; split it into files")
    return text.replace("\r\n", "\n")


def lint_edit(config: Config, name: str, text: str) -> LintReport:
    """`policy lint` of the config's policies with `text` in place of (or added as) `name`."""
    return lint(config.policies, config, texts={target(config, name): check_text(text)})


def load_edit(config: Config, name: str, text: str) -> PolicySet:
    return load_policies(config.policies, texts={target(config, name): check_text(text)})


def runtime_with(running: Runtime, policies: PolicySet) -> Runtime:
    """A runtime like the running one (same reference data, store for reads, worker threads)
    with `policies`, offline: nothing leaves the machine. Nothing to close afterwards: all it
    holds is the running runtime's (never close() it: that would close the running store)."""
    return Runtime(running.config, policies=policies, offline=True, store=running.store, data=running.data,
                   big=running.big, auth_pools=running.auth_pools, threads=running.threads)


async def try_message(running: Runtime, policies: PolicySet, raw: bytes) -> Result:
    return await runtime_with(running, policies).analyse(raw, envelope_for(raw), add_received=False)


async def measure(running: Runtime, policies: PolicySet | None, items: list[Labelled]) -> Evaluation:
    rt = runtime_with(running, policies or running.policies)
    return await evaluate(rt, items, positive="approach", flag_at=Verdict.SUSPICIOUS)


def save(config: Config, name: str, text: str) -> tuple[Path, str]:
    """Write the file atomically; returns (path, unified diff from the old text)."""
    path = target(config, name)
    text = check_text(text)
    old = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{name}.console-tmp")  # not *.yml: never loaded half-written
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), text.splitlines(keepends=True),
                                        fromfile=f"a/{name}", tofile=f"b/{name}"))
    return path, diff


__all__ = ["EditError", "PolicyError", "RuleRow", "effective_rules", "lint_edit", "load_edit", "local_files",
           "measure", "read_local", "save", "try_message", "NEW_FILE"]

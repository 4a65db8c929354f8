"""`policy test` and `evaluate`: labelled messages through the real runtime, offline.

Purpose: admins check a policy change before deploying it. `run_cases` runs a cases file (each
message with an expected verdict, rules that must hit and rules that must not) and reports
regressions; `evaluate` runs labelled folders (or a labels.yml) and measures per-rule hits per
label, precision, recall, false-positive rate and the confusion table of verdicts by label. Both
use `Runtime.analyse` exactly as `scan` does, so they measure what `serve` would do.

Untrusted input: the message files (read bounded, analysed by the same code as live mail) and
the admin's cases/labels YAML (validated with file:line errors).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from gateway.errors import AdminInputError
from gateway.model import Client, Decision, Envelope, Verdict
from gateway.parse import MessageView, normalize_newlines
from gateway.runtime import Result, Runtime
from gateway.yamlmarks import Located, YamlError, load_located, read_bounded

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MESSAGE_SUFFIXES = (".eml", ".msg", ".txt", "")


class CasesError(AdminInputError):
    """A cases or labels file is invalid; the message names file, line and fix."""


@dataclass(frozen=True)
class Expectation:
    """`suspicious` (exactly), `at_least: suspicious` or `at_most: caution`."""

    op: str  # eq | ge | le
    verdict: Verdict

    @classmethod
    def parse(cls, value: Any, where: str, bare: str = "eq") -> Expectation:
        op, word = bare, value
        if isinstance(value, dict) and len(value) == 1:
            (op, word), = value.items()
        elif isinstance(value, str) and ":" in value:
            op, _, word = (x.strip() for x in value.partition(":"))
        ops = {"eq": "eq", "ge": "ge", "le": "le", "at_least": "ge", "at_most": "le"}
        try:
            return cls(ops[str(op)], Verdict.from_word(str(word)))
        except (KeyError, ValueError):
            raise CasesError(f"{where}: bad expect {value!r}; write a verdict (clean, caution, "
                             "suspicious, high), 'at_least: suspicious' or 'at_most: caution'")\
                from None

    def holds(self, v: Verdict) -> bool:
        return {"eq": v == self.verdict, "ge": v >= self.verdict, "le": v <= self.verdict}[self.op]

    def __str__(self) -> str:
        return {"eq": "", "ge": "at least ", "le": "at most "}[self.op] + self.verdict.word


def read_message(path: Path) -> bytes:
    """A message file: regular, at most MAX_MESSAGE_BYTES (FileError, a ValueError, otherwise)."""
    return normalize_newlines(read_bounded(path, MAX_MESSAGE_BYTES, "message file"))


def envelope_for(raw: bytes, rcpt: Sequence[str] = (), mail_from: str | None = None) -> Envelope:
    if mail_from is None:
        try:
            mail_from = MessageView.of_header(raw).return_path
        except ValueError:
            mail_from = ""
    return Envelope(mail_from=mail_from, rcpt_tos=tuple(rcpt), client=Client(), queue_id="test")


async def analyse_file(runtime: Runtime, path: Path, rcpt: Sequence[str] = ()) -> Decision:
    raw = read_message(path)
    result = await runtime.analyse(raw, envelope_for(raw, rcpt), add_received=False)
    return result.decision


# ----------------------------------------------------------------------------- policy test

@dataclass(frozen=True)
class Case:
    file: Path
    where: str
    expect: Expectation | None
    rules: tuple[str, ...] = ()
    not_rules: tuple[str, ...] = ()
    rcpt: tuple[str, ...] = ()


def _strings(doc: Located, path: tuple[Any, ...], value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise CasesError(f"{doc.where(path)}: expected a list; write [a, b]")
    return tuple(str(v) for v in value)


def load_cases(path: str | Path) -> list[Case]:
    try:
        doc = load_located(path)
    except YamlError as exc:
        raise CasesError(str(exc)) from None
    items = doc.value.get("cases") if isinstance(doc.value, dict) else doc.value
    if not isinstance(items, list):
        raise CasesError(f"{doc.where(())}: a cases file is a list of "
                         "{file, expect, rules, not_rules}; write - file: x.eml")
    base = Path(doc.file).parent
    out = []
    for i, item in enumerate(items):
        where = doc.where((i,))
        if not isinstance(item, dict) or "file" not in item:
            raise CasesError(f"{where}: a case needs file; write - file: msg.eml")
        extra = set(item) - {"file", "expect", "rules", "not_rules", "rcpt", "label", "note"}
        if extra:
            raise CasesError(f"{where}: unknown keys {sorted(extra)}; use file, expect, rules, "
                             "not_rules, rcpt")
        expect = Expectation.parse(item["expect"], doc.where((i, "expect"))) \
            if "expect" in item else None
        out.append(Case(file=base / str(item["file"]), where=where, expect=expect,
                        rules=_strings(doc, (i, "rules"), item.get("rules")),
                        not_rules=_strings(doc, (i, "not_rules"), item.get("not_rules")),
                        rcpt=_strings(doc, (i, "rcpt"), item.get("rcpt"))))
    return out


@dataclass
class CaseReport:
    passed: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


async def run_cases(runtime: Runtime, cases: Iterable[Case]) -> CaseReport:
    report = CaseReport()
    for case in cases:
        try:
            d = await analyse_file(runtime, case.file, case.rcpt)
        except (OSError, ValueError) as exc:
            report.failures.append(f"{case.where}: {case.file}: cannot analyse: {exc}")
            continue
        hit = {h.rule_id for h in d.hits}
        problems = []
        if case.expect is not None and not case.expect.holds(d.verdict):
            problems.append(f"verdict {d.verdict.word} ({d.score:g}), expected {case.expect}")
        problems += [f"rule {r} did not hit" for r in case.rules if r not in hit]
        problems += [f"rule {r} hit but must not" for r in case.not_rules if r in hit]
        if problems:
            hits = ", ".join(f"{h.rule_id} ({h.score:g})" for h in d.hits) or "none"
            report.failures.append(f"{case.where}: {case.file}: {'; '.join(problems)} "
                                   f"[hits: {hits}]")
        else:
            report.passed += 1
    return report


# ----------------------------------------------------------------------------- evaluate

@dataclass(frozen=True)
class Labelled:
    file: Path
    label: str
    expect: Expectation | None = None
    group: str = ""  # campaign (approaches) or source (legitimate mail), for per-group figures
    rcpt: tuple[str, ...] = ()  # envelope recipients; default: none (scan's view)


def label_dirs(specs: Iterable[str]) -> list[Labelled]:
    """`NAME=DIR` pairs: every regular file under DIR (sorted) carries label NAME."""
    out = []
    for spec in specs:
        name, sep, directory = spec.partition("=")
        if not sep or not name or not Path(directory).is_dir():
            raise CasesError(f"--label {spec!r}: write NAME=DIR with an existing directory")
        out += [Labelled(f, name) for f in sorted(Path(directory).rglob("*"))
                if f.is_file() and not f.name.startswith(".")]
    return out


def load_labels(path: str | Path, positive: str = "approach") -> list[Labelled]:
    """A labels.yml (tests/corpus/labels.yml): a list (or `messages:` list) of {file, label,
    expect?}, files relative to it. A bare `expect` is the bar the verdict must meet: a minimum
    for the positive label, a maximum for the others (`at_least:`/`at_most:` say it outright)."""
    try:
        doc = load_located(path)
    except YamlError as exc:
        raise CasesError(str(exc)) from None
    value = doc.value
    if isinstance(value, dict):
        value = next((v for v in value.values() if isinstance(v, list)), None)
    if not isinstance(value, list):
        raise CasesError(f"{doc.where(())}: expected a list of {{file, label}}; "
                         "write - {file: approach/001.eml, label: approach}")
    base = Path(doc.file).parent
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or "file" not in item or "label" not in item:
            raise CasesError(f"{doc.where((i,))}: an entry needs file and label; "
                             "write - {file: x.eml, label: legit}")
        bare = "ge" if str(item["label"]) == positive else "le"
        expect = Expectation.parse(item["expect"], doc.where((i, "expect")), bare) \
            if item.get("expect") else None
        group = str(item.get("campaign") or item.get("source") or "")
        rcpt = tuple(str(r) for r in item.get("rcpt") or ())
        out.append(Labelled(base / str(item["file"]), str(item["label"]), expect, group, rcpt))
    return out


@dataclass
class Evaluation:
    positive: str
    flag_at: Verdict
    counts: dict[str, int] = field(default_factory=dict)
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    rule_hits: dict[str, dict[str, int]] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)
    missed: list[str] = field(default_factory=list)  # positives below flag_at
    false_positives: list[str] = field(default_factory=list)
    expect_failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    groups: dict[str, dict[str, int]] = field(default_factory=dict)  # group -> {label, total, correct}

    def add(self, item: Labelled, d: Decision) -> None:
        label = item.label
        if item.group:
            g = self.groups.setdefault(item.group, {"total": 0, "correct": 0})
            g["label_" + label] = 1
            g["total"] += 1
            g["correct"] += int((d.verdict >= self.flag_at) == (label == self.positive))
        self.counts[label] = self.counts.get(label, 0) + 1
        row = self.confusion.setdefault(label, {v.word: 0 for v in Verdict})
        row[d.verdict.word] += 1
        for h in d.hits:
            self.rule_hits.setdefault(h.rule_id, {})
            self.rule_hits[h.rule_id][label] = self.rule_hits[h.rule_id].get(label, 0) + 1
        is_flagged = d.verdict >= self.flag_at
        self.flagged[label] = self.flagged.get(label, 0) + int(is_flagged)
        summary = f"{item.file}: {d.verdict.word} {d.score:g} " + \
            (" ".join(h.rule_id for h in d.hits) or "-")
        if label == self.positive and not is_flagged:
            self.missed.append(summary)
        elif label != self.positive and is_flagged:
            self.false_positives.append(summary)
        if item.expect is not None and not item.expect.holds(d.verdict):
            self.expect_failures.append(f"{summary} (expected {item.expect})")

    def metrics(self) -> dict[str, float | None]:
        tp = self.flagged.get(self.positive, 0)
        pos = self.counts.get(self.positive, 0)
        fp = sum(n for lab, n in self.flagged.items() if lab != self.positive)
        neg = sum(n for lab, n in self.counts.items() if lab != self.positive)
        return {"precision": tp / (tp + fp) if tp + fp else None,
                "recall": tp / pos if pos else None,
                "false_positive_rate": fp / neg if neg else None}

    def rule_precision(self) -> dict[str, float]:
        """Per rule, the share of the messages it hit that are positives."""
        return {rid: per.get(self.positive, 0) / sum(per.values()) for rid, per in self.rule_hits.items()
                if sum(per.values())}

    def group_rates(self) -> dict[str, dict[str, Any]]:
        """Per group: its label, messages, and the share handled right (positives flagged,
        negatives not)."""
        return {name: {"label": next((k[6:] for k in g if k.startswith("label_")), ""), "messages": g["total"],
                       "correct": g["correct"] / g["total"]} for name, g in sorted(self.groups.items())}

    def rule_share(self) -> dict[str, dict[str, float]]:
        """Per rule, the share of each label's messages it hit (for negatives: its FP rate)."""
        return {rid: {lab: n / self.counts[lab] for lab, n in per.items()}
                for rid, per in self.rule_hits.items()}

    def as_json(self, aggregate: bool = False) -> dict[str, Any]:
        """Everything; with `aggregate` no file is named (for a sealed split)."""
        out: dict[str, Any] = {"positive_label": self.positive, "flag_at": self.flag_at.word,
               "counts": self.counts, **self.metrics(), "confusion": self.confusion,
               "rule_hits": self.rule_hits, "rule_share": self.rule_share(),
               "rule_precision": self.rule_precision(), "groups": self.group_rates(),
               "expect_failures": len(self.expect_failures), "errors": len(self.errors)}
        if not aggregate:
            out.update(missed=self.missed, false_positives=self.false_positives,
                       expect_failures=self.expect_failures, errors=self.errors)
        return out


async def evaluate(runtime: Runtime, items: Iterable[Labelled], positive: str = "approach",
                   flag_at: Verdict = Verdict.SUSPICIOUS, *, replay: bool = False) -> Evaluation:
    """Each message through `runtime.analyse` (see `analysed`); figures by label and group."""
    ev = Evaluation(positive=positive, flag_at=flag_at)
    async for item, result in analysed(runtime, items, replay=replay, errors=ev.errors):
        ev.add(item, result.decision)
    return ev


async def analysed(runtime: Runtime, items: Iterable[Labelled], *, replay: bool = False,
                   errors: list[str] | None = None) -> AsyncIterator[tuple[Labelled, Result]]:
    """(item, result) for each labelled message. With `replay`, messages go in the order of their
    Date headers, each with its labelled recipients and its date as the receive time, and each
    is remembered in the runtime's store afterwards as `serve` would after delivery: history
    (first contact, campaigns) builds up as it would have in production. A message that cannot
    be read or analysed is reported in `errors`."""
    errors = errors if errors is not None else []
    todo: list[tuple[float, int, Labelled, bytes]] = []
    for i, item in enumerate(items):
        try:
            raw = read_message(item.file)
        except (OSError, ValueError) as exc:
            errors.append(f"{item.file}: {exc}")
            continue
        todo.append((message_date(raw) if replay else 0.0, i, item, raw))
    if replay:
        todo.sort(key=lambda t: (t[0], t[1]))
    for when, _, item, raw in todo:
        try:
            env = envelope_for(raw, item.rcpt)
            if replay:
                env = replace(env, received_at=when)
            result = await runtime.analyse(raw, env, add_received=False)
            if replay:
                await runtime.record(result)
        except (OSError, ValueError) as exc:
            errors.append(f"{item.file}: {exc}")
            continue
        yield item, result


def message_date(raw: bytes) -> float:
    """Epoch seconds of the Date header (0 when missing or unparseable)."""
    try:
        value = MessageView.of_header(raw).header("Date") or ""
        return parsedate_to_datetime(value).timestamp()
    except (ValueError, TypeError, IndexError):
        return 0.0


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def format_text(ev: Evaluation, aggregate: bool = False) -> str:
    labels = sorted(ev.counts)
    m = ev.metrics()
    lines = [f"flagged = {ev.flag_at.word} or above; positive label = {ev.positive}",
             f"precision {_pct(m['precision'])}  recall {_pct(m['recall'])}  "
             f"false-positive rate {_pct(m['false_positive_rate'])}", "",
             "verdicts by label:", f"{'label':<14}" + "".join(f"{v.word:>12}" for v in Verdict)
             + f"{'total':>8}"]
    for lab in labels:
        row = ev.confusion[lab]
        lines.append(f"{lab:<14}" + "".join(f"{row[v.word]:>12}" for v in Verdict)
                     + f"{ev.counts[lab]:>8}")
    lines += ["", "rule hits by label (share of that label's messages):",
              f"{'rule':<36}" + "".join(f"{lab:>18}" for lab in labels)]
    for rid in sorted(ev.rule_hits, key=lambda r: -sum(ev.rule_hits[r].values())):
        cells = [f"{ev.rule_hits[rid].get(lab, 0)} ({_pct(ev.rule_hits[rid].get(lab, 0) / ev.counts[lab])})"
                 for lab in labels]
        lines.append(f"{rid:<36}" + "".join(f"{c:>18}" for c in cells))
    if ev.groups:
        lines += ["", "by campaign or source (share handled right: approaches flagged, legitimate not):"]
        for name, g in ev.group_rates().items():
            lines.append(f"  {name:<40} {g['label']:<10} {g['messages']:>4}  {_pct(g['correct'])}")
    if aggregate:
        lines += ["", f"missed {len(ev.missed)}, false positives {len(ev.false_positives)}, "
                  f"expectation failures {len(ev.expect_failures)}, errors {len(ev.errors)} "
                  "(files not named: --aggregate)"]
        return "\n".join(lines)
    for title, items in (("missed", ev.missed), ("false positives", ev.false_positives),
                         ("expectation failures", ev.expect_failures), ("errors", ev.errors)):
        if items:
            lines += ["", f"{title} ({len(items)}):"] + [f"  {x}" for x in items]
    return "\n".join(lines)

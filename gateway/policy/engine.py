"""The policy language: rules with `when` conditions over signals, scores, thresholds.

Untrusted input: signals and message fields are compared as data. Policy files are validated
with errors that name file, line and fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.model import Decision, Envelope, RuleHit, Signal, Verdict
from gateway.parse import MessageView
from gateway.yamlmarks import Located, YamlError, load_located


class PolicyError(ValueError):
    """A policy file is invalid; the message names file, line and the fix."""


DEFAULT_THRESHOLDS = {Verdict.CAUTION: 3.0, Verdict.SUSPICIOUS: 6.0, Verdict.HIGH: 10.0}


@dataclass(frozen=True)
class Condition:
    kind: str  # signal | all | any | not
    signal: str = ""
    children: tuple[Condition, ...] = ()

    def matches(self, names: frozenset[str]) -> bool:
        if self.kind == "signal":
            return self.signal in names
        if self.kind == "all":
            return all(c.matches(names) for c in self.children)
        if self.kind == "any":
            return any(c.matches(names) for c in self.children)
        return not self.children[0].matches(names)


@dataclass(frozen=True)
class Rule:
    id: str
    when: Condition
    score: float
    reason: str
    description: str = ""
    where: str = ""


@dataclass(frozen=True)
class PolicySet:
    rules: tuple[Rule, ...] = ()
    thresholds: dict[Verdict, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    sources: tuple[str, ...] = ()

    def evaluate(self, signals: Iterable[Signal], view: MessageView | None = None,
                 envelope: Envelope | None = None) -> Decision:
        names = frozenset(s.name for s in signals)
        hits = tuple(RuleHit(r.id, r.score, r.reason) for r in self.rules if r.when.matches(names))
        score = round(sum(h.score for h in hits), 2)
        verdict = Verdict.CLEAN
        for v in (Verdict.CAUTION, Verdict.SUSPICIOUS, Verdict.HIGH):
            if score >= self.thresholds[v]:
                verdict = v
        return Decision(verdict=verdict, score=score, hits=hits)


def _condition(doc: Located, path: tuple[Any, ...], node: Any) -> Condition:
    if isinstance(node, dict) and len(node) == 1:
        (key, value), = node.items()
        if key == "signal" and isinstance(value, str):
            return Condition("signal", signal=value)
        if key in ("all", "any") and isinstance(value, list) and value:
            return Condition(key, children=tuple(
                _condition(doc, path + (key, i), v) for i, v in enumerate(value)))
        if key == "not":
            return Condition("not", children=(_condition(doc, path + ("not",), value),))
    raise PolicyError(f"{doc.where(path)}: invalid condition {node!r}; "
                      "write {signal: NAME}, {all: [...]}, {any: [...]} or {not: {...}}")


def _load_file(path: Path, rules: dict[str, Rule], thresholds: dict[Verdict, float]) -> None:
    try:
        doc = load_located(path)
    except YamlError as exc:
        raise PolicyError(str(exc)) from exc
    top = doc.value or {}
    if not isinstance(top, dict):
        raise PolicyError(f"{doc.where(())}: expected a mapping with 'rules' and/or 'thresholds'")
    for key in top:
        if key not in ("rules", "thresholds"):
            raise PolicyError(f"{doc.where((key,))}: unknown key {key!r}; use rules or thresholds")
    for name, value in (top.get("thresholds") or {}).items():
        try:
            verdict = Verdict.from_word(str(name))
        except ValueError as exc:
            raise PolicyError(f"{doc.where(('thresholds', name))}: {exc}") from None
        if verdict is Verdict.CLEAN or not isinstance(value, (int, float)):
            raise PolicyError(f"{doc.where(('thresholds', name))}: threshold must be a number "
                              "for caution, suspicious or high")
        thresholds[verdict] = float(value)
    for i, raw in enumerate(top.get("rules") or []):
        p = ("rules", i)
        if not isinstance(raw, dict) or not {"id", "when", "score"} <= set(raw):
            raise PolicyError(f"{doc.where(p)}: a rule needs id, when and score")
        if not isinstance(raw["score"], (int, float)) or isinstance(raw["score"], bool):
            raise PolicyError(f"{doc.where(p + ('score',))}: score must be a number")
        rid = str(raw["id"])
        if rid in rules and rules[rid].where.split(":")[0] == str(path):
            raise PolicyError(f"{doc.where(p + ('id',))}: duplicate rule id {rid!r}")
        rules[rid] = Rule(id=rid, when=_condition(doc, p + ("when",), raw["when"]),
                          score=float(raw["score"]), reason=str(raw.get("reason", rid)),
                          description=str(raw.get("description", "")), where=doc.where(p))


def load_policies(paths: Iterable[str]) -> PolicySet:
    """Load `*.yml` files from each path in order; later files override rules by id."""
    rules: dict[str, Rule] = {}
    thresholds = dict(DEFAULT_THRESHOLDS)
    sources = []
    for entry in paths:
        p = Path(entry)
        if not p.exists():
            raise PolicyError(f"{p}: policy path does not exist; fix 'policies' in the config")
        files = sorted(p.glob("*.yml")) + sorted(p.glob("*.yaml")) if p.is_dir() else [p]
        for f in files:
            _load_file(f, rules, thresholds)
            sources.append(str(f))
    if not thresholds[Verdict.CAUTION] <= thresholds[Verdict.SUSPICIOUS] <= thresholds[Verdict.HIGH]:
        raise PolicyError("thresholds must satisfy caution <= suspicious <= high")
    return PolicySet(rules=tuple(rules.values()), thresholds=thresholds, sources=tuple(sources))

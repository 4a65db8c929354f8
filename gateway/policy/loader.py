"""Reading policy files in order and merging them, Rspamd `local.d` style.

Purpose: files load in the order the config's `policies:` paths give (a directory contributes its
`*.yml`/`*.yaml` sorted by name, then those of its `local.d/`). A later file replaces a rule with
the same id (`when` present), patches it (only `score`, `reason`, `description` or `enabled`
given), or disables it (`{id: X, enabled: false}`); a phrase list, group or threshold with the same
name is replaced (`extend:` appends to a phrase list); allow entries accumulate; `actions` merge
key by key. A duplicate id within one file is an error. Every problem is collected with its
`file:line` so lint can print them all.

Untrusted input: admin-written YAML and phrase files (bounded in size by `gateway.yamlmarks`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.policy.text import phrase_words
from gateway.problems import Problems, key_fix
from gateway.yamlmarks import FileError, Located, YamlError, load_located, loads_located, read_bounded

TOP_KEYS = ("thresholds", "rules", "phrases", "groups", "allow", "actions", "composites")
RULE_KEYS = ("id", "description", "when", "score", "reason", "enabled")
PATCH_KEYS = ("score", "reason", "description", "enabled")
MAX_PHRASE_FILE = 1024 * 1024
VERDICT_WORDS = ("caution", "suspicious", "high")


@dataclass
class Origin:
    """A value and the document position it came from."""

    value: Any
    doc: Located
    path: tuple[Any, ...]

    @property
    def where(self) -> str:
        return self.doc.where(self.path)


@dataclass
class Merged:
    """Everything read from the files, merged, not yet compiled."""

    thresholds: dict[str, Origin] = field(default_factory=dict)
    rules: dict[str, dict[str, Origin]] = field(default_factory=dict)
    disabled: dict[str, str] = field(default_factory=dict)  # id -> where disabled
    phrases: dict[str, tuple[list[str], str]] = field(default_factory=dict)
    # phrase lists whose definition had an error (reported there): a rule using one is not also
    # "unknown phrase list" (admin21: an unreadable phrase file gave both errors)
    broken_phrases: set[str] = field(default_factory=set)
    groups: dict[str, Origin] = field(default_factory=dict)
    composites: dict[str, Origin] = field(default_factory=dict)  # name -> condition (later files replace)
    allow: list[Origin] = field(default_factory=list)
    actions: dict[str, Any] = field(default_factory=dict)
    action_lines: dict[tuple[Any, ...], str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


def policy_files(paths: Iterable[str], problems: Problems, extra: Iterable[Path] = ()) -> list[Path]:
    """The files in load order. `extra` are files that need not exist yet (an edit in the console):
    each joins its folder's sorted place when that folder is read."""
    more = list(extra)
    out: list[Path] = []
    for entry in paths:
        p = Path(entry)
        if not p.exists():
            problems.add(str(p), "policy path does not exist", "fix 'policies' in the config")
        elif p.is_dir():
            for d in (p, p / "local.d"):
                try:  # the config checks it at start; on a reload it may have changed since
                    found = {f for f in d.iterdir() if f.suffix in (".yml", ".yaml") and f.is_file()} \
                        if d.is_dir() else set()
                except OSError as exc:
                    problems.add(str(d), f"policy folder cannot be listed ({exc.strerror or exc})",
                                 "fix its permissions")
                    continue
                found |= {f for f in more if f.parent == d and f.suffix in (".yml", ".yaml")}
                out += sorted(found)
        else:
            out.append(p)
    return out


def read_all(paths: Iterable[str], problems: Problems, texts: Mapping[Path, str] | None = None) -> Merged:
    """Read and merge the files in order. `texts` maps a file path to the text to read instead of
    the file (the console lints and tries an edit before saving it); errors name that path."""
    merged = Merged()
    texts = texts or {}
    for f in policy_files(paths, problems, texts):
        try:
            doc = loads_located(texts[f], str(f)) if f in texts else load_located(f)
        except YamlError as exc:
            problems.errors.append(str(exc))  # names file:line, the problem and the fix
            continue
        merged.sources.append(str(f))
        _read_file(doc, merged, problems)
    return merged


def _mapping(doc: Located, path: tuple[Any, ...], value: Any, problems: Problems,
             fix: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(doc.where(path), f"expected a mapping, got {type(value).__name__}", fix)
        return {}
    return value


def _read_file(doc: Located, merged: Merged, problems: Problems) -> None:
    top = doc.value
    if top is None:
        return
    if not isinstance(top, dict):
        problems.add(doc.where(()), "a policy file must be a mapping",
                     f"use top-level keys {', '.join(TOP_KEYS)}")
        return
    for key in top:
        if key not in TOP_KEYS:
            problems.add(doc.where((key,)), f"unknown top-level key {key!r}", key_fix(key, TOP_KEYS, "use one of"))
    for name, value in _mapping(doc, ("thresholds",), top.get("thresholds"), problems,
                                "write thresholds: {caution: 3, suspicious: 6, high: 10}").items():
        if _threshold_ok(doc, ("thresholds", name), name, value, problems):
            merged.thresholds[name] = Origin(float(value), doc, ("thresholds", name))
    for name, value in _mapping(doc, ("phrases",), top.get("phrases"), problems,
                                "write phrases: {NAME: [phrase, ...]}").items():
        _read_phrases(doc, str(name), value, merged, problems)
    for name, value in _mapping(doc, ("groups",), top.get("groups"), problems,
                                "write groups: {NAME: {addresses: [...], domains: [...]}}").items():
        merged.groups[str(name)] = Origin(value, doc, ("groups", name))
    for name, value in _mapping(doc, ("composites",), top.get("composites"), problems,
                                "write composites: {NAME: CONDITION}").items():
        merged.composites[str(name)] = Origin(value, doc, ("composites", name))
    allow = top.get("allow") or []
    if not isinstance(allow, list):
        problems.add(doc.where(("allow",)), "allow must be a list",
                     "write allow: [{domain: partner.example, reason: ...}]")
        allow = []
    merged.allow += [Origin(v, doc, ("allow", i)) for i, v in enumerate(allow)]
    actions = _mapping(doc, ("actions",), top.get("actions"), problems,
                       "write actions: {VERDICT: {...}}")
    _merge_actions(merged.actions, actions, doc, ("actions",), merged.action_lines)
    rules = top.get("rules") or []
    if not isinstance(rules, list):
        problems.add(doc.where(("rules",)), "rules must be a list", "write rules: [- id: ...]")
        rules = []
    seen: set[str] = set()
    for i, raw in enumerate(rules):
        _read_rule(doc, ("rules", i), raw, seen, merged, problems)


def _threshold_ok(doc: Located, path: tuple[Any, ...], name: Any, value: Any,
                  problems: Problems) -> bool:
    if name not in VERDICT_WORDS:
        problems.add(doc.where(path), f"unknown threshold {name!r}",
                     "use caution, suspicious or high")
        return False
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.add(doc.where(path), f"threshold {name} must be a number, got {value!r}",
                     f"write {name}: 6")
        return False
    return True


def _read_phrases(doc: Located, name: str, value: Any, merged: Merged, problems: Problems) -> None:
    path = ("phrases", name)
    where = doc.where(path)
    fix = "write NAME: [phrase, ...], NAME: {file: lists/NAME.txt} or NAME: {extend: [...]}"
    extend = False
    if isinstance(value, dict):
        extra = set(value) - {"file", "extend"}
        if extra or len(value) != 1:
            problems.add(where, f"a phrase list takes one of file or extend, got {sorted(value)}",
                         fix)
            merged.broken_phrases.add(name)
            return
        if "file" in value:
            value = _phrase_file(doc, path, value["file"], problems)
            if value is None:
                merged.broken_phrases.add(name)
                return
        else:
            extend, value = True, value["extend"]
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        problems.add(where, f"phrase list {name!r} must be a list of text", fix)
        merged.broken_phrases.add(name)
        return
    phrases = [str(v) for v in value]
    for i, p in enumerate(phrases):
        if not phrase_words(p):
            problems.add(doc.where(path + (i,)), f"phrase {p!r} has no letters or digits",
                         "remove it or write words")
    if extend:
        if name not in merged.phrases:
            problems.add(where, f"extend of unknown phrase list {name!r}",
                         "define the list first (a file loaded earlier) or write a plain list")
            merged.broken_phrases.add(name)
            return
        phrases = merged.phrases[name][0] + phrases
    merged.phrases[name] = (phrases, where)
    merged.broken_phrases.discard(name)  # a later file defined it again, and well


def _phrase_file(doc: Located, path: tuple[Any, ...], rel: Any, problems: Problems) -> list[str] | None:
    target = Path(doc.file).parent / str(rel)
    try:  # regular files only, bounded (gateway.yamlmarks.read_bounded)
        data = read_bounded(target, MAX_PHRASE_FILE, "phrase file")
    except FileError as exc:  # its own problem, one fix (admin21: the fix was written twice)
        problems.add(doc.where(path + ("file",)), f"phrase file {target}: {exc.problem}",
                     f"{exc.fix} (the path is relative to this policy file)")
        return None
    try:  # strict, as the YAML files are (admin21: a Latin-1 'café' became 'caf\ufffd' and never matched)
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.add(doc.where(path + ("file",)), f"phrase file {target}:{line}: not UTF-8 (byte "
                     f"0x{data[exc.start]:02x})", "save the file as UTF-8")
        return None
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _merge_actions(into: dict[str, Any], new: dict[Any, Any], doc: Located,
                   path: tuple[Any, ...], lines: dict[tuple[Any, ...], str]) -> None:
    for key, value in new.items():
        sub = path + (key,)
        lines[sub[1:]] = doc.where(sub)
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge_actions(into[key], value, doc, sub, lines)
        else:
            into[key] = value
            if isinstance(value, dict):
                _record_lines(value, doc, sub, lines)


def _record_lines(value: dict[Any, Any], doc: Located, path: tuple[Any, ...],
                  lines: dict[tuple[Any, ...], str]) -> None:
    for key, sub in value.items():
        lines[path[1:] + (key,)] = doc.where(path + (key,))
        if isinstance(sub, dict):
            _record_lines(sub, doc, path + (key,), lines)


def _read_rule(doc: Located, path: tuple[Any, ...], raw: Any, seen: set[str], merged: Merged,
               problems: Problems) -> None:
    if not isinstance(raw, dict) or "id" not in raw:
        problems.add(doc.where(path), "a rule must be a mapping with an id",
                     "write - id: my-rule, when: ..., score: 2, reason: ...")
        return
    rid = str(raw["id"])
    if not isinstance(raw["id"], str):
        problems.add(doc.where(path + ("id",)), f"rule id must be text, YAML read {raw['id']!r}",
                     "quote it: id: \"off\"")
        return
    if rid in seen:
        problems.add(doc.where(path + ("id",)), f"duplicate rule id {rid!r} in this file",
                     "rename one, or override it from a later file")
        return
    seen.add(rid)
    for key in raw:
        if key not in RULE_KEYS:
            problems.add(doc.where(path + (key,)), f"unknown rule key {key!r}", key_fix(key, RULE_KEYS, "use one of"))
    origins = {str(k): Origin(v, doc, path + (k,)) for k, v in raw.items()}
    if "when" in raw:  # a whole rule: new, or replacing an earlier one with this id
        merged.rules[rid] = origins
        merged.disabled.pop(rid, None)
        if raw.get("enabled") is False:
            merged.disabled[rid] = doc.where(path)
        return
    if rid not in merged.rules:
        problems.add(doc.where(path), f"rule {rid!r} has no when, and no earlier file defines it",
                     "add when: ..., or load the file defining it first")
        return
    merged.rules[rid].update({k: o for k, o in origins.items() if k in PATCH_KEYS})
    if raw.get("enabled") is False:
        merged.disabled[rid] = doc.where(path)
    elif raw.get("enabled") is True:
        merged.disabled.pop(rid, None)

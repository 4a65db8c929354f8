"""YAML loading that remembers where every value came from.

Purpose: config and policy errors must name the file and the line (STYLE.md rule 9). PyYAML's
`safe_load` forgets positions, so we compose the node tree and build plain Python values while
recording `(file, line)` for each mapping key path.

Untrusted input: admin-written YAML files. Only the safe loader's tag set is accepted; anchors
and aliases are allowed but a document larger than `MAX_YAML_BYTES` is refused before parsing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.errors import AdminInputError

MAX_YAML_BYTES = 4 * 1024 * 1024


class YamlError(AdminInputError):
    """A YAML file that cannot be read or parsed; the message names file and line."""


@dataclass
class Located:
    """A loaded document plus a map from key path (tuple) to 1-based line numbers."""

    value: Any
    file: str
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def line(self, path: tuple[Any, ...]) -> int:
        """The line of the deepest known prefix of `path` (1 when unknown)."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return 1

    def where(self, path: tuple[Any, ...]) -> str:
        return f"{self.file}:{self.line(path)}"


def load_located(path: str | Path) -> Located:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise YamlError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_YAML_BYTES:
        raise YamlError(f"{p}:1: file is larger than {MAX_YAML_BYTES} bytes")
    return loads_located(data.decode("utf-8", errors="replace"), str(p))


def loads_located(text: str, name: str = "<string>") -> Located:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        context, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and cmark is not None:
            problem += f" ({context} started at line {cmark.line + 1})"
        raise YamlError(f"{name}:{line}: YAML syntax error: {problem}") from exc
    located = Located(value=None, file=name)
    if node is None:
        return located
    try:
        located.value = _build(node, (), located.lines)
    except yaml.YAMLError as exc:
        raise YamlError(f"{name}: {exc}") from exc
    return located


def _build(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(  # noqa: S506 - SafeLoader only builds plain scalars
                ""
            ).construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                raise yaml.YAMLError(f"line {key_node.start_mark.line + 1}: unhashable key")
            lines[path + (key,)] = key_node.start_mark.line + 1
            if key in out:
                raise yaml.YAMLError(
                    f"line {key_node.start_mark.line + 1}: duplicate key {key!r}"
                )
            out[key] = _build(value_node, path + (key,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), lines) for i, item in enumerate(node.value)]
    return yaml.SafeLoader("").construct_object(node, deep=True)  # noqa: S506

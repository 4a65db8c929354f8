"""YAML loading that remembers where every value came from -- bounded, in one place.

Purpose: config and policy errors must name the file and the line (STYLE.md rule 9). PyYAML's
`safe_load` forgets positions, so we compose the node tree and build plain Python values while
recording `(file, line)` for each mapping key path. Every YAML file the gateway reads goes
through `load_located` (config, policies and `local.d`, indicators, organisations, policy test
cases and labels), and every other admin-named file through `read_bounded` (phrase lists,
domain lists, staff names).

Untrusted input: admin-written YAML files -- and whatever lands in `policies/local.d/`. Only the
safe loader's tag set is accepted. Limits, each refused with `file:line: problem; fix`:

* `read_bounded`: regular files only (a FIFO, device or directory is refused: `/dev/zero` gave a
  MemoryError, a FIFO blocked the reload), opened without blocking, at most `limit` bytes read;
* `MAX_YAML_BYTES` (4 MiB) per YAML file, checked before parsing;
* `MAX_ALIASES` (10,000) aliases per document;
* `MAX_DEPTH` (64) levels of nesting, while composing and while building (aliases included);
* `MAX_NODES` (250,000) values built, aliases expanded: a "billion laughs" document is
  refused after the limit instead of growing the process without bound (48 MB -> 1.5 GB);
* a recursive alias (`&a [*a]`) is refused (it was a RecursionError traceback); mapping keys
  must be scalars (an aliased mapping as a key was expanded before being rejected).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.errors import AdminInputError

MAX_YAML_BYTES = 4 * 1024 * 1024
MAX_ALIASES = 10_000
MAX_DEPTH = 64
MAX_NODES = 250_000


class YamlError(AdminInputError):
    """A YAML file that cannot be read or parsed; the message names file and line."""


class FileError(YamlError):
    """A file that is not a regular file, is larger than its limit or cannot be read. `problem`
    and `fix` are the message's two halves, for a caller that names the file its own way (a
    policy's phrase file: one fix, not two)."""

    def __init__(self, path: Path, line: int | None, problem: str, fix: str) -> None:
        super().__init__(f"{path}:{line}: {problem}; {fix}" if line is not None else f"{path}: {problem}; {fix}")
        self.problem, self.fix = problem, fix


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


class _Limit(yaml.YAMLError):
    """A document over one of the limits; `line` is 1-based."""

    def __init__(self, line: int, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.line, self.problem, self.fix = line, problem, fix


def read_bounded(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes; `FileError` (`file:1: problem;
    fix`) for anything else. Opened non-blocking (a FIFO never blocks us) and checked with
    fstat on the open descriptor (no race with a swapped path)."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise FileError(p, 1, f"is a directory, not a {what}", "name a regular file") from exc
        raise FileError(p, None, f"cannot read: {exc.strerror or exc}", "fix the path or its permissions") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                    else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise FileError(p, 1, f"is {kind}, not a regular {what}", "name a regular file")
        if st.st_size > limit:
            raise FileError(p, 1, f"{what} is larger than {limit} bytes", "split it or remove what is not needed")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise FileError(p, None, f"cannot read: {exc.strerror or exc}", "fix the path or its permissions") from exc
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:  # grew while we read it
        raise FileError(p, 1, f"{what} is larger than {limit} bytes", "split it or remove what is not needed")
    return data


def read_text_bounded(path: str | Path, limit: int, what: str = "file") -> str:
    """`read_bounded` decoded as UTF-8 (invalid bytes replaced)."""
    return read_bounded(path, limit, what).decode("utf-8", errors="replace")


def load_located(path: str | Path) -> Located:
    """A YAML file (config, policy, labels) read as UTF-8: a file saved in another encoding is an
    error at its line (admin21: a Latin-1 policy loaded with its 'é' replaced, so its phrase never
    matched, while data files in the same state were refused)."""
    p = Path(path)
    data = read_bounded(p, MAX_YAML_BYTES, "YAML file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileError(p, line, f"not UTF-8 (byte 0x{data[exc.start]:02x})", "save the file as UTF-8") from None
    return loads_located(text, str(p))


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer counts aliases and nesting (PyYAML's composer recurses)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases = 0
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _Limit(self.peek_event().start_mark.line + 1,  # type: ignore[no-untyped-call]  # PyYAML's parser is unannotated
                             f"more than {MAX_ALIASES} aliases", "write the values out or split the file")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Limit(self.peek_event().start_mark.line + 1, f"nested deeper than {MAX_DEPTH} levels",  # type: ignore[no-untyped-call]  # PyYAML's parser is unannotated
                             "flatten the structure")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def loads_located(text: str, name: str = "<string>") -> Located:
    if len(text) > MAX_YAML_BYTES:
        raise YamlError(f"{name}:1: YAML text is larger than {MAX_YAML_BYTES} bytes; split it")
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
    except _Limit as exc:
        raise YamlError(f"{name}:{exc.line}: {exc.problem}; {exc.fix}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        context, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and cmark is not None:
            problem += f" ({context} started at line {cmark.line + 1})"
        raise YamlError(f"{name}:{line}: YAML syntax error: {problem}; fix the YAML syntax") from exc
    except RecursionError:
        raise YamlError(f"{name}:1: nested too deeply to parse; flatten the structure") from None
    finally:
        loader.dispose()
    located = Located(value=None, file=name)
    if node is None:
        return located
    builder = _Builder(located.lines)
    try:
        located.value = builder.build(node, ())
    except _Limit as exc:
        raise YamlError(f"{name}:{exc.line}: {exc.problem}; {exc.fix}") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"{name}: {exc}") from exc
    return located


class _Builder:
    """Plain values from the node graph, counting every value built (aliases expanded) and
    refusing cycles, so the cost is bounded by MAX_NODES whatever the aliases multiply."""

    def __init__(self, lines: dict[tuple[Any, ...], int]) -> None:
        self.lines = lines
        self.count = 0
        self.path_nodes: set[int] = set()
        self.scalars = yaml.SafeLoader("")  # one constructor for every scalar

    def build(self, node: yaml.Node, path: tuple[Any, ...]) -> Any:
        line = node.start_mark.line + 1
        self.count += 1
        if self.count > MAX_NODES:  # named at the top-level entry being built
            raise _Limit(self.lines.get(path[:1], line),
                         f"aliases expand to more than {MAX_NODES} values (an alias bomb?)",
                         "write the values out without anchors and aliases, or split the file")
        if len(path) > MAX_DEPTH:
            raise _Limit(line, f"aliases nest deeper than {MAX_DEPTH} levels", "flatten the structure")
        self.lines.setdefault(path, line)
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            return self.scalars.construct_object(node, deep=True)  # safe constructor
        if id(node) in self.path_nodes:
            raise _Limit(line, "recursive alias (a value that contains itself)", "remove the alias loop")
        self.path_nodes.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                kline = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _Limit(kline, "unhashable key (a list or a mapping)", "write a plain text key")
                key = self.scalars.construct_object(key_node, deep=True)
                if key in out:  # file:line: problem; fix, as every other error (admin21: "file: line 11: ...")
                    raise _Limit(kline, f"duplicate key {key!r} (first at line {self.lines.get(path + (key,), '?')})",
                                 "write each key once")
                self.lines[path + (key,)] = kline
                out[key] = self.build(value_node, path + (key,))
            return out
        finally:
            self.path_nodes.discard(id(node))

"""The lint configuration's promises that ruff cannot check by itself."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_asserts_in_the_gateway_only_narrow_types() -> None:
    """S101 is off because every assert in gateway/ is `x is not None` or `isinstance(...)`:
    under `python -O` they vanish and the next line fails the same way. An assert that decides
    something (a limit, a permission) must be an `if ...: raise` instead."""
    bad = []
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Assert):
                continue
            t = node.test
            narrowing = (isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.IsNot)
                         and isinstance(t.comparators[0], ast.Constant) and t.comparators[0].value is None) or \
                        (isinstance(t, ast.Call) and isinstance(t.func, ast.Name) and t.func.id == "isinstance")
            if not narrowing:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(t)}")
    assert not bad, "asserts that decide something:\n" + "\n".join(bad)


def _module_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The gateway modules `name` imports at module level (not under TYPE_CHECKING, not inside
    functions: those run later and cannot make an import cycle)."""
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            out |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return {m for m in out if m in known and m != name}


def test_import_graph_has_no_cycles() -> None:
    """Issue 10: the imports flow one way (receive -> parse -> checks -> policy -> act -> relay)."""
    paths = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (ROOT / "gateway").rglob("*.py")}
    graph = {m: _module_imports(p, m, set(paths)) for m, p in paths.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[str] = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for dep in sorted(graph[m]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]) if dep in path else dep)
            elif dep not in state:
                visit(dep, path + [dep])
        state[m] = 2
    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles
    assert "gateway.act.seal" in graph and not any(m.startswith("gateway.smtp") for m in graph["gateway.act.seal"])

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


def _imported(node: ast.Import | ast.ImportFrom, pkg: str) -> set[str]:
    """The dotted names one import statement may bring in (`from a import b`: a, and a.b)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names}
    base = node.module or ""
    if node.level:
        parts = pkg.split(".")
        base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
    return {base} | {f"{base}.{a.name}" for a in node.names}


def _module_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The gateway modules `name` imports at module level (not under TYPE_CHECKING, not inside
    functions: those run later and cannot make an import cycle)."""
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = _imported(node, pkg)
            if isinstance(node, ast.ImportFrom):  # `from pkg import module` imports the module, else pkg
                base = min(names, key=len)
                names = {n if n in known else base for n in names - {base}}
            out |= names
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


def _every_import(path: Path, name: str, known: set[str]) -> set[str]:
    """The gateway modules `name` imports anywhere -- inside functions too (a late import dodges an
    import cycle, not a layer) -- except under `if TYPE_CHECKING:` (annotations only)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) not in skipped and isinstance(node, ast.Import | ast.ImportFrom):
            out |= _imported(node, pkg)
    return {m for m in out if m in known and m != name}


# What each layer must never import: the path is receive -> parse -> checks -> policy -> act ->
# relay, and the executor (act/execute.py) drives the upstream through a protocol, not smtp/.
_BELOW_CHECKS = ("gateway.model", "gateway.errors", "gateway.parse", "gateway.mimewalk", "gateway.authres",
                 "gateway.charsets", "gateway.folding", "gateway.rfc2047", "gateway.mailboxes", "gateway.html_text",
                 "gateway.textsafe")
_LATER = ("gateway.checks", "gateway.policy", "gateway.act", "gateway.runtime", "gateway.store", "gateway.smtp",
          "gateway.admin", "gateway.cli")
LAYERS: dict[str, tuple[str, ...]] = {
    **{m: _LATER for m in _BELOW_CHECKS},
    "gateway.checks": ("gateway.policy", "gateway.act", "gateway.runtime", "gateway.smtp", "gateway.admin",
                       "gateway.cli"),
    "gateway.act": ("gateway.runtime", "gateway.smtp", "gateway.admin", "gateway.cli"),
}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_layers_import_only_what_comes_before_them() -> None:
    """Issue 10: sealing and RFC 8601 parsing sit below the checks and the actions that use them
    (act/seal.py, gateway/authres.py), the MIME walker below parse (gateway/mimewalk.py), and the
    delivery executor in act/ never imports smtp/ (it drives an `Upstream` protocol)."""
    paths = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (ROOT / "gateway").rglob("*.py")}
    bad = []
    for module, path in sorted(paths.items()):
        forbidden = next((f for layer, f in LAYERS.items() if _within(module, layer)), ())
        for dep in sorted(_every_import(path, module, set(paths))):
            if any(_within(dep, f) for f in forbidden):
                bad.append(f"{module} imports {dep}")
    assert not bad, bad
    assert "gateway.act.execute" in paths

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

"""Locate the shared corpora (`../shared/corpora` from the repo root, or from any ancestor of it,
so git worktrees find them too; APPROACH_CORPORA overrides)."""

from __future__ import annotations

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]


def corpora_dir() -> Path | None:
    env = os.environ.get("APPROACH_CORPORA")
    if env:
        return Path(env)
    for base in (_ROOT, *_ROOT.parents):
        cand = base / "shared" / "corpora"
        if cand.is_dir():
            return cand
    return None


def corpus_path(relative: str) -> Path | None:
    """`corpus_path("vectors/spf/rfc7208-tests.yml")`, or None when the corpora are absent."""
    base = corpora_dir()
    if base is None or not (base / relative).exists():
        return None
    return base / relative

from __future__ import annotations

import re

import pytest

from gateway.domains import aligned, org_domain
from tests.support.corpora import corpus_path

PSL_TESTS = corpus_path("vectors/psl/test_psl.txt")
_LINE = re.compile(r"checkPublicSuffix\((null|'[^']*'),\s*(null|'[^']*')\);")


def _cases() -> list[tuple[str | None, str | None]]:
    if PSL_TESTS is None:
        return []
    out = []
    for line in PSL_TESTS.read_text(encoding="utf-8").splitlines():
        m = _LINE.match(line.strip())  # lines starting with // are disabled upstream
        if m:
            name, want = (None if g == "null" else g[1:-1] for g in m.groups())
            out.append((name, want))
    return out


CASES = _cases()


@pytest.mark.skipif(not CASES, reason="corpus ../shared/corpora not present")
def test_public_suffix_list_reference_checks():
    failures = [(name, want, org_domain(name)) for name, want in CASES if org_domain(name) != want]
    print(f"\nPSL checks: {len(CASES) - len(failures)}/{len(CASES)} passed")
    assert not failures


def test_alignment_modes():
    assert aligned("mail.example.co.uk", "example.co.uk", "r")
    assert not aligned("mail.example.co.uk", "example.co.uk", "s")
    assert aligned("Example.COM.", "example.com", "s")
    assert not aligned("example.co.uk", "other.co.uk", "r")
    assert not aligned("co.uk", "co.uk", "r")  # a public suffix has no organisational domain

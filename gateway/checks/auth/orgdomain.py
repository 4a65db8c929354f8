"""Organisational domain (RFC 7489 section 3.2) from the Public Suffix List, offline.

Purpose: DMARC policy discovery and relaxed alignment need "the registrable part" of a name.
The list comes packaged with the PyPI package `publicsuffixlist` (a well-kept package whose
releases track the upstream list, typed, pure Python, no network at run time); we use its full
list, ICANN and private sections, as OpenDMARC does. This module is its one typed adapter.

Untrusted input: domain names from a stranger's From header and envelope.
"""

from __future__ import annotations

from functools import lru_cache

from publicsuffixlist import PublicSuffixList


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def _clean(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().lower().rstrip(".")
    if not name or name.startswith(".") or ".." in name or len(name) > 253:
        return None
    return name


@lru_cache(maxsize=4096)
def org_domain(name: str | None) -> str | None:
    """The registrable domain of `name` (public suffix plus one label), or None when `name` is
    itself a public suffix or malformed. Unlisted TLDs follow the default rule `*`."""
    clean = _clean(name)
    if clean is None:
        return None
    result = _psl().privatesuffix(clean)
    return str(result) if result else None


def public_suffix(name: str) -> str | None:
    clean = _clean(name)
    if clean is None:
        return None
    result = _psl().publicsuffix(clean)
    return str(result) if result else None


def aligned(a: str, b: str, mode: str = "r") -> bool:
    """DMARC identifier alignment: strict ("s") means equal names; relaxed ("r") means the same
    organisational domain."""
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    if not a or not b:
        return False
    if mode == "s":
        return a == b
    oa = org_domain(a)
    return oa is not None and oa == org_domain(b)

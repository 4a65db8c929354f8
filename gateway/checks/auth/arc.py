"""ARC (RFC 8617): verify the chain of custody (sealing is an action: gateway/act/seal.py).

Purpose: `verify_arc` runs dkimpy's ARC verifier in a worker thread with keys prefetched through
the shared resolver (as DKIM does) and reports arc=pass/fail/none with the oldest-pass instance.

Standing: RFC 8617 is Experimental, but Google, Microsoft and Yahoo/AOL seal and evaluate ARC
(see docs/authentication.md). A chain proves custody, not honesty: we report it and let
policies decide; nothing here makes a failing DMARC result pass.

Untrusted input: the ARC header fields and message (a stranger's, and every hop's before us)
and the key records in DNS.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.authres import parse_authres
from gateway.checks.auth import engine
from gateway.checks.auth.engine import dkim, signed_fields, tag_text
from gateway.checks.auth.keys import AuthPools, KeyFetcher, header_fields, key_name, off_loop, tags

MAX_INSTANCES = 50  # RFC 8617 section 4.2.1
_ARC_FIELDS = (b"arc-seal", b"arc-message-signature", b"arc-authentication-results")
_quiet = logging.getLogger("gateway.auth.dkimpy")


@dataclass(frozen=True)
class ArcResult:
    result: str  # pass, fail or none (RFC 8617 section 4.4 values)
    instances: int = 0
    oldest_pass: int | None = None  # lowest instance whose AMS still validates (0: all do)
    sealers: tuple[str, ...] = ()  # ARC-Seal d= per instance, i=1 first
    reason: str = ""
    temporary: bool = False  # a key lookup failed temporarily: the fail may not be real
    vouched: tuple[int, str] | None = None  # (instance, sealer): a trusted sealer recorded a DMARC pass (`vouch`)
    sets: tuple[tuple[int, str, str], ...] = ()  # a pass's sets as dkimpy verified them (`_sets_verified`)


_INSTANCE = re.compile(rb"(?:^|;)\s*i\s*=\s*([0-9]{1,6})\s*(?:;|$)")
# dkimpy's reading (`ARC.INSTANCE_RE`, searched in each field): the first "i=" followed by digits anywhere, so
# "zz=i=0; i=2" is instance 0 to it and 2 to `_INSTANCE` (review34 #1)
_DKIMPY_INSTANCE = re.compile(rb"[\s;]?i\s*=\s*(\d+)", re.IGNORECASE)


def _instance(value: bytes) -> int | None:
    m = _INSTANCE.search(value)
    return int(m.group(1)) if m else None


def _agreed(value: bytes) -> int | None:
    """The field's instance when dkimpy reads the same one (None when either reads none or they differ)."""
    ours, theirs = _instance(value), _DKIMPY_INSTANCE.search(value)
    return ours if ours is not None and theirs is not None and int(theirs.group(1)[:7]) == ours else None


MAX_AAR = 4000  # characters of one ARC-Authentication-Results value `vouch` reads (a longer one vouches for nothing)
MAX_AAR_TOTAL = 16000  # and of all those one message's walk reads
ArcSets = tuple[tuple[int, str, str], ...]  # (instance, sealer, ARC-Authentication-Results value), newest first


def sets_from_fields(fields: Iterable[tuple[bytes, bytes]]) -> ArcSets:
    """The ARC sets of header fields (name, value) as `vouch` reads them, for a chain another verifier passed (a
    trusted border's `arc=pass`); () unless every seal and results field has an instance both readers agree on
    (`_agreed`) and there is one of each per instance 1..N, N at most MAX_INSTANCES."""
    seals: dict[int, list[bytes]] = {}
    results: dict[int, list[bytes]] = {}
    count = 0
    for name, value in fields:
        low = bytes(name).lower()
        if low in (b"arc-seal", b"arc-authentication-results"):
            i, count = _agreed(bytes(value)), count + 1
            if i is None or not 0 < i <= MAX_INSTANCES or count > 2 * MAX_INSTANCES:
                return ()
            (seals if low == b"arc-seal" else results).setdefault(i, []).append(bytes(value))
    top = len(seals)
    if count != 2 * top or any(len(seals.get(i, ())) != 1 or len(results.get(i, ())) != 1
                               for i in range(1, top + 1)):
        return ()
    return tuple((i, tag_text((tags(seals[i][0]) or {}).get(b"d")),
                  results[i][0].decode("utf-8", "replace")[:MAX_AAR + 1]) for i in range(top, 0, -1))


def _sets_verified(data: list[dict[str, Any]]) -> ArcSets:
    """The sets as dkimpy verified them (its result data, newest first): its instance numbers, sealers and results
    fields, so the sealer `vouch` trusts is the one whose seal was checked (review34 #1)."""
    out = []
    for item in data:
        aar = item.get("aar-value")
        out.append((int(item.get("instance", 0)), tag_text(item.get("as-domain")),
                    aar.decode("utf-8", "replace")[:MAX_AAR + 1] if isinstance(aar, bytes) else ""))
    return tuple(out)


def vouch(sets: ArcSets, trusted: Callable[[str], bool], from_domain: str) -> tuple[int, str] | None:
    """(instance, sealer) of the newest ARC set whose sealer is `trusted` and whose ARC-Authentication-Results
    record one DMARC result, a pass, for `from_domain`, walking down from the newest set while each sealer is
    trusted (a set an untrusted hop added after it could have changed what that record describes); None otherwise.

    For a chain that validated (ours, or a trusted border's `arc=pass`): a chain proves custody, not who is honest.
    Any domain can seal its own forged message, so a chain counts for a DMARC failure only when a sealer the
    administrator trusts (`trusted_arc_sealers`, as Microsoft 365's "trusted ARC sealers") says the message passed
    DMARC when it reached them (RFC 8617 section 7.2: the receiver decides which sealers to believe; review33c #1).
    A record with a second DMARC clause vouches for nothing: one result per method is what a sealer writes, and a
    second one is text someone else put there (review34 #2: a quoted MAIL FROM that a sealer's rewrite unquoted)."""
    want = from_domain.lower().rstrip(".")
    if not want:
        return None
    read = 0
    for i, sealer, aar in sets:
        sealer = sealer.lower().rstrip(".")
        read += len(aar)
        if not sealer or not trusted(sealer) or read > MAX_AAR_TOTAL:
            return None
        if len(aar) > MAX_AAR:  # read whole or not at all: a second DMARC clause past a cut was not seen (review34b #2)
            continue
        parsed = parse_authres(aar.partition(";")[2])  # after "i=N;"
        dmarc = [r for r in parsed.results if r.method == "dmarc"] if parsed is not None else []
        if len(dmarc) == 1 and dmarc[0].result == "pass" \
                and dmarc[0].props.get("header.from", "").lower().rstrip(".") == want:
            return i, sealer
    return None


def _oldest_pass(data: list[dict[str, Any]]) -> int:
    """`data` runs from the newest instance down. The oldest instance of the unbroken run of
    validating AMS headers; 0 when every AMS still validates (RFC 8617 section 5.2)."""
    oldest = 0
    for item in data:
        if not item.get("ams-valid"):
            break
        oldest = int(item["instance"])
    return 0 if oldest == 1 else oldest


def _run(raw: bytes, fetcher: KeyFetcher) -> tuple[Any, list[dict[str, Any]], str]:
    return engine.arc_verify(raw, _quiet, fetcher.dnsfunc)


async def verify_arc(raw: bytes, resolver: Any, *, timeout: float = 10.0,
                     pools: AuthPools | None = None, signed: Sequence[Sequence[bytes]] | None = None) -> ArcResult:
    """`signed`: `signed_fields(raw)` when the caller has it: the ARC sets read as dkimpy reads them (the sealers
    reported are those verified, review33 #1). No key is looked up unless the sets are one seal, one message
    signature and one results field for each instance 1..N (RFC 8617 section 5.2: anything else fails): 950 seals
    of instance 1 had bought 950 concurrent key lookups (attack33c #1)."""
    try:
        fields = signed_fields(raw) if signed is None else signed
    except dkim.MessageFormatError:
        if any(n.lower() in _ARC_FIELDS for n, _ in header_fields(raw)):
            return ArcResult("fail", reason="unparseable message")
        return ArcResult("none", reason="no ARC sets")
    arc_fields = [(bytes(n).lower(), bytes(v)) for n, v in fields if bytes(n).lower() in _ARC_FIELDS]
    if not arc_fields:
        return ArcResult("none", reason="no ARC sets")
    if any(_instance(v) is not None and _agreed(v) is None for _, v in arc_fields):
        # a field dkimpy numbers otherwise than the structure check and the sealers reported (review34 #1: dkimpy's
        # instance 0, covered by the attacker's own seal, read as a set of google.com)
        return ArcResult("fail", reason="an ARC field's i= is read two ways")
    instances = [i for _, v in arc_fields if (i := _instance(v)) is not None]
    top = max(instances, default=0)
    if top > MAX_INSTANCES:
        return ArcResult("fail", top, reason=f"more than {MAX_INSTANCES} ARC instances")
    if top == 0:
        return ArcResult("none", 0, reason="Message is not ARC signed")  # dkimpy's answer, without its lookups
    sets = {(n, _instance(v)) for n, v in arc_fields}
    if len(arc_fields) != 3 * top or sets != {(n, i) for n in _ARC_FIELDS for i in range(1, top + 1)}:
        return ArcResult("fail", top, reason="not one seal, signature and results per instance 1..N")
    seals = {i: t for n, v in arc_fields if n == b"arc-seal" and (t := tags(v)) and (i := _instance(v))}
    names = [key_name(t) for n, v in arc_fields if n != b"arc-authentication-results" and (t := tags(v))]
    fetcher = KeyFetcher(resolver, time.monotonic() + timeout)
    await fetcher.prefetch(n for n in names if n)
    cv, data, reason = await off_loop(_run, raw, fetcher, size=len(raw), pools=pools)
    sealers = tuple(tag_text(seals[i].get(b"d")).lower()
                    for i in sorted(seals))
    temporary = any(fetcher.outcome(n) == "temporary" for n in names if n)
    if cv == dkim.CV_Pass:
        return ArcResult("pass", top, _oldest_pass(data), sealers, "", sets=_sets_verified(data))
    if cv == dkim.CV_None and top == 0:
        return ArcResult("none", 0, reason=str(reason))
    return ArcResult("fail", top, None, sealers, str(reason)[:160], temporary)

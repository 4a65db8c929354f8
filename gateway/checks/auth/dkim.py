"""DKIM (RFC 6376, Ed25519 per RFC 8463): verify every signature, up to MAX_SIGNATURES.

Purpose: one result per DKIM-Signature (d, i, s, algorithm, key size), dkimpy as the engine.
Keys are fetched on the event loop through the shared resolver (`keys.KeyFetcher`); dkimpy's
RSA and body hashing run in a worker thread (`asyncio.to_thread`), so a 20 MB body never stalls
the loop. A key lookup that times out or SERVFAILs is `temperror`, never `fail`.

Signatures beyond MAX_SIGNATURES (10) are not verified and are reported as `skipped`: a message
with hundreds of signatures must not buy hundreds of DNS lookups and RSA operations.

Untrusted input: the raw message (signature headers, body) and the key records in DNS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.checks.auth.engine import FastDKIM, dkim, signed_fields, tag_text
from gateway.checks.auth.keys import AuthPools, KeyFetcher, header_fields, key_name, off_loop, tags

MAX_SIGNATURES = 10
MIN_RSA_BITS = 1024
log = logging.getLogger("gateway.auth")
_quiet = logging.getLogger("gateway.auth.dkimpy")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


@dataclass(frozen=True)
class DkimResult:
    """One signature's outcome: result is pass, fail, neutral, temperror or permerror."""

    result: str
    domain: str = ""
    identity: str = ""
    selector: str = ""
    algorithm: str = ""
    bits: int | None = None
    b: str = ""  # the first 12 characters of b= (RFC 6008 header.b), to tell signatures apart
    reason: str = ""


def _describe(sig: dict[bytes, bytes] | None) -> dict[str, Any]:
    if sig is None:
        return {}
    d = tag_text(sig.get(b"d"))
    return {"domain": d.lower(), "identity": tag_text(sig.get(b"i")) or f"@{d}",
            "selector": tag_text(sig.get(b"s")), "algorithm": tag_text(sig.get(b"a")).lower(),
            "b": tag_text(sig.get(b"b"))[:12]}


def _verify_one(signer: FastDKIM, idx: int, fetcher: KeyFetcher) -> tuple[str, str, int | None, bool]:
    """(result, reason, bits, final) for signature `idx`; runs in a worker thread. `final`: the signature was refused
    for what it says (its syntax, a name that is no domain, the body hash), not for its key, so that no answer about
    the key (missing, temporarily failed) changes the result."""
    signer.keysize = None
    try:
        ok = signer.verify(idx, dnsfunc=fetcher.dnsfunc)
    except dkim.ValidationError as exc:
        text = str(exc)
        if "body hash mismatch" in text:
            return "fail", "body hash mismatch", signer.keysize, True
        return "permerror", text[:120], signer.keysize, True
    except dkim.KeyFormatError as exc:
        return "permerror", str(exc)[:120], signer.keysize, False
    except dkim.DKIMException as exc:
        return "permerror", f"{type(exc).__name__}: {exc}"[:120], signer.keysize, True
    except Exception as exc:  # noqa: BLE001 - dkimpy raising outside its own exceptions on a bad
        # signature (IndexError for i= equal to d= without "@", ValueError for a t= or x= of 4,301
        # digits, attack33 #2): that signature is unusable, the others and DMARC still count
        log.info("DKIM: dkimpy raised %s on signature %d: %r", type(exc).__name__, idx, str(exc)[:200])
        return "permerror", f"{type(exc).__name__}: {exc}"[:120], signer.keysize, True
    if ok:
        return "pass", "", signer.keysize, True
    return "fail", "signature did not verify", signer.keysize, False


def _verify_all(raw: bytes, count: int, fetcher: KeyFetcher,
                names: list[str | None]) -> list[tuple[str, str, int | None]]:
    try:
        signer = FastDKIM(raw, logger=_quiet, minkey=MIN_RSA_BITS)
    except dkim.DKIMException as exc:
        return [("permerror", f"unparseable message: {exc}"[:120], None)] * count
    except Exception as exc:  # noqa: BLE001 - as in _verify_one
        log.info("DKIM: dkimpy raised %s reading the message: %r", type(exc).__name__, str(exc)[:200])
        return [("permerror", f"unparseable message: {type(exc).__name__}"[:120], None)] * count
    out = []
    for idx in range(count):
        result, reason, bits, final = _verify_one(signer, idx, fetcher)
        state = fetcher.outcome(names[idx])
        if not final and state == "temporary":
            result, reason = "temperror", "key lookup failed temporarily"
        elif not final and state == "missing" and names[idx] is not None:
            result, reason = "permerror", "no key for signature"
        out.append((result, reason, bits))
    return out


async def verify_dkim(raw: bytes, resolver: Any, *, timeout: float = 10.0,
                      max_signatures: int = MAX_SIGNATURES, pools: AuthPools | None = None,
                      signed: Sequence[Sequence[bytes]] | None = None) -> list[DkimResult]:
    """Verify every DKIM-Signature (top first, at most `max_signatures`); [] when unsigned.
    `signed`: `signed_fields(raw)` when the caller has it (the auth check reads it once for DKIM and ARC): the
    signatures are read as dkimpy reads them, so what is reported is what it verified."""
    try:
        fields = [v for n, v in (signed_fields(raw) if signed is None else signed) if n.lower() == b"dkim-signature"]
    except dkim.MessageFormatError as exc:  # dkimpy cannot read the header section: no signature verifies
        unread = [v for n, v in header_fields(raw) if n.lower() == b"dkim-signature"]
        return [DkimResult(result="permerror", reason=f"unparseable message: {exc}"[:120], **_describe(tags(v)))
                for v in unread[:max_signatures]]
    if not fields:
        return []
    sigs = [tags(v) for v in fields]
    count = min(len(sigs), max_signatures)
    names = [key_name(s) if s else None for s in sigs[:count]]
    fetcher = KeyFetcher(resolver, time.monotonic() + timeout)
    await fetcher.prefetch(n for n in names if n)
    outcomes = await off_loop(_verify_all, raw, count, fetcher, names, size=len(raw), pools=pools)
    results = [DkimResult(result=r, bits=bits, reason=reason, **_describe(sigs[i]))
               for i, (r, reason, bits) in enumerate(outcomes)]
    results += [DkimResult(result="neutral", reason="skipped: beyond the signature cap",
                           **_describe(s)) for s in sigs[count:]]
    return results

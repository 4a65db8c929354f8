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

from gateway.checks.auth.engine import FastDKIM, dkim
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


def _text(v: bytes | None) -> str:
    return (v or b"").decode("ascii", "replace")


def _describe(sig: dict[bytes, bytes] | None) -> dict[str, Any]:
    if sig is None:
        return {}
    d = _text(sig.get(b"d"))
    return {"domain": d.lower(), "identity": _text(sig.get(b"i")) or f"@{d}",
            "selector": _text(sig.get(b"s")), "algorithm": _text(sig.get(b"a")).lower(),
            "b": _text(sig.get(b"b"))[:12]}


def _verify_one(signer: FastDKIM, idx: int, fetcher: KeyFetcher) -> tuple[str, str, int | None]:
    """(result, reason, bits) for signature `idx`; runs in a worker thread."""
    signer.keysize = None
    try:
        ok = signer.verify(idx, dnsfunc=fetcher.dnsfunc)
    except dkim.ValidationError as exc:
        text = str(exc)
        if "body hash mismatch" in text:
            return "fail", "body hash mismatch", signer.keysize
        return "permerror", text[:120], signer.keysize
    except dkim.KeyFormatError as exc:
        return "permerror", str(exc)[:120], signer.keysize
    except dkim.DKIMException as exc:
        return "permerror", f"{type(exc).__name__}: {exc}"[:120], signer.keysize
    except Exception as exc:  # noqa: BLE001 - dkimpy raising outside its own exceptions on a bad
        # signature (IndexError for i= equal to d= without "@", ValueError for a t= or x= of 4,301
        # digits, attack33 #2): that signature is unusable, the others and DMARC still count
        log.info("DKIM: dkimpy raised %s on signature %d: %r", type(exc).__name__, idx, str(exc)[:200])
        return "permerror", f"{type(exc).__name__}: {exc}"[:120], signer.keysize
    if ok:
        return "pass", "", signer.keysize
    return "fail", "signature did not verify", signer.keysize


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
        result, reason, bits = _verify_one(signer, idx, fetcher)
        state = fetcher.outcome(names[idx])
        if result != "pass" and state == "temporary":
            result, reason = "temperror", "key lookup failed temporarily"
        elif result != "pass" and state == "missing" and names[idx] is not None \
                and "body hash" not in reason:
            result, reason = "permerror", "no key for signature"
        out.append((result, reason, bits))
    return out


async def verify_dkim(raw: bytes, resolver: Any, *, timeout: float = 10.0,
                      max_signatures: int = MAX_SIGNATURES, pools: AuthPools | None = None,
                      head: Sequence[tuple[bytes, bytes]] | None = None) -> list[DkimResult]:
    """Verify every DKIM-Signature (top first, at most `max_signatures`); [] when unsigned.
    `head`: `header_fields(raw)` when the caller has it (the auth check reads it once for DKIM
    and ARC)."""
    fields = [v for n, v in (header_fields(raw) if head is None else head) if n.lower() == b"dkim-signature"]
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

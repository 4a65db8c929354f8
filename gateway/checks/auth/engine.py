"""The one adapter over dkimpy (untyped): DKIM and ARC objects that go easy on the GIL.

Purpose: dkimpy does its work in a few big C calls (`re.split` of the whole message into
lines, `re.sub` over the whole body for relaxed canonicalisation) that hold the GIL for tens to
hundreds of milliseconds on a multi-megabyte body, stalling the event loop even though they run
in a worker thread. Here:
- `FastDKIM`/`FastARC` parse only the header section line by line and normalise the body's line
  endings with two `bytes.replace` calls (same result as dkimpy's `rfc822_parse`);
- the body hash of a signature being verified is checked here (`verify_sig_process`, overridden
  in the subclasses, then dkimpy's own runs for the header hash and the signature with the
  body already settled), with relaxed canonicalisation in slices cut at CRLF (whitespace runs
  never cross a line end, so the result is byte-identical), letting the interpreter switch
  threads between slices. dkimpy itself is not patched: `dkim.DKIM` used elsewhere is unchanged,
  but for one function: `dkim.select_headers` is replaced by `select_headers` here, which picks the
  same fields in one pass (dkimpy's scans every field for each name of h= it does not find: 6,000
  names and 900 fields cost 0.6 s, attack33b #3);
- signature fields with long runs of blanks are refused before dkimpy reads them (`screen_field`).
Everything else (tag parsing, header hashing, RSA, Ed25519, ARC chain logic) is dkimpy's own.
ARC *sealing* (`arc_sign`, our own outgoing message) still canonicalises with dkimpy's code.

Untrusted input: the raw message handed to dkimpy.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from typing import Any

import dkim
import dkim.canonicalization as _canon
from dkim.util import InvalidTagValueList, parse_tag_value

__all__ = ["FastARC", "FastDKIM", "InvalidTagValueList", "arc_sign", "dkim", "parse_tag_value", "plain_name",
           "relaxed_body", "signed_fields", "split_message", "tag_text"]

log = logging.getLogger("gateway.auth")
_EMPTY_LINE = re.compile(rb"\r?\n\r?\n")
SLICE = 65536
# The longest run of blanks and line breaks a signature field may hold for dkimpy to read it.
# dkimpy's check of b= (`[\s0-9A-Za-z+/]+[\s=]*$`), its split of h= (`\s*:\s*`) and its
# removal of b= for hashing (`RE_BTAG`, FWS inside a repeat) take time quadratic in such a run,
# in C holding the GIL, before any key is looked up (attack33 #1: b=A, 31 KB of folded blanks,
# "!": 4.5 s of a worker). Real signers fold with a line break and a tab or a few spaces.
# The longest in the corpora's 549 DKIM-Signature and 3 x 448 ARC fields is 11 (review33).
BLANK_RUN_LIMIT = 32
# tried at the start of each run only (the look-behind), so a run under the limit is read once
_LONG_BLANKS = re.compile(rb"(?<![ \t\r\n\f\v])[ \t\r\n\f\v]{%d}" % (BLANK_RUN_LIMIT + 1))
# d= and s= are domain names (RFC 6376 section 3.5: no FWS inside): a blank, a line break or a control byte in one
# is a signature whose key would be looked up under another name than the one it reads as (review33 #1)
_NOT_A_NAME = re.compile(rb"[\x00-\x20\x7f]")
_dkimpy_relaxed_body = _canon.Relaxed.canonicalize_body  # the reference (tests compare to it)
# Fields a message has at most once (RFC 5322 section 3.6's table and the MIME header fields, RFC 2045), From aside
# (dkimpy adds its own extra From): each one h= names is hashed once more in verifying (RFC 6376 section 8.15).
# Not MIME-Version: always "1.0", and a hop may add a second above a signed one (the ARC suite's chains do).
SINGLETONS = (b"date", b"sender", b"reply-to", b"to", b"cc", b"bcc", b"message-id", b"in-reply-to", b"references",
              b"subject", b"content-type", b"content-transfer-encoding")
_dkimpy_select_headers = dkim.select_headers  # the reference (tests compare to it)


def select_headers(headers: list[tuple[bytes, bytes]], include_headers: list[bytes]) -> list[tuple[bytes, bytes]]:
    """dkimpy's `select_headers` (RFC 6376 section 5.4.2: each name of h= takes the last field of that name not yet
    taken, from the bottom up), with each name's fields indexed once instead of every field scanned per name."""
    fields: dict[bytes, list[tuple[bytes, bytes]]] = {}
    for field in headers:
        fields.setdefault(field[0].lower(), []).append(field)
    taken = []
    for name in include_headers:
        left = fields.get(name)
        if left:
            taken.append(left.pop())
    return taken


dkim.select_headers = select_headers  # hash_headers (signing and verifying) reads it from dkimpy's module


def signed_fields(message: bytes) -> list[list[bytes]]:
    """The header fields as dkimpy reads them ([name, raw folded value], `split_message`'s), which FastDKIM and FastARC
    verify: the signatures and ARC sets are read from these, so that the d= reported is the d= verified. Another
    reader of the header section splits some lines otherwise ("From x: y" is a field to `keys.header_fields`, an
    mbox line to dkimpy, so the next continuation line was part of the DKIM-Signature above only to dkimpy: it
    verified d=example.com plus a name in the attacker's zone while example.com was reported, review33 #1).
    Raises dkim.MessageFormatError where dkimpy cannot read the header section."""
    if message.startswith(b"\n") or message.startswith(b"\r\n"):
        return []
    m = _EMPTY_LINE.search(message)
    head = message if m is None else message[:m.start()]
    try:
        return dkim.rfc822_parse(head + b"\r\n\r\n")[0]  # type: ignore[no-any-return]
    except IndexError:
        raise dkim.MessageFormatError("header section starts with a continuation line") from None


def plain_name(value: bytes | None) -> bool:
    """Whether a d= or s= value is free of blanks, line breaks and control bytes (empty is not)."""
    return bool(value) and _NOT_A_NAME.search(value or b"") is None


def tag_text(value: bytes | None) -> str:
    """A tag's value as reported (evidence, Authentication-Results, ARC sealers): without the blanks, line breaks
    and control bytes a d= or s= that is no domain name may hold (its signature is then refused)."""
    return _NOT_A_NAME.sub(b"", value or b"").decode("ascii", "replace")


def split_message(message: bytes) -> tuple[list[list[bytes]], bytes]:
    """dkimpy's `rfc822_parse` result, without splitting the body into lines. Raises
    dkim.MessageFormatError on a malformed header section (dkimpy can raise IndexError)."""
    try:
        return _split(message)
    except IndexError:
        raise dkim.MessageFormatError("header section starts with a continuation line") from None


def _split(message: bytes) -> tuple[list[list[bytes]], bytes]:
    if message.startswith(b"\n") or message.startswith(b"\r\n"):
        head, body = b"", message[1 if message.startswith(b"\n") else 2:]
    else:
        m = _EMPTY_LINE.search(message)
        if m is None:
            return dkim.rfc822_parse(message)  # type: ignore[no-any-return]
        head, body = message[:m.start()], message[m.end():]
    headers, _ = dkim.rfc822_parse(head + b"\r\n\r\n")
    if b"\n" in body:
        body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return headers, body


_memo = threading.local()


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 section 3.4.4, byte-identical to dkimpy's, in slices cut after a CRLF. The last
    result is remembered per thread: several signatures on one message share the work."""
    if len(body) <= SLICE:
        return _dkimpy_relaxed_body(body)  # type: ignore[no-any-return]
    last = getattr(_memo, "last", None)
    if last is not None and last[0] is body:
        return last[1]  # type: ignore[no-any-return]
    result = _sliced(body)
    _memo.last = (body, result)
    return result


def _sliced(body: bytes) -> bytes:
    parts = []
    start = 0
    while start < len(body):
        cut = body.find(b"\r\n", min(start + SLICE, len(body)))
        end = len(body) if cut < 0 else cut + 2
        parts.append(_canon.compress_whitespace(_canon.strip_trailing_whitespace(body[start:end])))
        start = end
    return _canon.correct_empty_body(_canon.strip_trailing_lines(b"".join(parts)))  # type: ignore[no-any-return]


def canonical_body(c_value: bytes | None, body: bytes) -> bytes:
    """The body as the signature's c= canonicalises it (dkimpy's rules; relaxed in slices).
    Raises dkim.MessageFormatError on an invalid c= value, as dkimpy does."""
    try:
        policy = _canon.CanonicalizationPolicy.from_c_value(c_value or b"simple/simple")
    except _canon.InvalidCanonicalizationPolicyError as exc:
        raise dkim.MessageFormatError(f"invalid c= value: {exc.args[0]!r}") from None
    if policy.body_algorithm is _canon.Relaxed:
        return relaxed_body(body)
    return policy.canonicalize_body(body)  # type: ignore[no-any-return]  # simple: no regex


def check_body_hash(sig: dict[bytes, bytes], body: bytes, tlsrpt: Any = False) -> None:
    """RFC 6376 section 3.7 step 1, the body hash, exactly as dkimpy's `verify_sig_process`
    checks it (l= honoured unless TLSRPT, the same exceptions and messages)."""
    hasher = dkim.HASH_ALGORITHMS[sig[b"a"]]
    canonical = canonical_body(sig.get(b"c"), body)
    if b"l" in sig and not tlsrpt:
        length = int(sig[b"l"])
        if length < len(canonical):  # RFC 6376 section 8.2: what follows is the sender's, unsigned; an appended
            # part shown instead of the signed text had kept the pass and DMARC's (review33c #4)
            raise dkim.ValidationError(f"l= signs {length} of the body's {len(canonical)} bytes")
        canonical = canonical[:length]
    digest = hasher(canonical).digest()
    try:
        expected = base64.b64decode(re.sub(rb"\s+", b"", sig[b"bh"]))
    except (TypeError, ValueError) as exc:
        raise dkim.MessageFormatError(str(exc)) from None
    if digest != expected:
        raise dkim.ValidationError(f"body hash mismatch (got {base64.b64encode(digest)!r}, "
                                   f"expected {sig[b'bh']!r})")


def screen_field(name: bytes, value: bytes) -> None:
    """Raise dkim.MessageFormatError when the raw (folded) signature field `value` holds a run of
    more than BLANK_RUN_LIMIT blanks and line breaks, which dkimpy's patterns read in quadratic time."""
    m = _LONG_BLANKS.search(value)
    if m is not None:
        raise dkim.MessageFormatError(f"{name.decode('ascii', 'replace')} holds more than {BLANK_RUN_LIMIT} "
                                      f"blanks in a row (at byte {m.start()})")


# The RSA dkimpy may run (atk47 #1, review47b #1, #3): its verification is Python's pow(signature, exponent,
# modulus), which holds the GIL from start to end (the worker's event loop stands still) and no deadline interrupts,
# and its str2int reads b= a byte at a time, each step on the whole number so far (quadratic). An 8,192-bit key a
# sender publishes for its own domain took 2.2 s a signature, 16,384 bits 20.5 s; a 92 KB b= 0.5 s with any key.
# RFC 8301 section 3.2: verifiers MUST validate keys of 1,024 to 4,096 bits and MAY validate larger ones; every
# DKIM key seen in practice has exponent 65,537 (17 bits; 2**32 + 1 is 33); RFC 8017 section 8.2.2: a signature is
# exactly as long as the modulus. Checked on the key dkimpy itself parsed (`self.pk`), at the one place DKIM and ARC
# signatures pass before any RSA: a second parser of the key record would read some records otherwise than dkimpy
# (review47b #1: one "!" in p= passed a strict base64 decode's check to dkimpy's lenient one).
MAX_RSA_BITS = 4096
MAX_RSA_EXPONENT_BITS = 33


def _rsa_within_bounds(pk: Any, signature_b64: bytes) -> None:
    """dkim.KeyFormatError for a key too large for its RSA, dkim.ValidationError for a b= longer than its modulus."""
    bits, exponent_bits = int(pk["modulus"]).bit_length(), int(pk["publicExponent"]).bit_length()
    if bits > MAX_RSA_BITS:
        raise dkim.KeyFormatError(f"RSA key too large ({bits} bits; verified up to {MAX_RSA_BITS}, RFC 8301)")
    if exponent_bits > MAX_RSA_EXPONENT_BITS:
        raise dkim.KeyFormatError(f"RSA public exponent too large ({exponent_bits} bits; at most "
                                  f"{MAX_RSA_EXPONENT_BITS})")
    # dkimpy decodes b= so (base64.b64decode of the text without whitespace); length only, no second reading
    length = len(base64.b64decode(re.sub(rb"\s+", b"", signature_b64)))
    if length > (bits + 7) // 8:
        raise dkim.ValidationError(f"signature longer than its key ({length} bytes; the key's modulus is "
                                   f"{(bits + 7) // 8})")


class _FastMessage:
    headers: Any
    body: Any
    tlsrpt: Any
    ktag: Any
    pk: Any

    def set_message(self, message: bytes | None) -> None:
        super().set_message(None)  # type: ignore[misc]  # resets dkimpy's per-message state
        if message:
            self.headers, self.body = split_message(message)

    def verify_sig_process(self, sig: dict[bytes, bytes], include_headers: list[bytes], sig_header: Any,
                           dnsfunc: Any) -> Any:
        """The body hash here (sliced relaxed canonicalisation), then dkimpy's own code for the
        rest with bh= taken out of the parsed tags so it does not hash the body again (the
        header hash uses the raw signature header, which still holds bh=). First, the RSA must be bounded
        (`_rsa_within_bounds`)."""
        if getattr(self, "ktag", None) == b"rsa" and getattr(self, "pk", None) is not None and b"b" in sig:
            _rsa_within_bounds(self.pk, sig[b"b"])
        if b"bh" in sig:
            check_body_hash(sig, self.body, getattr(self, "tlsrpt", False))
            sig = {k: v for k, v in sig.items() if k != b"bh"}
        return super().verify_sig_process(sig, include_headers, sig_header, dnsfunc)  # type: ignore[misc]


class FastDKIM(_FastMessage, dkim.DKIM):  # type: ignore[misc]
    def verify_sig_process(self, sig: dict[bytes, bytes], include_headers: list[bytes], sig_header: Any,
                           dnsfunc: Any) -> Any:
        """dkimpy hashes one more From than h= names (an unsigned From added above the signed one then breaks the
        signature); here the same for every field a message has once: clients show the topmost Subject, Reply-To,
        Content-Type, and an unsigned one added above a replayed signed message had kept its pass (review33c #3).
        DKIM only: ARC's message signatures are checked as dkimpy checks them (the ARC test suite's chains)."""
        include_headers.extend(name for name in SINGLETONS if name in include_headers)
        return super().verify_sig_process(sig, include_headers, sig_header, dnsfunc)

    def verify_headerprep(self, idx: int = 0) -> Any:
        """dkimpy's, after `screen_field` of the signature it reads (the same one: its list)."""
        sigheaders = [(x, y) for x, y in self.headers if x.lower() == b"dkim-signature"]
        if idx < len(sigheaders):
            screen_field(sigheaders[idx][0], sigheaders[idx][1])
        prep = super().verify_headerprep(idx)
        if prep:
            _check_names(prep[0])
        return prep


class FastARC(_FastMessage, dkim.ARC):  # type: ignore[misc]
    def verify(self, dnsfunc: Any = dkim.get_txt) -> Any:
        """dkimpy's, after `screen_field` of every ARC field (a MessageFormatError: the chain fails)."""
        for name, value in self.headers:
            if name.lower() in self.ARC_HEADERS:
                screen_field(name, value)
                if name.lower() != b"arc-authentication-results":
                    try:
                        sig = parse_tag_value(value)
                    except InvalidTagValueList:
                        continue  # dkimpy's own verdict on it follows
                    _check_names(sig)
        return super().verify(dnsfunc=dnsfunc)


def _check_names(sig: dict[bytes, bytes]) -> None:
    for tag in (b"d", b"s"):
        if tag in sig and not plain_name(sig[tag]):
            raise dkim.ValidationError(f"{tag.decode()}= is not a domain name")


def arc_verify(message: bytes, logger: Any, dnsfunc: Any) -> tuple[Any, list[dict[str, Any]], str]:
    """dkimpy's `arc_verify` on a FastARC."""
    try:
        a = FastARC(message, logger=logger, minkey=1024, timeout=5)
        return a.verify(dnsfunc=dnsfunc)  # type: ignore[no-any-return]
    except dkim.DKIMException as exc:
        return dkim.CV_Fail, [], str(exc)
    except Exception as exc:  # noqa: BLE001 - dkimpy raising outside its own exceptions: the chain fails
        log.info("ARC: dkimpy raised %s: %r", type(exc).__name__, str(exc)[:200])
        return dkim.CV_Fail, [], f"{type(exc).__name__}: {exc}"[:160]


def arc_sign(message: bytes, selector: bytes, domain: bytes, privkey: bytes, srv_id: bytes,
             logger: Any, linesep: bytes, include_headers: list[bytes] | None = None,
             timestamp: int | None = None) -> list[bytes]:
    return dkim.arc_sign(message, selector, domain, privkey, srv_id, logger=logger,  # type: ignore[no-any-return]
                         linesep=linesep, include_headers=include_headers,
                         timestamp=None if timestamp is None else str(timestamp))

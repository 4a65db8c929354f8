"""Signed mail through the planner: S/MIME (openssl), PGP (gpg) and DKIM (dkimpy) still verify.

The gateway's output for a message is `apply_edits(plan(...).raw, contract_edits + plan.edits)`;
these tests build exactly that and run the real verifiers on it. Each has a control showing the
verifier does fail when a banner is forced into the body."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.act.actions import DEFAULT_ACTIONS, ActionsConfig, VerdictActions, plan
from gateway.act.headers import apply_edits, removal_edits, verdict_edits
from gateway.model import Decision, RuleHit, Verdict
from gateway.parse import MessageView, normalize_newlines
from tests.conftest import need_binary

DECISION = Decision(Verdict.HIGH, 12.0, (RuleHit("r", 12, "Pushes to Telegram"),))
TAGGING = ActionsConfig(high=VerdictActions(banner=True, subject_tag="[HIGH]"))


def gateway_output(raw: bytes, actions: ActionsConfig = TAGGING) -> bytes:
    raw = normalize_newlines(raw)
    p = plan(DECISION, MessageView.parse(raw), raw, actions)
    return apply_edits(p.raw, removal_edits("gw.example.org") + verdict_edits(DECISION) + list(p.edits))


def _run(*args: str, env: dict[str, str] | None = None,
         input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, capture_output=True, env=env, input=input, timeout=60, check=False)


# --------------------------------------------------------------------------- S/MIME

@pytest.fixture(scope="module")
def smime_key() -> Iterator[Path]:
    openssl = need_binary("openssl")
    d = Path(tempfile.mkdtemp(prefix="smime"))
    r = _run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "key.pem"),
             "-out", str(d / "cert.pem"), "-subj", "/CN=signer.example.net", "-days", "2")
    assert r.returncode == 0, r.stderr
    yield d
    shutil.rmtree(d)


CONTENT = "Content-Type: text/plain; charset=utf-8\r\n\r\nHello, signed world \u2013 caf\u00e9\r\n".encode()


def _smime(d: Path, tool: str, *extra: str) -> bytes:
    (d / "content").write_bytes(CONTENT)
    r = _run("openssl", tool, "-sign", "-in", str(d / "content"), "-signer", str(d / "cert.pem"),
             "-inkey", str(d / "key.pem"), "-from", "a@example.net", "-to", "b@example.org",
             "-subject", "Signed", *extra)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _smime_verifies(d: Path, tool: str, raw: bytes) -> bool:
    (d / "out.eml").write_bytes(raw)
    r = _run("openssl", tool, "-verify", "-noverify", "-in", str(d / "out.eml"), "-out", os.devnull)
    return r.returncode == 0


@pytest.mark.parametrize("tool,extra", [("smime", ()), ("smime", ("-nodetach",)),
                                        ("cms", ()), ("cms", ("-nodetach",))])
def test_smime_signed_still_verifies(smime_key: Path, tool: str, extra: tuple[str, ...]) -> None:
    signed = normalize_newlines(_smime(smime_key, tool, *extra))
    assert _smime_verifies(smime_key, tool, signed)
    out = gateway_output(signed)
    body = signed.split(b"\r\n\r\n", 1)[1]
    assert out.endswith(body)  # body untouched
    assert b"X-Approach-Verdict: high" in out and b"Subject: [HIGH] Signed" in out
    assert _smime_verifies(smime_key, tool, out)
    if not extra:  # control: a banner forced into the signed text breaks the signature
        forced = out.replace(b"Hello, signed", b"BANNER Hello, signed")
        assert not _smime_verifies(smime_key, tool, forced)


# --------------------------------------------------------------------------- PGP

@pytest.fixture(scope="module")
def gpg_env() -> Iterator[dict[str, str]]:
    gpg = need_binary("gpg")
    home = tempfile.mkdtemp(prefix="g", dir="/tmp")  # short: gpg-agent's socket path is limited
    env = {**os.environ, "GNUPGHOME": home}
    r = _run(gpg, "--batch", "--passphrase", "", "--quick-gen-key", "Signer <a@example.net>",
             "future-default", "sign", "1d", env=env)
    assert r.returncode == 0, r.stderr
    yield env
    _run("gpgconf", "--kill", "gpg-agent", env=env)
    shutil.rmtree(home, ignore_errors=True)


HEAD = b"From: a@example.net\r\nTo: b@example.org\r\nSubject: Signed\r\nMIME-Version: 1.0\r\n"


def test_pgp_clearsigned_still_verifies(gpg_env: dict[str, str]) -> None:
    r = _run("gpg", "--batch", "--clearsign", env=gpg_env, input=b"Meet me on Telegram.\r\n")
    assert r.returncode == 0, r.stderr
    raw = HEAD + b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + normalize_newlines(r.stdout)
    out = gateway_output(raw)
    assert out.endswith(raw.split(b"\r\n\r\n", 1)[1])
    body = out.split(b"\r\n\r\n", 1)[1]
    assert _run("gpg", "--batch", "--verify", env=gpg_env, input=body).returncode == 0
    forced = body.replace(b"Meet me", b"BANNER\r\nMeet me")  # control: a banner inside the signed text
    assert _run("gpg", "--batch", "--verify", env=gpg_env, input=forced).returncode != 0


def test_pgp_mime_signed_still_verifies(gpg_env: dict[str, str], tmp_path: Path) -> None:
    signed_part = b"Content-Type: text/plain; charset=utf-8\r\n\r\nOff the record, please.\r\n"
    r = _run("gpg", "--batch", "--armor", "--detach-sign", env=gpg_env, input=signed_part)
    assert r.returncode == 0, r.stderr
    raw = (HEAD + b'Content-Type: multipart/signed; micalg=pgp-sha512; protocol="application/pgp-signature";'
           b' boundary="SIG"\r\n\r\n--SIG\r\n' + signed_part + b"\r\n--SIG\r\n"
           b"Content-Type: application/pgp-signature\r\n\r\n" + normalize_newlines(r.stdout) + b"\r\n--SIG--\r\n")
    out = gateway_output(raw)
    part = out.split(b"--SIG\r\n", 2)[1].rsplit(b"\r\n", 1)[0]
    sig = out.split(b"Content-Type: application/pgp-signature\r\n\r\n", 1)[1].split(b"\r\n--SIG--")[0]
    assert part == signed_part
    (tmp_path / "part").write_bytes(part)
    (tmp_path / "part.asc").write_bytes(sig)
    r = _run("gpg", "--batch", "--verify", str(tmp_path / "part.asc"), str(tmp_path / "part"), env=gpg_env)
    assert r.returncode == 0, r.stderr


# --------------------------------------------------------------------------- DKIM

def _dkim_keys() -> tuple[bytes, bytes]:
    """A fresh RSA key (PEM) and its DKIM TXT record, made with the openssl command."""
    openssl = need_binary("openssl")
    private = _run(openssl, "genrsa", "2048").stdout
    assert private.startswith(b"-----BEGIN")
    public = _run(openssl, "rsa", "-pubout", "-outform", "DER", input=private).stdout
    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def test_dkim_survives_header_only_and_breaks_with_a_banner() -> None:
    import dkim

    private, record = _dkim_keys()

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"sel._domainkey.example.net." else b""
    msg = HEAD + b"Content-Type: text/plain; charset=utf-8\r\n\r\nLet us talk on WhatsApp.\r\n"
    signed = dkim.sign(msg, b"sel", b"example.net", private,
                       include_headers=[b"from", b"to", b"subject", b"content-type"]) + msg
    assert dkim.verify(signed, dnsfunc=dns)
    header_only = ActionsConfig(high=VerdictActions(banner=True, subject_tag="[HIGH]", header_only=True))
    out = gateway_output(signed, header_only)
    assert b"X-Approach-Verdict: high" in out and out.endswith(signed)
    assert dkim.verify(out, dnsfunc=dns)
    assert not dkim.verify(gateway_output(signed, DEFAULT_ACTIONS), dnsfunc=dns)  # control: banner

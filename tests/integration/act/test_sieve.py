"""deploy/sieve/approach.sieve run by Pigeonhole's sieve-test on messages the gateway produced:
suspicious/high are filed into "Approach" and flagged, caution is flagged in the inbox, clean
mail (even with a forged X-Approach-Verdict from the sender) stays in the inbox unflagged."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.act.headers import apply_edits, removal_edits, verdict_edits
from gateway.model import Decision, RuleHit, Verdict
from tests.conftest import ROOT, need_binary

SCRIPT = ROOT / "deploy" / "sieve" / "approach.sieve"
MESSAGE = (b"X-Approach-Verdict: high\r\n"  # forged by the sender: the gateway must strip it
           b"From: Recruiter <r@gmail.com>\r\nTo: b@example.org\r\nSubject: Opportunity\r\n"
           b"Message-ID: <1@example.net>\r\n\r\nLet us talk on WhatsApp.\r\n")


@pytest.fixture
def workdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="sieve"))  # not under pytest's 0700 tmp: sieve-test may run as nobody
    yield d
    shutil.rmtree(d, ignore_errors=True)


def deliver(workdir: Path, raw: bytes) -> Path:
    """Run sieve-test -e (really executes: stores into a Maildir); return the Maildir."""
    sieve_test = need_binary("sieve-test")
    (workdir / "msg.eml").write_bytes(raw)
    shutil.copy(SCRIPT, workdir / "approach.sieve")
    maildir = workdir / "Maildir"
    cmd = [sieve_test, "-e", "-l", f"maildir:{maildir}", str(workdir / "approach.sieve"),
           str(workdir / "msg.eml")]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), "USER": "nobody"}
    if os.geteuid() == 0:  # Dovecot refuses mail access as root
        cmd = [need_binary("runuser"), "-u", "nobody", "--", *cmd]
        subprocess.run(["chown", "-R", "nobody", str(workdir)], check=True)
    r = subprocess.run(cmd, capture_output=True, env=env, timeout=60, check=False)
    assert r.returncode == 0, r.stderr.decode()
    return maildir


def stored(maildir: Path) -> list[tuple[str, str]]:
    """(folder, maildir flags) of every stored message."""
    out = []
    for f in maildir.glob("**/*"):
        if f.is_file() and f.parent.name in ("new", "cur"):
            folder = f.parent.parent.name.lstrip(".") if f.parent.parent != maildir else "INBOX"
            out.append((folder, f.name.split(":2,", 1)[1] if ":2," in f.name else ""))
    return out


def gateway_output(verdict: Verdict) -> bytes:
    decision = Decision(verdict, float(verdict) * 4, (RuleHit("off-channel", 4, "Asks to move to WhatsApp"),))
    return apply_edits(MESSAGE, removal_edits("gw.example.org") + verdict_edits(decision))


@pytest.mark.parametrize("verdict,folder,flagged", [
    (Verdict.HIGH, "Approach", True), (Verdict.SUSPICIOUS, "Approach", True),
    (Verdict.CAUTION, "INBOX", True), (Verdict.CLEAN, "INBOX", False),
])
def test_sieve_files_and_flags_by_verdict(workdir: Path, verdict: Verdict, folder: str, flagged: bool) -> None:
    raw = gateway_output(verdict)
    assert raw.count(b"X-Approach-Verdict:") == 1
    [(got_folder, flags)] = stored(deliver(workdir, raw))
    assert got_folder == folder
    assert ("F" in flags) == flagged

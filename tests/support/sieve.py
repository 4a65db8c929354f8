"""Run a Sieve script with Dovecot Pigeonhole's real `sieve-test -e` on a message and report
where it was stored (tests of deploy/sieve/approach.sieve)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import ROOT, need_binary

SHIPPED = ROOT / "deploy" / "sieve" / "approach.sieve"

# A filter written without `:index`: any X-Approach-Verdict field counts (what a careless
# admin or a client-side rule does); the strip alone must keep it right.
NAIVE = """require ["fileinto", "imap4flags", "mailbox"];
if header :contains "X-Approach-Verdict" ["suspicious", "high"] {
    addflag "\\\\Flagged";
    fileinto :create "Approach";
    stop;
}
if header :contains "Authentication-Results" "bank.test" {
    fileinto :create "Forged-AR";
    stop;
}
"""


# Every MIME part Dovecot's message parser finds (`foreverypart` walks the tree IMAP shows clients), with its
# Content-Type and the start of its decoded text (`extracttext`), logged for `parts` to read.
PARTS = """require ["foreverypart", "mime", "variables", "vnd.dovecot.debug", "extracttext"];
foreverypart {
  set "ct" "";
  if header :mime :contenttype :matches "Content-Type" "*" { set "ct" "${1}"; }
  extracttext :first 60 "t";
  debug_log "PART ${ct} | ${t}";
}
"""


def parts(raw: bytes) -> list[tuple[str, str]]:
    """Dovecot's reading of `raw`: (content type, "" for none; the first 60 characters of its decoded text) of every
    MIME part, in order."""
    out = _run(raw, PARTS, ["-x", "+vnd.dovecot.debug +foreverypart +mime +extracttext"])[1]
    return [(m.group(1).strip(), m.group(2)) for m in re.finditer(r"DEBUG: PART (.*?) \| (.*)", out)]


def deliver(raw: bytes, script: Path | str = SHIPPED) -> list[tuple[str, str]]:
    """Run sieve-test -e (really executes: stores into a Maildir) on `raw` with `script` (a
    path, or the text of a script); (folder, maildir flags) of every stored message."""
    return _run(raw, script, ["-e"])[0]


def _run(raw: bytes, script: Path | str, flags: list[str]) -> tuple[list[tuple[str, str]], str]:
    """sieve-test with `flags` on `raw` and `script`: (what it stored, its output)."""
    sieve_test = need_binary("sieve-test")
    # not under pytest's 0700 tmp: sieve-test may run as nobody
    workdir = Path(tempfile.mkdtemp(prefix="sieve"))
    try:
        workdir.chmod(0o755)
        (workdir / "msg.eml").write_bytes(raw)
        if isinstance(script, Path):
            shutil.copy(script, workdir / "filter.sieve")
        else:
            (workdir / "filter.sieve").write_text(script)
        maildir = workdir / "Maildir"
        cmd = [sieve_test, *flags, "-l", f"maildir:{maildir}", str(workdir / "filter.sieve"),
               str(workdir / "msg.eml")]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), "USER": "nobody"}
        if os.geteuid() == 0:  # Dovecot refuses mail access as root
            cmd = [need_binary("runuser"), "-u", "nobody", "--", *cmd]
            subprocess.run(["chown", "-R", "nobody", str(workdir)], check=True)
        r = subprocess.run(cmd, capture_output=True, env=env, timeout=60, check=False)
        assert r.returncode == 0, r.stderr.decode()
        return stored(maildir), (r.stdout + r.stderr).decode("utf-8", "replace")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def stored(maildir: Path) -> list[tuple[str, str]]:
    """(folder, maildir flags) of every stored message."""
    out = []
    for f in maildir.glob("**/*"):
        if f.is_file() and f.parent.name in ("new", "cur"):
            folder = f.parent.parent.name.lstrip(".") if f.parent.parent != maildir else "INBOX"
            out.append((folder, f.name.split(":2,", 1)[1] if ":2," in f.name else ""))
    return out

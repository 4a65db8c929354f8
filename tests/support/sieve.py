"""Run a Sieve script with Dovecot Pigeonhole's real `sieve-test -e` on a message and report
where it was stored (tests of deploy/sieve/approach.sieve)."""

from __future__ import annotations

import os
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


def deliver(raw: bytes, script: Path | str = SHIPPED) -> list[tuple[str, str]]:
    """Run sieve-test -e (really executes: stores into a Maildir) on `raw` with `script` (a
    path, or the text of a script); (folder, maildir flags) of every stored message."""
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
        cmd = [sieve_test, "-e", "-l", f"maildir:{maildir}", str(workdir / "filter.sieve"),
               str(workdir / "msg.eml")]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), "USER": "nobody"}
        if os.geteuid() == 0:  # Dovecot refuses mail access as root
            cmd = [need_binary("runuser"), "-u", "nobody", "--", *cmd]
            subprocess.run(["chown", "-R", "nobody", str(workdir)], check=True)
        r = subprocess.run(cmd, capture_output=True, env=env, timeout=60, check=False)
        assert r.returncode == 0, r.stderr.decode()
        return stored(maildir)
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

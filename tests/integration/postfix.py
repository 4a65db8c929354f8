"""A throwaway, real Postfix instance for integration tests, built from deploy/postfix/*.

Purpose: start Postfix (as root) in a private temp directory with its own config, queue and data
directories, log file and loopback ports, wired in one of the two deployment modes exactly as
the shipped snippets describe (ports substituted), delivering everything onward to a recording
sink; stop it and remove it afterwards. Two instances never share a file, a port or a pid.

Untrusted input: none (test support). It runs `postfix`, `postconf` and `postqueue` binaries.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "postfix"
MODES = ("before-queue", "after-queue")

# Stock Debian master.cf services that an instance needs, without the public smtp service (the
# deploy snippet provides it) and with chroot off (the temp dir is not a prepared jail).
BASE_MASTER_CF = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixError(RuntimeError):
    pass


@dataclass
class PostfixInstance:
    """One Postfix in `root`: etc/ (config), spool/ (queue), lib/ (data), maillog."""

    postfix: str
    mode: str
    smtp_port: int  # stands in for :25
    filter_port: int  # the gateway (10025 in the snippets)
    reinject_port: int  # the reinjection smtpd (10026 in the snippets)
    sink_port: int  # where everything is finally delivered
    refuse: tuple[str, ...] = ()  # recipients the reinjection smtpd refuses (the "upstream")
    # Deliver example.org with Postfix's own virtual(8) agent into one Maildir (maildir_path)
    # instead of relaying to the sink: the file a mail client or Sieve reads.
    maildir: bool = False
    root: Path = field(init=False)
    check_output: str = field(init=False, default="")
    name: str = field(init=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        # Not under pytest's tmp_path: Postfix daemons run as the postfix user and must be able
        # to traverse to their queue directory (pytest-of-root is mode 0700).
        self.root = Path(tempfile.mkdtemp(prefix=f"approach-pf-{self.mode}-", dir="/tmp"))
        self.root.chmod(0o755)
        self.name = f"postfix-{self.root.name[len('approach-pf-'):]}".replace("_", "-")

    # ---- paths -------------------------------------------------------------------------------

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def queue_dir(self) -> Path:
        return self.root / "spool"

    @property
    def maillog(self) -> Path:
        return self.root / "maillog"

    @property
    def maildir_path(self) -> Path:
        return self.root / "mail" / "inbox"

    def delivered(self) -> list[Path]:
        """Message files delivered into the Maildir (maildir=True), oldest first."""
        new = self.maildir_path / "new"
        return sorted(new.iterdir(), key=lambda p: p.stat().st_mtime_ns) if new.is_dir() else []

    def _maildir_cf(self) -> str:
        if not self.maildir:
            return ""
        pw = pwd.getpwnam("nobody")
        return f"""\
# ---- Maildir delivery (tests/integration/postfix.py, maildir=True) ----
relay_domains =
virtual_mailbox_domains = example.org
virtual_mailbox_base = {self.root / 'mail'}
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:{pw.pw_uid}
virtual_gid_maps = static:{pw.pw_gid}
virtual_minimum_uid = 1
"""

    # ---- configuration -----------------------------------------------------------------------

    def _ported(self, text: str) -> str:
        return (text.replace("127.0.0.1:10025", f"127.0.0.1:{self.filter_port}")
                .replace("127.0.0.1]:10025", f"127.0.0.1]:{self.filter_port}")
                .replace("127.0.0.1:10026", f"127.0.0.1:{self.reinject_port}"))

    def main_cf(self) -> str:
        snippet = self._ported((DEPLOY / self.mode / "main.cf.snippet").read_text())
        hostname = f"{self.mode}.postfix.test"
        return f"""\
# Generated by tests/integration/postfix.py for a throwaway instance.
compatibility_level = 3.6
queue_directory = {self.queue_dir}
data_directory = {self.root / 'lib'}
mail_owner = postfix
setgid_group = postdrop
multi_instance_name = {self.name}
syslog_name = {self.name}
maillog_file = {self.maillog}
maillog_file_prefixes = {self.root}
myhostname = {hostname}
mydomain = postfix.test
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains = example.org
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtp_host_lookup = native
disable_dns_lookups = yes
default_transport = smtp:[127.0.0.1]:{self.sink_port}
relay_transport = smtp:[127.0.0.1]:{self.sink_port}
smtp_tls_security_level = none
smtpd_tls_security_level = none
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
biff = no
# ---- deploy/postfix/{self.mode}/main.cf.snippet (ports substituted) ----
{snippet}
{self._maildir_cf()}"""

    def master_cf(self) -> str:
        snippet = self._ported((DEPLOY / self.mode / "master.cf.snippet").read_text())
        public = f"127.0.0.1:{self.smtp_port} inet "
        if "\nsmtp      inet " in snippet:  # before-queue: the snippet replaces the public smtpd
            snippet = snippet.replace("\nsmtp      inet ", "\n" + public)
        else:  # after-queue: the stock public smtpd stays as it is
            snippet = f"{public} n       -       n       -       -       smtpd\n" + snippet
        # The "upstream" refuses chosen recipients (test-only, ahead of the shipped rule).
        shipped = "-o smtpd_recipient_restrictions=permit_mynetworks,reject"
        if shipped not in snippet:
            raise PostfixError(f"{self.mode}/master.cf.snippet lacks {shipped!r}")
        snippet = snippet.replace(shipped, "-o smtpd_recipient_restrictions=check_recipient_access,"
                                  f"texthash:{self.config_dir / 'refuse'},permit_mynetworks,reject")
        virtual = "virtual   unix  -       n       n       -       -       virtual\n" if self.maildir else ""
        return BASE_MASTER_CF + virtual + f"# ---- deploy/postfix/{self.mode}/master.cf.snippet ----\n" + snippet

    def write_config(self) -> None:
        self.config_dir.mkdir()
        self.queue_dir.mkdir(mode=0o755)  # post-install (run by `postfix check`) fills it
        data = self.root / "lib"
        data.mkdir(mode=0o700)
        pw = pwd.getpwnam("postfix")
        os.chown(data, pw.pw_uid, pw.pw_gid)
        if self.maildir:
            mail = self.root / "mail"
            mail.mkdir(mode=0o755)
            pw = pwd.getpwnam("nobody")
            os.chown(mail, pw.pw_uid, pw.pw_gid)
        (self.config_dir / "main.cf").write_text(self.main_cf())
        (self.config_dir / "master.cf").write_text(self.master_cf())
        (self.config_dir / "refuse").write_text(
            "".join(f"{r} 550 5.1.1 <{r}>: refused by the upstream test map\n" for r in self.refuse)
            or "# nobody\n")

    # ---- lifecycle ---------------------------------------------------------------------------

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "MAIL_CONFIG"}
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
        if check and proc.returncode != 0:
            raise PostfixError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
                               f"\n--- maillog ---\n{self.log()[-4000:]}")
        return proc

    def start(self) -> PostfixInstance:
        self.write_config()
        cdir = str(self.config_dir)
        check = self.run(self.postfix, "-c", cdir, "check")
        self.check_output = check.stdout + check.stderr
        self.run(self.postfix, "-c", cdir, "start")
        self._wait_listening(self.smtp_port)
        self._wait_listening(self.reinject_port)
        return self

    def _wait_listening(self, port: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.recv(512)  # the banner: the service is really up
                    return
            except OSError:
                time.sleep(0.05)
        raise PostfixError(f"Postfix in {self.root} is not listening on {port}:\n{self.log()[-4000:]}")

    def master_pid(self) -> int | None:
        try:
            return int((self.queue_dir / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        pid = self.master_pid()
        self.run(self.postfix, "-c", str(self.config_dir), "stop", check=False)
        if pid is not None:
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- inspection --------------------------------------------------------------------------

    def log(self) -> str:
        try:
            return self.maillog.read_text(errors="replace")
        except OSError:
            return ""

    def wait_log(self, needle: str, timeout: float = 10.0) -> str:
        """The first maillog line containing `needle` (postlogd writes asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log().splitlines():
                if needle in line:
                    return line
            if time.monotonic() > deadline:
                raise PostfixError(f"no maillog line with {needle!r}:\n{self.log()[-4000:]}")
            time.sleep(0.05)

    def queued(self) -> list[str]:
        """Queue ids of messages still in the queue (any of Postfix's queues)."""
        out = []
        for q in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _dirpath, _dirs, files in os.walk(self.queue_dir / q):
                out.extend(files)
        return out

    def queue_empty(self) -> bool:
        return not self.queued()

    def wait_queue_empty(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.queue_empty():
            if time.monotonic() > deadline:
                raise PostfixError(f"queue of {self.root} not empty after {timeout}s:\n{self.log()[-4000:]}")
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""A private HAProxy (Debian's `haproxy`) in TCP mode in front of gateway processes.

One balanced frontend (round robin, PROXY v2 to each gateway, health checks on each gateway's
/readyz, a connection refused by a dead gateway retried on another: `option redispatch`) and one
frontend per gateway that reaches only that one (to choose the instance in a test). Also what
`benchmarks/multi_bench.py` runs.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import free_ports, need_binary

READY_WAIT = 15.0  # seconds HAProxy may take to accept connections (a bound, not an assertion)


class HAProxy:
    def __init__(self, workdir: Path, backends: dict[str, tuple[int, int]], *, check_interval_ms: int = 500,
                 maxconn: int = 2000) -> None:
        """`backends`: name -> (SMTP port, admin port) of a gateway on 127.0.0.1."""
        self.binary = need_binary("haproxy")
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port, *direct = free_ports(1 + len(backends))
        self.direct = dict(zip(backends, direct, strict=True))
        servers = "\n".join(f"    server {name} 127.0.0.1:{smtp} check port {admin}"
                            for name, (smtp, admin) in backends.items())
        singles = "\n".join(f"""
frontend via_{name}
    bind 127.0.0.1:{self.direct[name]}
    default_backend only_{name}

backend only_{name}
    server {name} 127.0.0.1:{smtp} send-proxy-v2
""" for name, (smtp, _) in backends.items())
        self.config = self.dir / "haproxy.cfg"
        self.config.write_text(f"""
global
    maxconn {maxconn}

defaults
    mode tcp
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    retries 3
    option redispatch

frontend smtp
    bind 127.0.0.1:{self.port}
    default_backend gateways

backend gateways
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    default-server inter {check_interval_ms}ms fall 2 rise 1 send-proxy-v2
{servers}
{singles}
""")
        self.log = self.dir / "haproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> HAProxy:
        check = subprocess.run([self.binary, "-c", "-f", str(self.config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy -c: {check.stdout}{check.stderr}")
        self.proc = subprocess.Popen([self.binary, "-db", "-f", str(self.config)], stdin=subprocess.DEVNULL,
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_WAIT
        for port in (self.port, *self.direct.values()):
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError("haproxy did not start: " + self.log.read_text(errors="replace")) from None
                    time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

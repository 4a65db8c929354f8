"""A private redis-server for tests: 127.0.0.1 on a free port plus a unix socket in a temp dir,
no persistence (--save '' --appendonly no). Also a Sentinel that watches it. Stop, start again on
the same port (data is lost: nothing is saved), SIGSTOP/SIGCONT for a server that is slow, not down.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import free_port, need_binary

READY_WAIT = 15.0  # seconds a starting server may take to answer PING (a bound, not an assertion)


def _ping(port: int | None = None, path: str | None = None) -> bytes:
    with socket.socket(socket.AF_UNIX if path else socket.AF_INET) as s:
        s.settimeout(1.0)
        s.connect(path if path else ("127.0.0.1", port))
        s.sendall(b"PING\r\n")
        return s.recv(64)


class RedisServer:
    def __init__(self, workdir: Path, sentinel_of: RedisServer | None = None) -> None:
        self.binary = need_binary("redis-server")
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.socket = str(self.dir / "redis.sock")
        self.sentinel_of = sentinel_of
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self) -> RedisServer:
        log = self.dir / "redis.log"
        if self.sentinel_of is None:
            args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", str(self.dir), "--logfile", str(log),
                    "--unixsocket", self.socket, "--unixsocketperm", "700"]
        else:
            conf = self.dir / "sentinel.conf"  # Sentinel rewrites its config: a file of its own
            conf.write_text(f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\nlogfile {log}\n"
                            f"sentinel monitor mymaster 127.0.0.1 {self.sentinel_of.port} 1\n"
                            "sentinel down-after-milliseconds mymaster 60000\n")
            args = [self.binary, str(conf), "--sentinel"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_WAIT
        while True:
            try:
                if _ping(self.port).startswith(b"+PONG"):
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}: {text}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGCONT)  # a paused server cannot act on SIGTERM
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def command(self, *words: str) -> bytes:
        """One command in RESP over a plain socket (the tests' own view, not redis-py's)."""
        payload = f"*{len(words)}\r\n".encode() + b"".join(
            f"${len(w.encode())}\r\n".encode() + w.encode() + b"\r\n" for w in words)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(payload)
            data = b""
            while True:
                chunk = s.recv(65536)
                data += chunk
                if not chunk or _complete(data):
                    return data


def _complete(data: bytes) -> bool:
    """True when `data` holds one whole RESP reply (enough for INFO, TTL, KEYS)."""
    def parse(i: int) -> int:
        end = data.find(b"\r\n", i)
        if end < 0:
            return -1
        kind, head = data[i:i + 1], data[i + 1:end]
        if kind in b"+-:":
            return end + 2
        if kind == b"$":
            n = int(head)
            return end + 2 if n < 0 else (end + 2 + n + 2 if len(data) >= end + 2 + n + 2 else -1)
        if kind == b"*":
            j = end + 2
            for _ in range(max(int(head), 0)):
                j = parse(j)
                if j < 0:
                    return -1
            return j
        return -1
    return parse(0) == len(data)

"""A line-level SMTP client on a plain socket, for what smtplib will not send (pipelined or
malformed commands, PROXY headers, bare line endings, a connection left half-done)."""

from __future__ import annotations

import socket


class Raw:
    """One connection to 127.0.0.1:port; `reply()` reads one (multi-line) reply."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> bytes:
        out = b""
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return out
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            out += line + b"\r\n"
            if line[3:4] != b"-":
                return out

    def cmd(self, line: bytes) -> bytes:
        self.send(line + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.sock.close()

"""A line-level SMTP client on a plain socket, for what smtplib will not send (pipelined or
malformed commands, PROXY headers, bare line endings, a connection left half-done)."""

from __future__ import annotations

import socket
import ssl


class Raw:
    """One connection to 127.0.0.1:port; `reply()` reads one (multi-line) reply."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
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

    def starttls(self, context: ssl.SSLContext) -> None:
        """The TLS handshake after a 220 to STARTTLS (anything buffered is plaintext: dropped)."""
        self.sock = context.wrap_socket(self.sock, server_hostname="gw.example.org")
        self.buf = b""

    def session(self, helo: bytes = b"client.test", sender: bytes = b"alice@ext.test",
                rcpts: tuple[bytes, ...] = (b"bob@example.org",)) -> None:
        """Greeting, EHLO, MAIL and RCPTs, each expected to succeed."""
        assert self.reply().startswith(b"220")
        assert self.cmd(b"EHLO " + helo).startswith(b"250")
        assert self.cmd(b"MAIL FROM:<" + sender + b">").startswith(b"250")
        for rcpt in rcpts:
            assert self.cmd(b"RCPT TO:<" + rcpt + b">").startswith(b"250")

    def rest(self) -> bytes:
        """Everything the server still sends until it closes the connection."""
        out = self.buf
        self.buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return out
            if not chunk:
                return out
            out += chunk

    def close(self) -> None:
        self.sock.close()

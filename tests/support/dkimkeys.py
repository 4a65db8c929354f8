"""DKIM/ARC signing keys generated in the test (RSA 2048, Ed25519) and their DNS TXT records."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache

import dkim
import nacl.signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class Key:
    algorithm: bytes  # b"rsa-sha256" or b"ed25519-sha256"
    private: bytes  # what dkim.sign wants
    txt: str  # the DNS TXT record value

    def sign(self, message: bytes, domain: str, selector: str = "sel", **kw: object) -> bytes:
        """The message with a DKIM-Signature prepended."""
        header = dkim.sign(message, selector.encode(), domain.encode(), self.private,
                           signature_algorithm=self.algorithm, **kw)  # type: ignore[arg-type]
        return header + message


@lru_cache(maxsize=4)
def rsa_key(bits: int = 2048) -> Key:
    k = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                          serialization.NoEncryption())
    pub = k.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    return Key(b"rsa-sha256", pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode())


@lru_cache(maxsize=1)
def ed25519_key() -> Key:
    sk = nacl.signing.SigningKey.generate()
    priv = base64.b64encode(bytes(sk))
    pub = base64.b64encode(bytes(sk.verify_key)).decode()
    return Key(b"ed25519-sha256", priv, "v=DKIM1; k=ed25519; p=" + pub)


def message(from_addr: str = "Alice <alice@example.com>", body: bytes = b"Hello there.\r\n",
            subject: str = "Meeting") -> bytes:
    return (f"From: {from_addr}\r\nTo: bob@example.org\r\nSubject: {subject}\r\n"
            "Date: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\n").encode() + body

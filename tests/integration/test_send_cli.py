"""`approach-gateway send FILE` (gateway/demo.py send_files) through a running gateway."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import HostPort
from gateway.demo import send_files
from tests.integration.conftest import Harness

BODY = b"".join(b"Line %d of an ordinary letter, nothing long here at all.\n" % i for i in range(200))


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_send_puts_a_file_with_any_line_ends_on_the_wire_as_crlf(harness: Harness, tmp_path: Path,
                                                                 eol: bytes) -> None:
    """A saved message with Unix (LF) line ends, 11 KB, more than limits.max_line_length (8192)
    if its LFs were sent as they are: admin21 saw '500 Line too long'. It is accepted and
    arrives with CRLF line ends, as swaks and sendmail send a file."""
    harness.start()
    assert harness.sink is not None
    eml = tmp_path / "letter.eml"
    eml.write_bytes((b"From: bob@sender.test\nTo: alice@example.org\nSubject: lf\n\n" + BODY).replace(b"\n", eol))
    [(_, code, text)] = send_files(HostPort("127.0.0.1", harness.port), [eml], None, [])
    assert code == 250, text
    [msg] = harness.sink.wait_for(1)
    assert msg.rcpt_tos == ["alice@example.org"]
    assert msg.data.count(b"\r\n") >= 200 and msg.data.replace(b"\r\n", b"").count(b"\n") == 0
    assert msg.data.replace(b"\r\n", b"").count(b"\r") == 0
    assert b"\r\nLine 199 of an ordinary letter, nothing long here at all.\r\n" in msg.data

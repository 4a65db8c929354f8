"""The structure check's `attachment.risky`: a file a reader opens that runs code or holds other files, by its name's
last extension (read as Windows and a reader show it) or, without a name, by its type; a PDF or an Office document is
not one. The rule that weighs it: tests/unit/policy/test_shipped_pretext.py."""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import struct
import tarfile
import zipfile
import zlib

import pytest

from gateway.checks.structure import StructureCheck
from gateway.model import Client, Envelope
from gateway.runtime import Runtime
from gateway.store.memory import MemoryStore
from tests.support.messages import config, names, one, run

FROM = "Anton Varga <a.varga@varga-holding.test>"
TEXT = "Dear Ms Goldberg,\n\nI attach the draft term sheet. Could you look through it?\n\nAnton\n"


def _with_file(ctype: str, disposition: str | None, data: bytes = b"PK\x03\x04\x00\x00\x00\x00") -> bytes:
    head = [f"From: {FROM}", "To: l.goldberg@example.org", "Subject: Proposed grant", "Message-ID: <a1@test>",
            "Date: Tue, 06 Oct 2026 09:00:00 +0000", "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="b1"', "", "--b1", 'Content-Type: text/plain; charset="utf-8"',
            "", TEXT, "--b1", f"Content-Type: {ctype}", "Content-Transfer-Encoding: base64"]
    if disposition:
        head.append(f"Content-Disposition: {disposition}")
    return "\r\n".join(head + ["", base64.encodebytes(data).decode().strip(), "--b1--", ""]).encode("utf-8")


def _zip(*members: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in members:
            archive.writestr(name, "<?xml version='1.0'?><feedback/>")
    return out.getvalue()


REPORT = "google.com!example.org!1733097600!1733183999.zip"


@pytest.mark.parametrize(("ctype", "disposition", "kind", "extension"), [
    ("application/octet-stream", 'attachment; filename="TermSheet_KYC_2025.zip"', "an archive", ".zip"),
    ("application/pdf", 'attachment; filename="agenda.pdf.lnk"', "a shortcut", ".lnk"),
    # U+202E makes a reader show "invoice_exe.pdf"; Windows drops a name's trailing dots and spaces
    ("application/octet-stream", "attachment; filename*=UTF-8''invoice_%E2%80%AEfdp.exe", "a program", ".exe"),
    ("application/octet-stream", 'attachment; filename="minutes.hta. . "', "a script", ".hta"),
    ("application/octet-stream", "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.ISO", "a disk image", ".iso"),
    ('application/octet-stream; name="Budget.xlsm"', None, "a macro-enabled document", ".xlsm"),
    ("application/x-zip-compressed", "attachment", "an archive", "application/x-zip-compressed"),  # no name
    # review36 #2: an encoded word (Outlook writes non-ASCII names so; every reader decodes it), B and Q
    ("application/octet-stream", 'attachment; filename="=?utf-8?B?VGVybVNoZWV0LnppcA==?="', "an archive", ".zip"),
    ("application/octet-stream", 'attachment; filename="=?utf-8?Q?invoice=2Ezip?="', "an archive", ".zip"),
    # ... a Content-Type name that is not the disposition's filename; a second filename; a name cut at a NUL
    ('application/octet-stream; name="invoice.zip"', 'attachment; filename="invoice.pdf"', "an archive", ".zip"),
    ("application/octet-stream", 'attachment; filename="a.pdf"; filename="a.iso"', "a disk image", ".iso"),
    ("application/octet-stream", 'attachment; filename="invoice.zip\x00.pdf"', "an archive", ".zip"),
    ("application/zip", 'attachment; filename="photos"', "an archive", "application/zip"),  # a name, no extension
    ("application/octet-stream", 'attachment; filename="Setup.msix"', "a program", ".msix"),
], ids=["zip", "double-extension", "rtlo", "trailing-dots", "rfc2231-iso", "inline-name", "type-only",
        "encoded-b", "encoded-q", "type-name", "second-filename", "nul", "no-extension", "msix"])
def test_a_file_that_runs_code_or_holds_files_is_signalled(ctype, disposition, kind, extension) -> None:
    sig, _ = run([StructureCheck()], _with_file(ctype, disposition))
    found = one(sig, "attachment.risky")
    assert found.evidence == {"kind": kind, "extension": extension, "files": 1}


@pytest.mark.parametrize(("ctype", "disposition"), [
    ("application/pdf", 'attachment; filename="EDSS2026_Invitation.pdf"'),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", 'attachment; filename="cv.docx"'),
    ("application/zip", 'attachment; filename="notes.zip.pdf"'),  # the last extension names the file
    ("text/calendar", 'attachment; filename="invite.ics"'),
    ("image/png", "inline"),
], ids=["pdf", "docx", "zip-then-pdf", "calendar", "image"])
def test_documents_and_the_body_are_not(ctype, disposition) -> None:
    sig, _ = run([StructureCheck()], _with_file(ctype, disposition))
    assert "attachment.risky" not in names(sig)


def test_a_dmarc_or_tls_reports_archive_is_not_a_lure_and_its_name_alone_is_not_enough() -> None:
    """review36 #5: the daily aggregate DMARC report (RFC 7489 7.2.1.1) and a TLS report (RFC 8460 5.3) are archives
    from reporters the rua mailbox never writes to: not lures. review36b #3: the name is the sender's: a zip so named
    holding a shortcut, a second member, or a gzip of a program is a lure."""
    report_gz = gzip.compress(b"<?xml version='1.0'?><feedback/>")
    for ctype, name, data in (("application/zip", REPORT, _zip("google.com!example.org!1733097600!1733183999.xml")),
                              ("application/gzip", "microsoft.com!example.org!1733097600!1733183999!4f2a.xml.gz",
                               report_gz),
                              ("application/tlsrpt+gzip", "google.com!example.org!1733097600!1733183999!1.json.gz",
                               gzip.compress(b'{"organization-name": "Google Inc."}'))):
        sig, _ = run([StructureCheck()], _with_file(ctype, f'attachment; filename="{name}"', data))
        assert "attachment.risky" not in names(sig), name
    for name, data in ((REPORT, _zip("Photos.lnk")), (REPORT, _zip("report.xml", "Photos.lnk")),
                       ("Photos!Panel!2025!1206.zip", b"PK\x03\x04junk"),
                       ("a!b!1!2!Setup.exe.gz", gzip.compress(b"MZ\x90\x00"))):
        sig, _ = run([StructureCheck()], _with_file("application/zip", f'attachment; filename="{name}"', data))
        assert one(sig, "attachment.risky").evidence["kind"] == "an archive", name


def _unicode_path_zip() -> bytes:
    """One entry named r.xml for Python, invoice.js for Info-ZIP's unzip (a Unicode Path extra field, 0x7075)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        info = zipfile.ZipInfo("r.xml")
        name = b"invoice.js"
        info.extra = struct.pack("<HHB", 0x7075, 5 + len(name), 1) + struct.pack("<I", zlib.crc32(b"r.xml")) + name
        archive.writestr(info, "<?xml version='1.0'?><feedback/>")
    return out.getvalue()


def _gzip_named(stored: bytes, content: bytes) -> bytes:
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = raw.compress(content) + raw.flush()
    return (b"\x1f\x8b\x08\x08\x00\x00\x00\x00\x00\xff" + stored + b"\x00" + body
            + struct.pack("<II", zlib.crc32(content), len(content)))


def test_a_report_shaped_archive_that_readers_read_otherwise_is_a_lure() -> None:
    """review36c #1: Python's zipfile read one .xml where unzip or 7-Zip see a script: a Unicode Path extra field,
    two archives joined, a local header naming another file; a gzip storing a script's name (gunzip -N), a tar
    whose first member is named "{". Each is an archive, report-shaped name or not."""
    one_xml = _zip("r.xml")
    local = one_xml.replace(b"r.xml", b"i.js!", 1)  # the local header's name only (the first occurrence)
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as archive:
        for name in ("{", "invoice.js"):
            info = tarfile.TarInfo(name)
            info.size = 4
            archive.addfile(info, io.BytesIO(b"data"))
    extra_first = _gzip_named(b"invoice.hta", b"<?xml version='1.0'?><x/>")  # FEXTRA holding "r.xml" before the name
    extra_first = extra_first[:3] + b"\x0c" + extra_first[4:10] + b"\x07\x01" + b"r.xml\x00" + b"x" * 257 + \
        extra_first[10:]
    for data in (_unicode_path_zip(), _zip("invoice.js") + one_xml, local,
                 _gzip_named(b"invoice.hta", b"<?xml version='1.0'?><x/>"), gzip.compress(tar.getvalue()), extra_first):
        sig, _ = run([StructureCheck()], _with_file("application/zip", f'attachment; filename="{REPORT}"', data))
        assert "attachment.risky" in names(sig)
    named_xml = _gzip_named(b"report.xml", b"<?xml version='1.0'?><feedback/>")  # a stored .xml name: a report
    name = "google.com!example.org!1733097600!1733183999.xml.gz"
    sig, _ = run([StructureCheck()], _with_file("application/gzip", f'attachment; filename="{name}"', named_xml))
    assert "attachment.risky" not in names(sig)


def test_a_name_that_breaks_a_decoder_or_hides_behind_padding_is_still_read() -> None:
    """review36b #2: an RFC 2231 charset of `unicode_escape` made the name's decoding raise, and with it the whole
    structure check (a zip read clean, and `message.markup_exceeded` was lost); #4: a name after 16 KB of filler
    parameters was not read. Both read as the zip they are."""
    for disposition in ("attachment; filename*=unicode_escape''Photos%5Cud800.zip",
                        "attachment; filename*=idna''Photos.zip",
                        "attachment; " + "; ".join(f"x{i}=\"{'y' * 40}\"" for i in range(400)) + '; filename="a.zip"'):
        sig, _ = run([StructureCheck()], _with_file("application/octet-stream", disposition))
        assert one(sig, "attachment.risky").evidence["extension"] == ".zip", disposition[:60]


def test_a_strangers_zip_reads_suspicious_through_the_shipped_policies() -> None:
    """End to end (offline, a memory store: nobody here has written to this sender, the shipped policies): the
    message with the zip is suspicious, its reason naming the file; the same with a PDF is not flagged."""
    async def verdicts() -> list[tuple[str, list[str]]]:
        runtime = Runtime(config(), offline=True, store=MemoryStore())
        env = Envelope(mail_from="a.varga@varga-holding.test", rcpt_tos=("l.goldberg@example.org",),
                       client=Client(ip="203.0.113.89"), queue_id="Q1")
        try:
            out = []
            for ctype, name in (("application/zip", "TermSheet_KYC_2025.zip"),
                                ("application/pdf", "TermSheet_KYC_2025.pdf")):
                result = await runtime.analyse(_with_file(ctype, f'attachment; filename="{name}"'), env)
                out.append((result.decision.verdict.name, [h.reason for h in result.decision.hits]))
            return out
        finally:
            await runtime.close()
    (zipped, zip_reasons), (pdf, pdf_reasons) = asyncio.run(verdicts())
    assert zipped in ("SUSPICIOUS", "HIGH") and "a stranger sends an archive (.zip)" in zip_reasons
    assert pdf in ("CLEAN", "CAUTION") and not any("a stranger sends" in r for r in pdf_reasons)

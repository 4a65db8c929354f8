"""Reported originals found in every report format; STIX 2.1 bundles and CSV exports checked
against the specification's required properties; campaigns grouped from store metadata."""

from __future__ import annotations

import json
import re
import uuid
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest

from gateway.admin.console import stix
from gateway.admin.console.campaigns import Campaign, IndicatorInputError, candidates, clean_values, group
from gateway.admin.console.intake import extract_original
from gateway.refdata import Indicator
from gateway.store import MessageMeta

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
ORIGINAL = (CORPUS / "approach" / "009-yahoo-family-office-dubai.eml").read_bytes()


def report_with(part: object, outer: str = "mixed") -> bytes:
    msg = MIMEMultipart(outer)
    msg["From"], msg["To"], msg["Subject"] = "p.nair@example.org", "report-approach@example.org", "FW"
    msg.attach(MIMEText("see attached\n"))
    msg.attach(part)  # type: ignore[arg-type]
    return msg.as_bytes()


def test_forward_as_attachment() -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "p.nair@example.org", "report-approach@example.org", "FW: x"
    msg.set_content("odd one\n")
    from email import message_from_bytes, policy

    msg.add_attachment(message_from_bytes(ORIGINAL, policy=policy.default))
    found, how = extract_original(msg.as_bytes())
    assert how == "message/rfc822 attachment" and found is not None
    assert b"From: Ahmed Al-Rashid <a.alrashid.familyoffice@yahoo.com>" in found
    assert b"lattice-based signature schemes" in found


def test_arf_feedback_report() -> None:
    arf = MIMEMultipart("report", report_type="feedback-report")
    arf["From"], arf["To"], arf["Subject"] = "p.nair@example.org", "report-approach@example.org", "Report"
    arf.attach(MIMEText("This is a report.\n"))
    fb = MIMEApplication(b"Feedback-Type: abuse\r\nUser-Agent: Outlook\r\nVersion: 1\r\n", "octet-stream")
    fb.replace_header("Content-Type", "message/feedback-report")
    arf.attach(fb)
    headers_only = MIMEText("", "plain")
    headers_only.set_payload(ORIGINAL.split(b"\n\n", 1)[0].decode() + "\n")
    headers_only.replace_header("Content-Type", "text/rfc822-headers")
    arf.attach(headers_only)
    found, how = extract_original(arf.as_bytes())
    assert how.startswith("ARF text/rfc822-headers") and found is not None and found.endswith(b"\r\n\r\n")
    assert b"Message-ID: <213179682293.10556536.837424154829@mail.yahoo.com>" in found


def test_attached_eml_file_in_base64_and_no_attachment() -> None:
    part = MIMEApplication(ORIGINAL, "octet-stream")
    part.add_header("Content-Disposition", "attachment", filename="Investment.eml")
    found, how = extract_original(report_with(part))
    assert how == "attached file investment.eml" and found is not None and b"Ahmed Al-Rashid" in found
    found, how = extract_original(MIMEText("I got a weird mail from a recruiter\n").as_bytes())
    assert found is None and "forward the approach as an attachment" in how
    found, how = extract_original(b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nno end")
    assert found is None and "could not be read" in how


# --------------------------------------------------------------------------- STIX and CSV

_ID = re.compile(r"^([a-z0-9-]+)--([0-9a-f-]{36})$")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_PATTERN = re.compile(r"^\[(?:[a-z0-9-]+:[a-z_.]+ = '(?:[^'\\]|\\['\\])*'(?: AND )?)+\]$")
REQUIRED = {  # STIX 2.1 (OASIS, 2021) required properties of the objects we write
    "identity": {"type", "spec_version", "id", "created", "modified", "name"},
    "indicator": {"type", "spec_version", "id", "created", "modified", "pattern", "pattern_type", "valid_from"},
    "campaign": {"type", "spec_version", "id", "created", "modified", "name"},
    "relationship": {"type", "spec_version", "id", "created", "modified", "relationship_type", "source_ref",
                     "target_ref"},
}


def validate_bundle(b: dict[str, object]) -> list[dict[str, object]]:
    assert b["type"] == "bundle" and _ID.match(str(b["id"])) and str(b["id"]).startswith("bundle--")
    objects = b["objects"]
    assert isinstance(objects, list)
    ids = set()
    for o in objects:
        assert REQUIRED[o["type"]] <= set(o), (o["type"], REQUIRED[o["type"]] - set(o))
        m = _ID.match(o["id"])
        assert m and m.group(1) == o["type"] and uuid.UUID(m.group(2)).version in (4, 5)
        assert o["spec_version"] == "2.1"
        for key in ("created", "modified", "valid_from", "first_seen", "last_seen"):
            if key in o:
                assert _TS.match(o[key]), (key, o[key])
        if o["type"] == "indicator":
            assert o["pattern_type"] == "stix" and _PATTERN.match(o["pattern"]), o["pattern"]
        ids.add(o["id"])
    assert len(ids) == len(objects)
    for o in objects:  # every reference resolves inside the bundle
        for key in ("created_by_ref", "source_ref", "target_ref"):
            if key in o:
                assert o[key] in ids, (key, o[key])
    return objects


def test_stix_bundle_of_indicators_and_campaigns() -> None:
    inds = [Indicator("addresses", "Kevin.Zhao.HR@gmail.com", "NPSA alert"),
            Indicator("domains", "talent-bridge.test", "a"),
            Indicator("personas", "Kevin O'Zhao \\ Jr", "a"), Indicator("phones", "+44 7700 900123", "a"),
            Indicator("handles", "@exec_search_mike", "a"), Indicator("urls", "https://example.net/brief", "a")]
    objects = validate_bundle(json.loads(json.dumps(stix.bundle(inds, now=1_790_000_000.25))))
    patterns = {o["pattern"] for o in objects if o["type"] == "indicator"}
    assert "[email-addr:value = 'kevin.zhao.hr@gmail.com']" in patterns
    assert "[domain-name:value = 'talent-bridge.test']" in patterns
    assert "[email-addr:display_name = 'Kevin O\\'Zhao \\\\ Jr']" in patterns  # quote and backslash escaped
    assert "[user-account:account_type = 'phone-number' AND user-account:account_login = '+447700900123']" in patterns
    again = stix.bundle(inds, now=1_790_000_000.25)
    assert [o["id"] for o in again["objects"]] == [o["id"] for o in objects]  # stable ids
    one = MessageMeta(1.79e9, "inbound", "k@gmail.com", ("a@example.org",), verdict="high")
    camp = Campaign("persona-abc", "persona", "Kevin Zhao", [one])
    objects = validate_bundle(stix.bundle([], [(camp, inds[:2])]))
    rels = [o for o in objects if o["type"] == "relationship"]
    assert len(rels) == 2 and all(r["relationship_type"] == "indicates" for r in rels)


def test_csv_cells_cannot_become_formulas() -> None:
    text = stix.indicators_csv([Indicator("personas", "=HYPERLINK(\"http://x\")", "s"),
                                Indicator("handles", "@mike", "+1 s")])
    lines = text.splitlines()
    assert lines[0] == "kind,value,source"
    assert lines[1] == 'personas,"\'=HYPERLINK(""http://x"")",s' and lines[2] == "handles,'@mike,'+1 s"


# --------------------------------------------------------------------------- grouping


def meta(i: int, sender: str, rcpt: str, keys: tuple[str, ...] = (), obs: tuple[str, ...] = (),
         verdict: str = "caution", name: str = "") -> MessageMeta:
    return MessageMeta(1.79e9 + i, "inbound", sender, (rcpt,), display_name=name, verdict=verdict,
                       campaign_keys=keys, observables=obs)


def test_grouping_by_text_bands_domain_and_indicator() -> None:
    msgs = [meta(0, "a@think.test", "x@example.org", ("text:b1:aa", "text:b2:bb")),
            meta(1, "b@gmail.com", "y@example.org", ("text:b2:bb", "text:b3:cc")),
            meta(2, "c@gmail.com", "z@example.org", ("text:b3:cc",)),  # chained: one cluster of three
            meta(3, "d@think.test", "w@example.org", verdict="high"),
            meta(4, "e@gmail.com", "x@example.org", obs=("indicator:personas:Kevin Zhao",), verdict="high"),
            meta(5, "f@gmail.com", "x@example.org")]
    camps = group(msgs)
    kinds = {(c.kind, c.label, len(c.messages)) for c in camps}
    assert ("text", "(no name)", 3) in kinds and ("domain", "think.test", 2) in kinds
    assert ("indicator", "personas:Kevin Zhao", 1) in kinds
    assert not any(c.kind == "domain" and c.label == "gmail.com" for c in group(msgs, _Freemail()))
    assert camps[0].top_verdict == "high"


class _Freemail:
    notification_domains: frozenset[str] = frozenset()

    def is_freemail(self, domain: str) -> bool:
        return domain == "gmail.com"


def test_candidates_and_values() -> None:
    m = meta(0, "kevin.zhao.hr@gmail.com", "x@example.org", name="Kevin Zhao",
             obs=("reply-to:k.zhao@talent-bridge.test", "offchannel_telegram:@exec_search_mike",
                  "offchannel_whatsapp:+44 7700 900123", "link:linkedin.com"))
    got = candidates([m], _Freemail(), ["example.org"])  # type: ignore[arg-type]
    assert got == {"personas": ["Kevin Zhao"], "addresses": ["kevin.zhao.hr@gmail.com", "k.zhao@talent-bridge.test"],
                   "domains": ["talent-bridge.test"], "phones": ["+44 7700 900123"], "handles": ["@exec_search_mike"]}
    for generic in ("Best Regards", "Kind regards", "Customer Service Team", "The Editorial Team", "No Reply"):
        m = meta(0, "x@gmail.com", "x@example.org", name=generic, obs=(f"persona:{generic}",))
        assert "personas" not in candidates([m], _Freemail(), ["example.org"]), generic  # type: ignore[arg-type]
    m = meta(0, "x@com", "x@example.org", obs=("reply-to:y@com", "offchannel_telegram:@support",
                                               "offchannel_telegram:@ab", "offchannel_telegram:@kz_recruit"))
    got_bare = candidates([m], _Freemail(), ["example.org"])  # type: ignore[arg-type]
    assert "domains" not in got_bare and got_bare["handles"] == ["@kz_recruit"]  # ("com", "@support": review45b #1)
    m = meta(0, "x@gmail.com", "x@example.org", name="Anna Service")
    assert candidates([m], _Freemail(), ["example.org"])["personas"] == ["Anna Service"]  # type: ignore[arg-type]
    assert clean_values({"personas": [" Kevin Zhao "]}, got) == {"personas": ["Kevin Zhao"]}
    with pytest.raises(IndicatorInputError, match="not one of the values this page offers"):
        clean_values({"urls": ["e"]}, got)
    with pytest.raises(IndicatorInputError, match="fewer than 6 digits"):
        clean_values({"phones": ["+44 12"]})
    with pytest.raises(IndicatorInputError, match="control characters"):
        clean_values({"personas": ["Kevin\nZhao"]})
    with pytest.raises(IndicatorInputError, match="unknown indicator kind"):
        clean_values({"emails": ["x"]})

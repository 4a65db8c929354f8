from __future__ import annotations

from pathlib import Path

import pytest

from gateway.checks.indicators import IndicatorCheck
from gateway.checks.social import SocialUnwrapCheck
from gateway.errors import DataError
from gateway.refdata import load_indicator_file
from tests.support.messages import config, message, run

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
ALERT = """source: "NPSA alert 2026-03"
indicators:
  personas: [Kevin Zhao]
  companies: [Global Talent Solutions]
  domains: [harbourline-consulting.test]
  addresses: [jessica.moore.globaltalent@gmail.com]
  phones: ["+852 5550 1837"]
  urls: [https://brief.example.net/doc]
  handles: ["@exec_search_mike"]
"""


@pytest.fixture
def cfg(tmp_path):
    f = tmp_path / "alert.yml"
    f.write_text(ALERT)
    return config(f"signals: {{indicators: [{f}]}}\n")


def matched(sig):
    return {(s.evidence["kind"], s.evidence["where"]) for s in sig if s.name == "indicator.match"}


def test_sender_text_and_phone_indicators(cfg):
    raw = (CORPUS / "approach/001-freemail-recruiter-whatsapp.eml").read_bytes()
    sig, _ = run([IndicatorCheck()], raw, cfg)
    assert matched(sig) == {("addresses", "address"), ("companies", "text"), ("phones", "text")}
    assert all(s.evidence["source"] == "NPSA alert 2026-03" for s in sig)


def test_persona_name_in_an_unwrapped_notification(cfg):
    raw = (CORPUS / "approach/004-linkedin-harbourline-personal-email.eml").read_bytes()
    sig, _ = run([SocialUnwrapCheck(), IndicatorCheck()], raw, cfg)
    assert ("personas", "name") in matched(sig)


def test_domains_urls_and_handles(cfg):
    raw = message("A <a@mail.harbourline-consulting.test>", "Ping @exec_search_mike",
                  html='<a href="https://brief.example.net/doc?id=1">brief</a>')
    sig, _ = run([IndicatorCheck()], raw, cfg)
    assert matched(sig) >= {("domains", "domain mail.harbourline-consulting.test"), ("urls", "link"),
                            ("handles", "text")}


def test_no_false_matches_on_substrings(cfg):
    raw = message("Kevin Zhaox <k@other.test>", "Call +852 5550 18370 or email @exec_search_mikey")
    sig, _ = run([IndicatorCheck()], raw, cfg)
    assert ("personas", "name") not in matched(sig) and ("handles", "text") not in matched(sig)


def test_bad_indicator_file_names_file_and_line(tmp_path):
    f = tmp_path / "bad.yml"
    f.write_text("indicators:\n  personas: [A B]\n  colours: [red]\n")
    with pytest.raises(DataError, match=r"bad.yml:3.*unknown kind 'colours'"):
        load_indicator_file(str(f))


def test_invisible_characters_in_the_subject_do_not_hide_an_indicator(cfg):
    """The checks read `view.visible_subject` (zero-width characters, soft hyphens and bidi controls
    dropped, as in the body and the display names); `view.subject`, which the subject tag writes
    back, keeps them."""
    from gateway.parse import MessageView

    for hidden in ("Global Talent Solu\u200btions", "Global\u202c Talent Solutions",
                   "Glo\u00adbal Talent \u2066Solutions"):
        raw = message("Ann Lee <ann.lee@example.net>", "Hello.\n", subject=f"Opening at {hidden}")
        sig, _ = run([IndicatorCheck()], raw, cfg)
        assert ("companies", "text") in matched(sig), hidden
        view = MessageView.parse(raw)
        assert view.subject == f"Opening at {hidden}" and view.visible_subject == "Opening at Global Talent Solutions"


def test_indicator_domains_and_addresses_are_validated_at_load(tmp_path: Path) -> None:
    """admin21: `domains: ["http://evil.test/x"]` loaded and matched nothing (mail from evil.test
    scanned clean, where `evil.test` made it high): a value that is not a domain or an address is
    an error at its line, as in the free-mail list; IDNs and upper case load."""
    bad = tmp_path / "bad.yml"
    bad.write_text("indicators:\n  domains:\n    - http://evil.test/x\n    - not a domain\n    - Evil.Test\n"
                   "    - bücher.example\n  addresses:\n    - notanaddress\n    - a@b@evil.test\n"
                   "    - Jessica.Moore@gmail.com\n")
    with pytest.raises(DataError) as exc:
        load_indicator_file(str(bad))
    report = str(exc.value)
    assert "bad.yml:3: 'http://evil.test/x' is not a domain name; write the host name alone" in report
    assert "bad.yml:4: 'not a domain' is not a domain name" in report
    assert "bad.yml:8: 'notanaddress' is not a mail address; write it as name@domain" in report
    assert "bad.yml:9: 'a@b@evil.test' is not a mail address" in report
    assert report.count("bad.yml:") == 4  # Evil.Test, bücher.example and the gmail address are fine
    good = tmp_path / "good.yml"
    good.write_text("indicators:\n  domains: [Evil.Test, bücher.example]\n  addresses: [Jessica.Moore@gmail.com]\n")
    assert {i.value for i in load_indicator_file(str(good))} == {"Evil.Test", "bücher.example",
                                                                 "Jessica.Moore@gmail.com"}


def test_link_domains_are_read_as_a_browser_goes(cfg):
    """attack24 #8's spellings (fix24links reads them in the links check): a browser follows
    "https:\\host\\r", "https:host/r" and "https://x\\@real.org/" to the host, where urllib read no host
    or the wrong one, so a published alert's domain in such an href went unmatched."""
    for href in ("https:\\\\mail.harbourline-consulting.test\\doc", "https:mail.harbourline-consulting.test/doc",
                 "https://mail.harbourline-consulting.test\\@brief.other.test/"):
        raw = message("A <a@other.test>", "See the brief.", html=f'<a href="{href}">brief</a>')
        sig, _ = run([IndicatorCheck()], raw, cfg)
        assert ("domains", "domain mail.harbourline-consulting.test") in matched(sig), href

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.checks.content import ContentCheck
from tests.support.messages import message, names, one, run

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def test_off_channel_handles_are_extracted():
    body = ("Add me on WhatsApp (+852 5550 1837) or wa.me/85255501837. My Telegram is @exec_search_mike, "
            "or https://t.me/pinnacle_vlang. WeChat ID: sunrise_lily_88. Line ID: cafe_li88. "
            "Signal: signal.me/#p/+447700900481")
    sig, _ = run([ContentCheck()], message("R <r@recruit.test>", body))
    assert "+852 5550 1837" in one(sig, "content.offchannel_whatsapp").evidence["handles"]
    assert "wa.me/85255501837" in one(sig, "content.offchannel_whatsapp").evidence["handles"]
    tg = one(sig, "content.offchannel_telegram").evidence["handles"]
    assert "@exec_search_mike" in tg and "t.me/pinnacle_vlang" in tg
    assert one(sig, "content.offchannel_wechat").evidence["handles"] == "sunrise_lily_88"
    assert one(sig, "content.offchannel_line").evidence["handles"] == "cafe_li88"
    assert "signal.me" in one(sig, "content.offchannel_signal").evidence["handles"]
    assert "+85255501837" in one(sig, "content.phone_number").evidence["numbers"]


def test_handles_in_html_links():
    sig, _ = run([ContentCheck()], message("R <r@recruit.test>", "See link", html='<a href="https://wa.me/447700900123">chat</a>'))
    assert "wa.me/447700900123" in one(sig, "content.offchannel_whatsapp").evidence["handles"]


def test_personal_contact_and_freemail_address_in_body():
    body = "Could you share a personal email address? Write to me at j.doe.private@proton.me instead."
    sig, _ = run([ContentCheck()], message("J <j@firm.test>", body))
    assert one(sig, "content.personal_contact_request").evidence["phrase"].lower() == "share a personal email"
    assert one(sig, "content.freemail_address_in_body").evidence["addresses"] == "j.doe.private@proton.me"
    for mine in ("I am writing from my personal address this week.", "Please send me your mobile number."):
        assert "content.personal_contact_request" in {s.name for s in run([ContentCheck()],
                                                                           message("J <j@firm.test>", mine))[0]}
    # a personal address mentioned in passing (a newsletter's privacy tip) asks for nothing
    tip = "Never post your home address on a forum, and keep a private e-mail account for banking."
    assert "content.personal_contact_request" not in {s.name for s in run([ContentCheck()],
                                                                           message("N <n@news.test>", tip))[0]}


def test_claimed_location_against_date_offset_and_received_path():
    body = "I am based in California and lead our partnerships team."
    sig, _ = run([ContentCheck()], message("K <k@firm.test>", body, date="Tue, 06 Oct 2026 16:41:35 +0800"))
    ev = one(sig, "content.location_mismatch").evidence
    assert ev["claimed"] == "California"
    assert ev["evidence"] == "its Date is UTC+08:00 (California is UTC-08:00 or -07:00)"
    raw = message("K <k@firm.test>", "Greetings from our New York office.",
                  headers={"Received": "from mx1.mail.example.ru (mx1.mail.example.ru [198.51.100.7]) by "
                                       "gw.example.org with ESMTP id 1; Tue, 06 Oct 2026 11:00:00 +0300"})
    ev = one(sig := run([ContentCheck()], raw)[0], "content.location_mismatch").evidence
    assert ev["claimed"] == "New York" and ev["evidence"] == "it was sent from mx1.mail.example.ru"
    # consistent claim: no signal; UTC Date (+0000) is not evidence
    sig, _ = run([ContentCheck()], message("K <k@firm.test>", "I'm based in California.",
                                           date="Tue, 06 Oct 2026 09:00:00 -0700"))
    assert "content.location_mismatch" not in names(sig)
    sig, _ = run([ContentCheck()], message("K <k@firm.test>", "I'm based in California."))
    assert "content.location_mismatch" not in names(sig)


def test_ordinary_mail_has_no_off_channel_signals():
    for name in ("legit/005-gmail-phd-supervision-request.eml", "legit/017-google-calendar-invite-colleague.eml",
                 "legit/025-tsinghua-official-mou-collaboration.eml", "legit/001-hays-it-project-manager.eml"):
        sig, _ = run([ContentCheck()], (CORPUS / name).read_bytes())
        assert not [s for s in sig if s.name.startswith("content.offchannel")], name


def test_prefilter_words_cover_every_handle_pattern():
    """Each channel's patterns can only match text holding one of its prefilter words (so the
    shortcut never hides a handle): every example a pattern matches contains such a word."""
    from gateway.checks.content import _APPS, _HANDLES, _MENTION, _NEEDS
    examples = {
        "whatsapp": ["wa.me/447700900123", "api.whatsapp.com/send?phone=447700900123",
                     "chat.whatsapp.com/AbCdEfGhIjKl", "WhatsApp: +44 7700 900123", "Whats App +44 7700 900123"],
        "telegram": ["t.me/some_handle", "telegram.me/some_handle", "Telegram @some_handle"],
        "signal": ["signal.me/#p/+447700900481", "Signal +44 7700 900123"],
        "wechat": ["WeChat ID: sunrise_lily_88", "We chat: sunrise_lily", "weixin abcdef1", "微信: abcdef1",
                   "u.wechat.com/abcdefg"],
        "line": ["line.me/ti/p/abcd", "LINE ID: cafe_li88"],
    }
    assert set(examples) == set(_HANDLES) == set(_NEEDS)
    for channel, texts in examples.items():
        for text in texts:
            assert any(p.search(text) for p in _HANDLES[channel]), text
            assert any(w in text.lower() for w in _NEEDS[channel]), text
    for app in ("WhatsApp", "Telegram", "Signal", "WeChat", "Line", "Viber", "KakaoTalk", "Threema", "Wickr"):
        assert _MENTION.search(f"add me on {app}") and app.lower() in _APPS


def test_line_and_signal_are_apps_only_where_a_person_names_them():
    from gateway.checks.content import _offchannel

    def apps(text: str) -> str:
        found = [s for s in _offchannel(text, frozenset({"mention"}), "body") if s.name == "content.offchannel_mention"]
        return str(found[0].evidence["apps"]) if found else ""

    # the ordinary words in technical mail (real list mail: imagej-devel, twisted-python)
    for text in ("NullPointerException on Line 228", "the check fails on line 74", "killed via signal 11",
                 "we switch to signal handlers here", "it depends on signal strength", "see Signal #2 below"):
        assert apps(text) == "", text
    # the apps: capitalised, or after a person's own "add me on" / "reach me on" / "message me on" (in
    # lower case, and before a number: the handle or phone number that follows)
    for text in ("let us continue on Signal", "add me on signal", "Reach me on line, not here", "message me on Signal",
                 "Message me on Signal #2", "message me on Signal 07700 900123", "add me on line 0770090012"):
        assert apps(text) in ("signal", "line"), text


def test_whats_app_written_as_two_words_is_the_app() -> None:
    """attack42 #4: "Whats App" and "Whats-App" (as people write it too) named no app: the mention read one
    word only."""
    from gateway.checks.content import _offchannel, _possible
    for text in ("Could we continue on Whats App?", "let us move to whats-app", "Message me on Whats App +44 7700"):
        found = [s for s in _offchannel(text, _possible(text), "body") if s.name == "content.offchannel_mention"]
        assert found and found[0].evidence["apps"] == "whatsapp", text
    assert not _offchannel("What's up? The app is on the page.", _possible("What's up? The app is on the page."),
                           "body")


def test_only_the_handles_given_are_collected(monkeypatch: Any) -> None:
    """cpu44 #2: every distinct handle was kept in a list searched for each new one (6,000 "t.me/..." links: 18 M
    comparisons, 0.38 s), and again on the other readings of a non-ASCII body, which give the mention only. The
    first MAX_EVIDENCE distinct handles are given, as before, and no more matches are read."""
    from gateway.checks import content
    consumed: list[int] = []

    class Counting:
        def __init__(self, pattern: re.Pattern[str]) -> None:
            self.pattern = pattern

        def finditer(self, text: str) -> Iterator[re.Match[str]]:
            consumed.append(0)
            for m in self.pattern.finditer(text):
                consumed[-1] += 1
                yield m

    monkeypatch.setattr(content, "_HANDLES", {channel: [Counting(p) for p in patterns]  # type: ignore[misc]
                                              for channel, patterns in content._HANDLES.items()})
    links = " ".join(f"t.me/user{i:04d}" for i in range(2_000))
    for body in (links, "Caf\u00e9 notes:\n" + links):
        consumed.clear()
        sig, _ = run([ContentCheck()], message("Daniel Lee <daniel.lee@gmail.com>", body))
        assert one(sig, "content.offchannel_telegram").evidence["handles"] == ", ".join(
            f"t.me/user{i:04d}" for i in range(content.MAX_EVIDENCE))
        assert sum(consumed) <= content.MAX_EVIDENCE * len(content._HANDLES["telegram"]), body[:8]


"""Campaign keys: near-duplicate texts share a band, different texts do not."""

from __future__ import annotations

from gateway.checks.campaign import text_bands

LURE = ("Dear {name}, I am a researcher at the Centre for Contemporary World Studies. We are preparing a "
        "confidential report on how the government is thinking about export controls and semiconductors, "
        "and we would value your views. We can pay for your time and would welcome a long-term relationship. "
        "Could you send me a short note by Friday? With best regards, Li Wei")


def test_copies_to_different_colleagues_share_a_band() -> None:
    a = set(text_bands(LURE.format(name="Dr Keller")))
    b = set(text_bands(LURE.format(name="Ms Dubois").replace("by Friday", "by Monday")))
    assert a and a & b


def test_unrelated_texts_share_no_band() -> None:
    other = ("Hi all, the quarterly review of the lab's safety procedures is due next week. Please read the "
             "attached checklist, add your comments in the shared document and bring questions to the meeting "
             "on Thursday afternoon in room 4.12. Thanks, the lab manager")
    assert not set(text_bands(LURE.format(name="Dr Keller"))) & set(text_bands(other))


def test_short_texts_are_not_fingerprinted() -> None:
    assert text_bands("Can we talk on WhatsApp?") == []

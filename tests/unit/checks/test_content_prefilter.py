"""The content check's prefilter (`_PREFILTER`, gateway/regex.py `Prefilter`) may skip an `re`
pattern only where that pattern cannot match, so the signals are those of running every pattern.
Checked on real mail (ham, the training approaches and legitimate mail), on generated text full
of the characters where case folding is tricky, and as a whole: the check with the prefilter
gives what it gives with every pattern run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.checks import CheckContext, SharedState, run_checks
from gateway.checks import content as c
from gateway.domains import Domains
from gateway.model import Client, Envelope, Signal
from gateway.parse import MessageView
from gateway.refdata import ReferenceData
from tests.support.messages import config, with_providers

ROOT = Path(__file__).resolve().parents[3]
HAM = ROOT.parent / "shared" / "corpora" / "ham" / "spamassassin"
TRAIN = [ROOT / "tests" / "evalset" / "approach" / "train", ROOT / "tests" / "evalset" / "legit" / "train"]


def _files() -> list[Path]:
    ham = sorted(p for p in HAM.glob("*/*") if p.is_file())[:600]
    return ham + sorted(p for d in TRAIN for p in d.glob("*/*.eml"))


def _violations(text: str, links: list[str]) -> list[str]:
    """The patterns the prefilter calls impossible where they match."""
    hay = c._haystack(text, links)
    possible = c._possible(hay)
    return [key for key, pattern in c._GUARDED.items()
            if key not in possible and (pattern.search(hay) or pattern.search(text[:c.MAX_TEXT]))]


def test_every_pattern_of_the_check_is_guarded() -> None:
    handles = {p for pats in c._HANDLES.values() for p in pats}
    assert handles | {c._MENTION, c._PHONE, c._PERSONAL, c._ADDRESS, c._CLAIM} == set(c._GUARDED.values())


def test_patterns_the_prefilter_covers_on_real_mail() -> None:
    files = _files()
    if len(files) < 300:
        pytest.skip(f"corpus not found under {HAM}")
    matched: set[str] = set()
    skipped = 0
    for f in files:
        view = MessageView.parse(f.read_bytes())
        for text, links in ((view.body_text, view.html_links), (view.subject + "\n" + view.body_text, [])):
            assert _violations(text, links) == [], f
            hay = c._haystack(text, links)
            matched |= {k for k, p in c._GUARDED.items() if p.search(hay)}
            skipped += len(c._GUARDED) - len(c._possible(hay))
    # the comparison covered texts where the patterns match, not only misses, and it saves work
    assert {"phone", "address", "personal", "whatsapp.1", "telegram.1", "mention", "claim"} <= matched
    assert skipped > len(files) * 5


TRICKY = ["WhatsApp", "whats\u00a0app", "WHATS\u2003APP", "wa.me/", "+44 7700 900123", "00\u0664\u0664 1234 5678",
          "+\uff14\uff14 7700", "t.me/", "telegram.dog/", "Telegram", "@handle_name", "Signal", "SIGNAL", "signal.me/",
          "WeChat", "We\u3000chat", "weixin", "\u5fae\u4fe1", "u.wechat.com/", "LINE\tID:", "Line id", "line.me/",
          "on", "via", "add me on", "\u0130nbox", "\u0131nbox", "personal", "PRIVATE", "email", "e-mail", "address",
          "write to me", "privately", "directly at", "your", "number", "n\u00famero", "mobile", "x.y@example.com",
          "K\u212aK@GMAIL.COM", "based in", "I'm", "We are located in", "our", "office", "\u017ean Francisco",
          "San Franci\u017fco", "S\u0130NGAPORE", "london", "the UK", "Tel Aviv", "\n", " ", "\x85", "\x1c", "\u2028",
          "\u0307", "\u00e9", "_", "-", ".", "/", "?", "0", "00", "+", "\udcff", "my", "phone", "share", "contact",
          "reach me", "own", "home", "send", "a", "cell", "from"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TRICKY), max_size=30), st.lists(st.sampled_from(["", " ", "\t", "\n"]),
                                                                    max_size=30))
def test_entries_cover_their_patterns_on_generated_text(tokens: list[str], gaps: list[str]) -> None:
    text = "".join(t + (gaps[i] if i < len(gaps) else " ") for i, t in enumerate(tokens))
    assert _violations(text, []) == []
    assert _violations("", [text]) == []


def test_handles_pass_the_prefilter() -> None:
    text = ("Add me on WhatsApp (+852 5550 1837) or wa.me/85255501837. Telegram @exec_search_mike, t.me/pinnacle_v. "
            "WeChat ID: sunrise_lily_88. Line ID: cafe_li88. Signal: signal.me/#p/+447700900481. "
            "Write to me privately at my personal email x.y@gmail.com. Our office in San Francisco.")
    assert _violations(text, []) == []
    assert c._possible(text) >= {"whatsapp.0", "whatsapp.1", "telegram.0", "telegram.1", "wechat.0", "line.1",
                                 "signal.0", "mention", "phone", "personal", "address", "claim"}


def _signals(raws: list[bytes]) -> list[list[Signal]]:
    cfg = config()
    data = ReferenceData.load(cfg)
    checks = with_providers([c.ContentCheck()])
    for check in checks:
        check.prepare(cfg, data)
    state = SharedState.for_checks(cfg, data, checks)

    async def go() -> list[list[Signal]]:
        out = []
        for raw in raws:
            ctx = CheckContext(view=MessageView.parse(raw), envelope=Envelope("", (), Client(ip=None)), config=cfg,
                               data=data, domains=Domains(cfg.local_domains), offline=True, state=state)
            run = await run_checks(checks, ctx)
            out.append([s for s in run.signals if s.name.startswith("content.")])
        return out

    return asyncio.run(go())


def test_the_check_gives_what_running_every_pattern_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    files = _files()
    if len(files) < 300:
        pytest.skip(f"corpus not found under {HAM}")
    raws = [f.read_bytes() for f in files]
    filtered = _signals(raws)
    monkeypatch.setattr(c, "_possible", lambda hay: frozenset(c._GUARDED))
    every = _signals(raws)
    assert filtered == every
    assert sum(bool(s) for s in every) > 30

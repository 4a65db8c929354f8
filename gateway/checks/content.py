"""Content signals: off-channel handles and claimed location versus where the mail came from.

Purpose: an approach moves the target to a channel the organisation cannot see (WhatsApp,
Telegram, Signal, WeChat, Line, a personal address); the handles are extracted as evidence. A
claimed location ("based in California", "our New York office") is compared with the Date
header's UTC offset and with the Received path (hop dates and the origin host's country domain,
parsed by mail-parser's `receiveds_parsing`, which handles the many Received dialects better than
a regex of ours would).

Untrusted input: body text, links, Date and Received headers -- all a stranger's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from gateway.checks import Check, CheckContext, signal
from gateway.checks.origin import Origin, internal_sender
from gateway.checks.social import Persona
from gateway.model import Signal
from gateway.regex import Prefilter
from gateway.textsafe import cue_skeleton, one_space

MAX_TEXT = 60_000
MAX_EVIDENCE = 5

_HANDLES: dict[str, list[re.Pattern[str]]] = {
    "whatsapp": [re.compile(r"\b(?:wa\.me/\+?\d{6,15}|api\.whatsapp\.com/send\?phone=\+?\d{6,15}|"
                            r"chat\.whatsapp\.com/[A-Za-z0-9]{10,})", re.I),
                 re.compile(r"\bwhats\s?app\b[^\n]{0,40}?(\+?\d[\d ()./-]{6,18}\d)", re.I)],
    "telegram": [re.compile(r"\b(?:t\.me|telegram\.me|telegram\.dog)/[A-Za-z0-9_+]{4,64}", re.I),
                 re.compile(r"\btelegram\b[^\n]{0,40}?(@[A-Za-z][A-Za-z0-9_]{4,31}|\+?\d[\d ()./-]{6,18}\d)",
                            re.I)],
    "signal": [re.compile(r"\bsignal\.(?:me|group)/#?[A-Za-z0-9/_+.-]{4,}", re.I),
               re.compile(r"\bSignal\b[^\n]{0,30}?(\+?\d[\d ()./-]{6,18}\d|@?[a-z][a-z0-9_]{2,31}\.\d{2})")],
    # Bounded gaps ([ \t]{0,5}), never adjacent unbounded \s*: linear on hostile whitespace runs.
    "wechat": [re.compile(r"(?:\bwe\s?chat|\bweixin|微信)[ \t]{0,5}(?:(?:ID|id|号)[ \t]{0,5})?[:：]?[ \t]{0,5}"
                          r"([A-Za-z][-_A-Za-z0-9]{5,19})", re.I),
               re.compile(r"\bu\.wechat\.com/[A-Za-z0-9_-]{6,}", re.I)],
    "line": [re.compile(r"\bline\.me/(?:ti/p/|R/ti/p/)?[~@A-Za-z0-9_%-]{4,}", re.I),
             re.compile(r"\b(?:LINE|Line)[ \t]{0,5}(?:ID|id)[ \t]{0,5}[:：]?[ \t]{0,5}"
                        r"([@A-Za-z0-9_-][@A-Za-z0-9._-]{2,18}[A-Za-z0-9_])")],
}
# Words without which a channel's patterns cannot match (checked on the lowercased text first:
# a substring test is far cheaper than each pattern's scan, and most mail names no such app).
_NEEDS: dict[str, tuple[str, ...]] = {
    "whatsapp": ("wa.me", "whats"), "telegram": ("t.me", "telegram"), "signal": ("signal",),
    "wechat": ("chat", "weixin", "微信"), "line": ("line",),
}
_APPS = ("whatsapp", "telegram", "signal", "wechat", "line", "viber", "kakaotalk", "threema", "wickr")
_MENTION = re.compile(r"\b(?:(?:on|via|through|over|use|using|add me on|reach me on|switch to|move to|continue on|"
                      r"message me on)"
                      r"\s+)(Whats[ -]?App|Telegram|Signal|WeChat|Line|Viber|KakaoTalk|Threema|Wickr)\b", re.I)
# "Whats App" and "Whats-App", as people write it (and as a stranger can, to pass a matcher that reads one word:
# attack42 #4), name the app too; the evidence names it "whatsapp"
# "on line 74", "via signal 11", "over Line 228": the ordinary words, not the apps (real list mail:
# code discussion on imagej-devel and twisted-python). After a person's own "add me on" / "reach me on" /
# "message me on" they are the apps, in any case and before a number too ("message me on Signal 07700
# 900123", "add me on signal"); otherwise never before a number, and in lower case not after "on", "via",
# "switch to" ("switch to signal handlers").
_NUMBERED_WORD = re.compile(r"(?:line|signal)\s*(?:\d|#)", re.I)
_LOWER_WORD = re.compile(r"(?:line|signal)\b")
_UPPER_WORD = re.compile(r"(?:LINE|SIGNAL)\b")
_BARE = frozenset({"on", "via", "through", "over", "use", "using"})
CAPS_WINDOW = 40
_LOWER = re.compile(r"[a-z]")
# the two words before "ON" (searched in a bounded window; a word the window cuts is none)
_WORDS_BEFORE = re.compile(r"(?:(?<![A-Za-z])([A-Za-z]+)\s+)?(?<![A-Za-z])([A-Za-z]+)\s+\Z")
_TALKING = frozenset({"me", "talk", "chat", "call", "text", "message", "connect", "speak", "continue"})
# before a verb of talking, a word that makes it a noun: "A TALK ON SIGNAL PROCESSING", "OUR CHAT ON LINE CODES"
_DETERMINERS = frozenset({"a", "an", "the", "this", "that", "our", "your", "my", "his", "her", "their", "its", "each",
                          "every", "next", "first", "one", "keynote", "invited"})
_PERSONAL_MOVE = frozenset({"add me on", "reach me on", "message me on"})


def _names_app(hay: str, m: re.Match[str]) -> bool:
    """Does this _MENTION match name the app rather than the ordinary word 'line' or 'signal'?"""
    at = m.start(1)
    if " ".join(hay[m.start():at].lower().split()) in _PERSONAL_MOVE:
        return True
    if _NUMBERED_WORD.match(hay, at) or _LOWER_WORD.match(hay, at):
        return False
    # in a stretch of capitals (no lowercase letter within CAPS_WINDOW characters either side, on its line), after a
    # bare "ON", "VIA" ...: the app after "ME" or a verb of talking ("CONTACT ME ON SIGNAL", "LET'S TALK ON SIGNAL"),
    # not after such a word made a noun ("A TALK ON SIGNAL PROCESSING": `_DETERMINERS`); the word in a heading
    # ("LECTURES ON SIGNAL THEORY", "FOLLOW US ON LINE": letter-spaced headings are read joined, review43b #1); after
    # a move ("MOVE TO SIGNAL") and in mixed case ("we are all on SIGNAL now") the app, as before. Bounded windows
    # (review43c #1: a scan of the match's whole line, per match, was quadratic)
    if _UPPER_WORD.match(hay, at) and " ".join(hay[m.start():at].split()).lower() in _BARE:
        start, end = max(0, m.start() - CAPS_WINDOW), min(len(hay), m.end() + CAPS_WINDOW)
        start = max(start, hay.rfind("\n", start, m.start()) + 1)
        stop = hay.find("\n", m.end(), end)
        if not _LOWER.search(hay, start, end if stop < 0 else stop):
            before = _WORDS_BEFORE.search(hay, max(0, m.start() - 32), m.start())
            return (before is not None and before.group(2).lower() in _TALKING
                    and (before.group(1) or "").lower() not in _DETERMINERS)
    return True
_PHONE = re.compile(r"(?<![\w+])(\+|00)(\d{1,3})[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,4}(?![\w])")
# where `_PHONE` may match: a "+" or "00" and a digit; and where it can: at most 23 digits (3 + 4 + 4 x 4) before the
# first character that is not a digit, which is no word character (a number ends before one). `_PHONE` tried some
# 1,400 ways to split a longer run of digits at every "+" (4 us a character: 0.24 s for 60 KB, regex32 #5)
_PHONE_START = re.compile(r"(?<![\w+])(?:\+|00)(?=\d)")
_PHONE_DIGITS = re.compile(r"\d{0,24}")
_WORD_CHARACTER = re.compile(r"\w")
# Someone's own personal channel, asked for or offered ("my personal address", "your mobile
# number", "email me privately"); a personal address mentioned in passing ("keep your private
# e-mail private", a newsletter's privacy tips) is not a request (real ham, SpamAssassin corpus).
_PERSONAL = re.compile(r"\b(?:my|your)\s+(?:own\s+)?(?:personal|private|non-?work|gmail)\s+"
                       r"(?:e-?mail|address|inbox|account|phone|number|mobile)"
                       r"|\b(?:share|send|give|use|provide)\s+(?:me\s+)?(?:a|an|your)\s+(?:personal|private|home|"
                       r"non-?work)\s+(?:e-?mail|address|number|phone)"
                       r"|\b(?:e-?mail|write to|contact|reach)\s+me\s+(?:privately|directly at)"
                       r"|\byour\s+(?:personal\s+|private\s+|mobile\s+|cell\s+|phone\s+)+number"
                       r"|\bsend me your number|\breply with your number", re.I)
_ADDRESS = re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+\b")
_LOCAL_TO_AT = re.compile(r"[A-Za-z0-9._%+-]+@")


def addresses_in(text: str) -> Iterator[str]:
    """`_ADDRESS.findall(text)`, trying the pattern only just before each '@' instead of at every
    place of up to 20,000 characters (where Python's `re` tries the 64-character local part at
    each). The same matches: every match holds exactly one '@' (no part of the pattern matches
    one), its local part is a run of the local class ending at that '@', at most 64 long, so the
    leftmost match for an '@' starts at the first place from which that run reaches it (found by
    one bounded search) or after it, and not before the previous match's end. Each place is
    tried once at most (whether the pattern matches there does not depend on which '@' is next),
    so a text of '@'s costs one try per character, as `findall` does."""
    end = tried = 0
    at = text.find("@")
    while at >= 0:
        run = _LOCAL_TO_AT.search(text, max(end, at - 64), at + 1)
        m = None
        for start in range(max(run.start(), tried), at) if run is not None else ():
            m = _ADDRESS.match(text, start)
            if m is not None:
                break
        tried = max(tried, at)
        if m is not None:
            yield m.group()
            end = m.end()
            at = text.find("@", end)
        else:
            at = text.find("@", at + 1)

# Claimed places -> plausible Date/Received UTC offsets (minutes) and the country's domain.
PLACES: dict[str, tuple[tuple[int, ...], str]] = {
    "california": ((-480, -420), "us"), "san francisco": ((-480, -420), "us"),
    "silicon valley": ((-480, -420), "us"), "los angeles": ((-480, -420), "us"),
    "seattle": ((-480, -420), "us"), "new york": ((-300, -240), "us"), "washington": ((-300, -240), "us"),
    "boston": ((-300, -240), "us"), "chicago": ((-360, -300), "us"), "toronto": ((-300, -240), "ca"),
    "london": ((0, 60), "uk"), "the uk": ((0, 60), "uk"), "england": ((0, 60), "uk"),
    "paris": ((60, 120), "fr"), "berlin": ((60, 120), "de"), "munich": ((60, 120), "de"),
    "brussels": ((60, 120), "be"), "geneva": ((60, 120), "ch"), "zurich": ((60, 120), "ch"),
    "amsterdam": ((60, 120), "nl"), "vienna": ((60, 120), "at"), "stockholm": ((60, 120), "se"),
    "moscow": ((180,), "ru"), "istanbul": ((180,), "tr"), "dubai": ((240,), "ae"),
    "tel aviv": ((120, 180), "il"), "delhi": ((330,), "in"), "mumbai": ((330,), "in"),
    "bangalore": ((330,), "in"), "singapore": ((480,), "sg"), "hong kong": ((480,), "hk"),
    "beijing": ((480,), "cn"), "shanghai": ((480,), "cn"), "shenzhen": ((480,), "cn"),
    "taipei": ((480,), "tw"), "tokyo": ((540,), "jp"), "seoul": ((540,), "kr"),
    "sydney": ((600, 660), "au"), "melbourne": ((600, 660), "au"),
}
_PLACE = "|".join(re.escape(p) for p in sorted(PLACES, key=len, reverse=True))
_CLAIM = re.compile(r"\b(?:(?:I|[Ww]e)(?:'m|'re| am| are)\s+(?:currently\s+)?(?:based|located)\s+(?:in|out of)|"
                    r"(?:I|[Ww]e)(?:'m|'re| am| are) (?:in|from)|"
                    r"(?:[Oo]ur|[Mm]y) (?:office|team|headquarters|HQ) in|(?:[Oo]ur|[Mm]y))\s+(?:the\s+)?"
                    r"(" + _PLACE + r")"
                    r"(?:\s+(?:office|team|headquarters|HQ|branch))?", re.I)
_OFFSET = re.compile(r"([+-])(\d{2})(\d{2})")
_BLANKS = re.compile(r"\s*+")


def _phones(text: str) -> list[str]:
    """The numbers `_PHONE.finditer(text)` finds, without their separators: `_PHONE` is tried only where it can
    match (`_PHONE_START`, `_PHONE_DIGITS`)."""
    out: list[str] = []
    at = 0
    for start in _PHONE_START.finditer(text):
        if start.start() < at:
            continue
        digits = _PHONE_DIGITS.match(text, start.end()).end()  # type: ignore[union-attr]  # (it always matches)
        if digits - start.end() > 23 or digits < len(text) and _WORD_CHARACTER.match(text[digits]):
            continue  # (no place for the number to end: it cannot be followed by a word character)
        m = _PHONE.match(text, start.start())
        if m is not None:
            out.append(re.sub(r"[\s().-]", "", m.group(0)))
            at = m.end()
    return out


def _offset_minutes(date_value: str) -> int | None:
    """The zone offset a Date ends with: the first "+hhmm" or "-hhmm" followed by blanks only, or by blanks and one
    comment on one line ("(CET)") and blanks; what `re.search(r"([+-])(\\d{2})(\\d{2})\\s*(?:\\(.*\\))?\\s*$")`
    found, in one pass (that pattern ran to the end from every offset: 0.75 s for a 97 KB Date of "+0000 (",
    regex32 #4)."""
    text = date_value or ""
    last = len(text.rstrip()) - 1  # the last character that is not a blank
    line = text.rfind("\n", 0, max(last, 0))  # (a comment is on one line)
    for m in _OFFSET.finditer(text):
        at = _BLANKS.match(text, m.end()).end()  # type: ignore[union-attr]  # (it matches the empty string)
        if at > last or text[at] == "(" and text[last] == ")" and at > line:
            minutes = int(m.group(2)) * 60 + int(m.group(3))
            return -minutes if m.group(1) == "-" else minutes
    return None


def received_hops(values: list[str]) -> list[dict[str, Any]]:
    """mail-parser's parse of Received headers (typed adapter; never raises)."""
    try:
        from mailparser.utils import receiveds_parsing
        hops = receiveds_parsing(values[:30])
    except Exception:  # noqa: BLE001 - third-party parser on hostile headers
        return []
    return [h for h in hops if isinstance(h, dict)]


# One RE2 pass over the text says which of the `re` patterns above can match at all
# (gateway/regex.py `Prefilter`: a superset of each pattern, read from the pattern itself); each
# `re` pattern then runs only where it can match, so the signals are those of running them all.
_GUARDED: dict[str, re.Pattern[str]] = {
    **{f"{channel}.{i}": pat for channel, pats in _HANDLES.items() for i, pat in enumerate(pats)},
    "mention": _MENTION, "phone": _PHONE, "personal": _PERSONAL, "address": _ADDRESS, "claim": _CLAIM,
}
_PREFILTER = Prefilter(_GUARDED)


def _possible(hay: str) -> frozenset[str]:
    """The `_GUARDED` patterns that may match in `hay` or in a part of it (text[:MAX_TEXT])."""
    return _PREFILTER.possible(hay)


def _haystack(text: str, links: Iterable[str]) -> str:
    return text[:MAX_TEXT] + "\n" + "\n".join(list(links)[:200])


def offchannel_signals(text: str, links: Iterable[str], source: str) -> list[Signal]:
    hay = _haystack(text, links)
    return _offchannel(hay, _possible(hay), source)


def _offchannel(hay: str, possible: frozenset[str], source: str, *, handles: bool = True) -> list[Signal]:
    """The handles (unless not `handles`: the other readings give the mention only) and the messenger mention."""
    out: list[Signal] = []
    lowered = hay.casefold()  # casefold: also what re.I folds (the long s, the Kelvin sign)
    for channel, patterns in _HANDLES.items() if handles else ():
        if not any(word in lowered for word in _NEEDS[channel]):
            continue
        # the first MAX_EVIDENCE distinct handles, the only ones given (cpu44 #2: every distinct one was kept in a
        # list searched for each: 6,000 "t.me/..." links cost 18 M comparisons, 0.38 s on the event loop)
        found: dict[str, None] = {}
        for i, pat in enumerate(patterns):
            if f"{channel}.{i}" not in possible:
                continue  # cannot match (see _GUARDED)
            for m in pat.finditer(hay):
                found[(m.group(1) if m.groups() and m.group(1) else m.group(0)).strip()] = None
                if len(found) == MAX_EVIDENCE:
                    break
            if len(found) == MAX_EVIDENCE:
                break
        if found:
            out.append(Signal(f"content.offchannel_{channel}", {"handles": ", ".join(found), "source": source}))
    named = {re.sub(r"[ -]", "", m.group(1).lower()) for m in _MENTION.finditer(hay) if _names_app(hay, m)} \
        if "mention" in possible and ("whats" in lowered or any(a in lowered for a in _APPS)) else set()
    if named:
        out.append(Signal("content.offchannel_mention", {"apps": ", ".join(sorted(named)), "source": source}))
    return out


def _utc(minutes: int) -> str:
    """A UTC offset in minutes as people write it: +08:00, -05:30, +00:00."""
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


class ContentCheck(Check):
    name = "content"
    io = False  # computes only: runs on the analysis task (see gateway/checks/__init__.py)
    signals = (
        *(signal(f"content.offchannel_{app}", f"gives a {app.title()} handle, link or number: a channel the "
                 "organisation cannot see", handles=str, source=str) for app in _HANDLES),
        signal("content.offchannel_mention", "asks to move to a messaging app", apps=str, source=str),
        signal("content.phone_number", "gives an international phone number", numbers=str, source=str),
        signal("content.personal_contact_request", "asks for or offers a personal (non-work) address or number",
               phrase=str, source=str),
        signal("content.freemail_address_in_body", "names a free-mail address other than the sender's",
               addresses=str, source=str),
        signal("content.location_mismatch", "claims a place that the Date offset or the Received path "
               "contradicts", claimed=str, claim=str, evidence=str, expected_offsets=str),
    )
    needs = (Persona, Origin)

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        view = ctx.view
        if internal_sender(ctx):
            return []
        persona = ctx.get(Persona)
        text = (persona.text if persona else "") or view.body_text
        source = "persona" if persona else "body"
        links = [] if persona else view.html_links
        hay = _haystack(text, links)  # text[:MAX_TEXT] is its start: one prefilter pass for both
        possible = _possible(hay)
        out = _offchannel(hay, possible, source)
        # an app named through marks or Latin look-alikes ("Wh\u1ea1tsApp", attack24 #9), or on a line the view read
        # another way too (`Disguises.spaced`: "W h a t s A p p", "continue\u2009on\u2009Whats\u200aApp"); handles as
        # written; each other reading once, its prefilter pass made once for the mention and the personal request
        readings = [cue_skeleton(hay)]
        if persona is None and view.disguises.spaced:
            spaced = one_space("\n".join(view.disguises.spaced))
            readings += [spaced, cue_skeleton(spaced)]
        others: dict[str, frozenset[str] | None] = dict.fromkeys(other for other in readings if other != hay)
        for other in others if not any(s.name == "content.offchannel_mention" for s in out) else ():
            others[other] = found = _possible(other)
            mention = _offchannel(other, found, source, handles=False)  # (the mention or nothing)
            out += mention
            if mention:
                break
        phones = list(dict.fromkeys(num for num in (_phones(text[:MAX_TEXT]) if "phone" in possible else ())
                                    if 8 <= len(num.lstrip("+0")) <= 15))
        if phones:
            out.append(Signal("content.phone_number", {"numbers": ", ".join(phones[:MAX_EVIDENCE]),
                                                       "source": source}))
        personal = _PERSONAL.search(text[:MAX_TEXT]) if "personal" in possible else None
        # (as the mention: "your p\u0323ersonal number", "your p e r s o n a l number": review42 #5)
        for other, made in others.items() if personal is None else ():
            if "personal" in (made if made is not None else _possible(other)):
                personal = _PERSONAL.search(other)
                if personal:
                    break
        if personal:
            out.append(Signal("content.personal_contact_request", {"phrase": personal.group(0), "source": source}))
        free = sorted({a for a in (addresses_in(text[:MAX_TEXT]) if "address" in possible else ())
                       if a.lower() != view.from_address and ctx.data.is_freemail(a.rsplit("@", 1)[1])})
        if free:
            out.append(Signal("content.freemail_address_in_body", {"addresses": ", ".join(free[:MAX_EVIDENCE]),
                                                                   "source": source}))
        loc = self._location(ctx, text) if "claim" in possible else None
        if loc:
            out.append(loc)
        return out

    def _location(self, ctx: CheckContext, text: str) -> Signal | None:
        if ctx.view.header("List-Id") or ctx.view.header("Mailing-List"):
            return None  # list posts quote and forward: the claim is rarely the sender's own
        m = _CLAIM.search(text[:MAX_TEXT])
        if m is None:
            return None
        place = m.group(1).lower()
        offsets, country = PLACES[place]
        date_off = _offset_minutes(ctx.view.header("Date") or "")
        conflicts = []
        shown = m.group(1)  # the place as the message writes it ("New York", "the UK")
        if date_off is not None and date_off != 0 and date_off not in offsets:
            conflicts.append(f"its Date is UTC{_utc(date_off)} ({shown} is UTC"
                             f"{' or '.join(_utc(o) for o in sorted(set(offsets)))})")
        hops = received_hops(ctx.view.headers("Received"))
        if hops:  # mail-parser numbers hops from the origin (hop 1 = the last Received header)
            origin = min(hops, key=lambda h: int(h["hop"]) if str(h.get("hop", "")).isdigit() else 99)
            host = str(origin.get("from", "")).split(" ", 1)[0].lower().rstrip(".")
            tld = host.rsplit(".", 1)[-1] if "." in host else ""
            if len(tld) == 2 and tld != country and tld not in ("io", "co", "me", "ai", "tv", "cc"):
                conflicts.append(f"it was sent from {host}")
        if not conflicts:
            return None
        return Signal("content.location_mismatch", {"claimed": shown, "claim": m.group(0)[:80],
                                                    "evidence": "; ".join(conflicts),
                                                    "expected_offsets": "/".join(f"{o:+d}" for o in offsets)})

"""What the message view undoes to read a stranger's text as a reader sees it (look-alike letters,
bidi overrides: parse.Disguises) and the structure check's signals for it (attack21 findings 5/6)."""

from __future__ import annotations

import random
import textwrap
import unicodedata

import pytest

from gateway.checks.content import ContentCheck
from gateway.checks.structure import StructureCheck
from gateway.model import Client, Envelope, Verdict
from gateway.parse import AHEAD_CHARS, HEAD_CHARS, THIN_IN_PLACE, MessageView
from gateway.runtime import Runtime
from tests.support.messages import config, message, names, one, run

_CYR = str.maketrans("aeopcxiAOC", "\u0430\u0435\u043e\u0440\u0441\u0445\u0456\u0410\u041e\u0421")
BODY = "Dear Tom,\n\nCould we continue on WhatsApp? I am a correspondent for the Financial Chronicle.\n"
FROM = "Laura <laura.b@gmail.com>"


def test_the_view_reads_look_alike_letters_as_latin_and_keeps_the_subject_as_written() -> None:
    subject = "Interview request".translate(_CYR)
    view = MessageView.parse(message(FROM, BODY.translate(_CYR), subject=subject))
    assert view.body_text.rstrip("\n") == BODY.rstrip("\n")
    assert view.visible_subject == "Interview request" and view.subject == subject  # the tag writes back as sent
    # 13 words of the body (not the lone "a"), 2 of the Subject; the first read: the body's
    assert view.disguises.lookalike_words == 15 and view.disguises.lookalike_example == "Dear"


def test_the_view_reads_html_overrides_in_display_order_and_links_as_written() -> None:
    # the link in a paragraph of its own: on one line, UAX #9 joins the two overrides across the "?"
    # (N1) and a reader sees "work?WhatsApp" (attack22 #5)
    html = ('<p>Could we continue on \u202eppAstahW\u202c?</p>'
            '<p><a href="https://x.example/\u202eab\u202c">\u202ekrow\u202c</a></p>')
    view = MessageView.parse(message(FROM, "", html=html))
    assert "continue on WhatsApp?" in view.html_text and "work" in view.html_text
    assert view.html_links == ["https://x.example/ab"]  # a browser follows the href as written
    assert view.disguises.overrides == 2 and not view.disguises.rtl


def test_structure_signals_the_disguises() -> None:
    sig, _ = run([StructureCheck()], message(FROM, BODY.translate(_CYR)))
    assert one(sig, "text.confusables").evidence == {"words": 13, "word": "Dear"}
    assert "text.bidi_override" not in names(sig)
    sig, _ = run([StructureCheck()], message(FROM, "on \u202eppAstahW\u202c, \u202esemit\u202c"))
    assert one(sig, "text.bidi_override").evidence == {"overrides": 2}
    # an override in Hebrew text may be the writer's; Russian text and plain text are no disguise
    sig, _ = run([StructureCheck()], message(FROM, "\u05e9\u05dc\u05d5\u05dd \u202dabc\u202c"))
    russian = ("\u0421\u043e\u0441\u0435\u0434 \u043f\u0440\u043e\u0434\u0430\u043b "
               "\u0441\u043e\u0440\u043e\u043a \u043a\u043e\u0440\u043e\u0432")
    sig += run([StructureCheck()], message(FROM, russian + "\n" + BODY))[0]
    assert not names(sig) & {"text.bidi_override", "text.confusables"}


def test_the_checks_read_the_cue_words_through_the_disguise() -> None:
    """The off-channel ask in look-alike letters or reversed under an override is read as written
    in Latin (it was missed: attack21 cyr-apps, bidi-cues)."""
    # "? Call": a digit right after the override would join it (UAX #9 W7, N1: a reader sees the number
    # before the word), a Latin word ends it (attack22 #5)
    for body in ("Could we continue on \u051ch\u0430ts\u0410\u0440\u0440? +44 7700 900123",
                 "Could we continue on \u202eppAstahW\u202c? Call +44 7700 900123"):
        sig, _ = run([ContentCheck()], message(FROM, body))
        assert one(sig, "content.offchannel_mention").evidence["apps"] == "whatsapp", body


def test_html_bdo_and_css_overrides_are_read_in_reading_order_and_signalled() -> None:
    """attack22 #6: cue words reversed in <bdo dir="rtl"> or a CSS bidi-override were read reversed
    (an approach scanned clean 2.6) and raised no text.bidi_override."""
    for html in ('<p>Could we continue on <bdo dir="rtl">ppAstahW</bdo>?</p>',
                 '<p>Could we continue on <span style="unicode-bidi:bidi-override; direction:rtl">'
                 'ppAstahW</span>?</p>'):
        msg = message(FROM, "", html=html)
        assert "continue on WhatsApp?" in MessageView.parse(msg).html_text
        sig, _ = run([StructureCheck()], msg)
        assert one(sig, "text.bidi_override").evidence == {"overrides": 1}, html


def test_words_split_by_a_narrow_space_are_read_joined_and_signalled() -> None:
    """attack23 N2: cue words split between two letters by a hair, thin, six-per-em or narrow no-break
    space or the braille blank read as one word (a reader sees one) and raise text.split_words; a word
    space, a no-break space and French typography (a narrow space before "!" and in numbers) do not."""
    for sep in "\u200a\u2009\u2006\u202f\u2800":
        body = f"Could we continue on Wh{sep}atsApp? Please keep this be{sep}{sep}tween us."
        msg = message(FROM, body, subject=f"Te{sep}legram")
        view = MessageView.parse(msg)
        assert "continue on WhatsApp? Please keep this between us." in view.body_text, repr(sep)
        assert view.visible_subject == "Telegram"
        sig, _ = run([StructureCheck()], msg)
        assert one(sig, "text.split_words").evidence == {"splits": 3, "word": "WhatsApp"}, repr(sep)
        sig, _ = run([ContentCheck()], msg)
        assert one(sig, "content.offchannel_mention").evidence["apps"] == "whatsapp", repr(sep)
    french = "Bonjour\u202f! Le prix est de 1\u202f000\u202fEUR, voir p.\u2009ex. Wh atsApp, Wh\u00a0atsApp."
    view = MessageView.parse(message(FROM, french))
    # (a no-break space is a word space: read as " ", see the test below)
    assert view.body_text.rstrip("\n") == french.replace("\u00a0", " ") and view.disguises.split_words == 0


def test_no_break_and_other_word_spaces_are_read_as_spaces() -> None:
    """HTML's &nbsp; (Outlook's and Gmail's HTML are full of it) and the other word spaces a reader sees as a
    space: the cue phrases, a claimed role and a request for a personal number behind them are read as
    with " " (session 41: a stranger's &nbsp; between every word had hidden all of them)."""
    from gateway.checks.claims import ClaimsCheck
    from gateway.checks.pretext import PretextCheck
    from gateway.textsafe import plain_spaces
    words = ("Dear Tom, I am a reporter at the Baltic Morning Herald. Please keep this between us. We would value "
             "your views on the sanctions regime. My personal number is +44 7700 900123.")
    for space in ("&nbsp;", "\u00a0", "\u2002", "\u2003", "\u3000"):
        msg = message(FROM, "", html="<p>" + words.replace(" ", space) + "</p>")
        sig, _ = run([PretextCheck(), ContentCheck(), ClaimsCheck()], msg)
        assert {"pressure.secrecy", "ask.views", "content.personal_contact_request",
                "claim.institutional_role"} <= names(sig), repr(space)
        assert words in MessageView.parse(msg).html_text, repr(space)
    assert plain_spaces("a\u00a0b\u2007c\u205fd") == "a b c d" and plain_spaces("ascii") == "ascii"
    assert plain_spaces("Wh\u200aats") == "Wh\u200aats"  # a narrow space is the split-word reading's (above)


def test_mongolian_suffixes_after_a_narrow_no_break_space_are_not_split_words() -> None:
    """In Mongolian script U+202F NARROW NO-BREAK SPACE is the standard separator before a case
    suffix or particle (The Unicode Standard ch. 13.5; UAX #14): real Mongolian text raised
    text.split_words (and rule split-words, 2 pt). One U+202F between two Mongolian letters is not a
    split; the same space between Latin or Cyrillic letters, a run of them, or another narrow space
    between Mongolian letters still is (attack23 N2)."""
    # mongɣol-un bičig-i ("the Mongolian script", genitive and accusative suffixes), ulus-tu ("to the state")
    mongolian = ("\u182e\u1823\u1829\u182d\u1823\u182f\u202f\u1824\u1828 \u182a\u1822\u1834\u1822\u182d\u202f\u1822 "
                 "\u1824\u182f\u1824\u1830\u202f\u1832\u1824\u1803")
    msg = message(FROM, mongolian, subject="\u182e\u1823\u1829\u182d\u1823\u182f\u202f\u1824\u1828")
    view = MessageView.parse(msg)
    assert view.body_text.rstrip("\n") == mongolian and view.disguises.split_words == 0
    assert "text.split_words" not in names(run([StructureCheck()], msg)[0])
    mixed = (mongolian + " Wh\u202fatsApp \u0422\u0435\u043b\u0435\u202f\u0433\u0440\u0430\u043c"
             " \u182e\u202f\u202f\u1824 \u182e\u2009\u1824")
    sig, _ = run([StructureCheck()], message(FROM, mixed))
    assert one(sig, "text.split_words").evidence == {"splits": 4, "word": "WhatsApp"}


def test_a_narrow_space_next_to_a_circled_or_squared_look_alike_is_read_joined() -> None:
    """attack24 #8: "Wh\u200a\u24d0tsApp" (a hair space before a circled a) scored caution 4.6, each trick
    alone high 31.8: the join needs a letter each side (a circled letter is So) and ran before the
    look-alikes were read. It runs again after: both tricks read as a reader sees them."""
    for word in ("Wh\u200a\u24d0tsApp", "W\u24d7\u200aatsApp", "Wh\u200a\U0001f130tsApp", "Wh\u2009\u0430tsApp"):
        msg = message(FROM, f"Could we continue on {word}? Please keep this between us.", subject=word,
                      html=f"<p>Could we continue on {word}?</p>")
        view = MessageView.parse(msg)
        assert "continue on WhatsApp?" in view.body_text.replace("WhA", "Wha"), repr(word)
        assert "continue on WhatsApp?" in view.html_text.replace("WhA", "Wha"), repr(word)
        assert view.visible_subject.lower() == "whatsapp", repr(word)
        sig, _ = run([StructureCheck()], msg)
        assert one(sig, "text.split_words").evidence["splits"] == 3, repr(word)  # text, HTML, Subject
        sig, _ = run([ContentCheck()], msg)
        assert one(sig, "content.offchannel_mention").evidence["apps"] == "whatsapp", repr(word)


def test_css_overrides_from_a_style_block_inheritance_comments_and_escapes_are_signalled() -> None:
    """attack23 H1: cue words reversed under an override from a style block's class, a direction
    inherited from an ancestor, a CSS comment or escape were read reversed, no signal; a style
    block's override that cannot be applied (a selector not read) is still signalled."""
    for html in ('<style>.r{unicode-bidi:bidi-override;direction:rtl}</style>'
                 '<p>on <span class="r">ppAstahW</span></p>',
                 '<p>on <span style="direction:rtl"><span style="unicode-bidi:bidi-override">ppAstahW</span></span>'
                 '</p>',
                 '<p>on <span style="unicode-bidi:/**/bidi-override;direction:\\72 tl">ppAstahW</span></p>'):
        msg = message(FROM, "", html=html)
        assert "on WhatsApp" in MessageView.parse(msg).html_text, html
        sig, _ = run([StructureCheck()], msg)
        assert one(sig, "text.bidi_override").evidence == {"overrides": 1}, html
    unread = '<style>p span{unicode-bidi:bidi-override;direction:rtl}</style><p>on <span>ppAstahW</span></p>'
    sig, _ = run([StructureCheck()], message(FROM, "", html=unread))
    assert one(sig, "text.bidi_override").evidence == {"overrides": 1}


def test_cue_words_are_read_through_marks_and_latin_look_alikes() -> None:
    """attack24 #9: cue words written with Latin letters the look-alike reading keeps as Latin (dotless
    i, dental click for l, kra for k, tone six for b) or with a dot below their vowels (precomposed or
    U+0323) scored clean 2.6; the pretext and off-channel matchers read them on a UTS #39 skeleton with
    the marks dropped too (textsafe.cue_skeleton), without counting a disguise."""
    from gateway.checks.pretext import PretextCheck
    plain = ("We offer an honorarium for your views on the sanctions regime, paid discreetly. "
             "Could we continue on WhatsApp?")
    for table in ({"i": "\u0131", "l": "\u01c0", "k": "\u0138", "b": "\u0185"},
                  {"a": "\u1ea1", "e": "\u1eb9", "o": "\u1ecd", "i": "\u1ecb", "u": "\u1ee5"},
                  {"a": "a\u0323", "e": "e\u0323", "o": "o\u0323"}):
        sig, _ = run([PretextCheck(), ContentCheck(), StructureCheck()],
                     message(FROM, "".join(table.get(c, c) for c in plain)))
        assert {"offer.money", "ask.views", "pressure.secrecy", "content.offchannel_mention"} <= names(sig), table
        assert "text.confusables" not in names(sig)
    from gateway.textsafe import cue_skeleton
    russian = "\u0441\u043e\u0441\u0435\u0434"  # another script's letters stay
    assert cue_skeleton(f"Se\u00f1or J\u00f8rgen, \u0130stanbul \u0131\u015f\u0131k, {russian}") == (
        f"Senor Jorgen, Istanbul isik, {russian}")
    # the apostrophes mail clients write ("don\u2019t": Outlook, Apple Mail, Word) read as "'" by the cue matchers
    assert cue_skeleton("don\u2019t, we\u2018d, I\u02bcm, it\uff07s, don\u00b4t, can\u2032t") == (
        "don't, we'd, I'm, it's, don't, can't")
    # ligatures and Unicode hyphens read as their letters and "-"
    assert cue_skeleton("con\ufb01dential o\ufb00er o\ufb00\u2011the\u2010record") == (
        "confidential offer off-the-record")
    for text in ("This is strictly con\ufb01dential.", "Let\u2019s keep it o\ufb00\u2011the\u2011record."):
        sig, _ = run([PretextCheck()], message(FROM, text))
        assert "pressure.secrecy" in names(sig), text
    for typed in ("\u2019", "\u02bc", "\u00b4"):
        sig, _ = run([PretextCheck()], message(FROM, f"Please don{typed}t tell your colleagues about it."))
        assert "pressure.secrecy" in names(sig), typed


APPROACH = ("Dear Tom, I am a correspondent for the Financial Chronicle. We offer an honorarium for your views "
            "on the sanctions regime, paid discreetly, and would cover your travel to Vienna for a private "
            "round table. Could we continue on WhatsApp? My number is +44 7700 900123.")


def test_an_html_alternative_that_says_what_its_plain_part_does_not_is_read() -> None:
    """A reader shows the HTML alternative (RFC 2046 5.1.4); the checks read the plain one. An approach
    written only in the HTML behind a plain "Thank you, I will be in touch soon." was read as that
    sentence (12 training approaches rebuilt so: 11 went from suspicious/high to clean 0.5). Now the
    HTML alternative that shows 12 or more runs of three words its plain part lacks is read instead, and
    signalled (text.parts_differ), also behind a plain part holding the same words in another order; an
    HTML part that says what the plain one says leaves the plain one read."""
    from gateway.checks.pretext import PretextCheck
    html = f"<html><body><p>{APPROACH}</p></body></html>"
    decoy = message(FROM, "Thank you, I will be in touch soon.", html=html)
    view = MessageView.parse(decoy)
    # the HTML first, then the plain part (what a reader preferring plain text sees)
    assert view.body_text == f"{APPROACH}\nThank you, I will be in touch soon."
    sig, _ = run([PretextCheck(), ContentCheck(), StructureCheck()], decoy)
    assert {"offer.money", "ask.views", "pressure.secrecy", "content.offchannel_mention"} <= names(sig)
    runs = one(sig, "text.parts_differ").evidence
    assert runs["of"] >= runs["runs"] >= 12
    # a decoy of the same words in another order shares the words, not the runs
    salad = " ".join(sorted(APPROACH.split(), key=str.casefold))
    view = MessageView.parse(message(FROM, salad, html=html))
    assert view.body_text == f"{APPROACH}\n{salad}" and view.parts_differ
    # ... and so does one of the same words glued together by a character that is not a space (attack25 F3)
    for glue in ("_", "0"):
        view = MessageView.parse(message(FROM, glue.join(APPROACH.split()), html=html))
        assert view.body_text.startswith(APPROACH) and view.parts_differ, glue
    # the same words in both parts (a client writes its plain alternative from the HTML): plain read
    same = MessageView.parse(message(FROM, APPROACH + "\n-- \nTom's mail client", html=html))
    assert same.body_text.startswith("Dear Tom") and "mail client" in same.body_text and not same.parts_differ
    sig, _ = run([StructureCheck()], message(FROM, APPROACH, html=html))
    assert "text.parts_differ" not in names(sig)
    # an HTML alternative with fewer than 12 runs the plain one lacks: the plain one is read, and ahead of it the
    # HTML's passage round the words it lacks (eight words either side: review29d K1-K6)
    short = MessageView.parse(message(FROM, APPROACH, html=f"<p>{APPROACH} View this email in your browser.</p>"))
    assert short.body_text == f"on WhatsApp? My number is +44 7700 900123. View this email in your browser.\n{APPROACH}"
    assert not short.parts_differ


def test_the_html_alternative_inside_a_related_part_and_plain_parts_outside_alternatives() -> None:
    """Apple Mail and Outlook nest the HTML in multipart/related inside the alternative: still the
    plain part's alternative. Parts outside any alternative (a multipart/mixed's inline parts) are
    all shown by a reader, in order, and all read: a plain one as before, and an HTML one too (it was
    left unread beside a plain part: "Hi" in text/plain, then the approach in text/html)."""
    raw = "\r\n".join([
        f"From: {FROM}", "To: Tom <tom@example.ac.uk>", "Subject: hello", "Message-ID: <n1@test>",
        "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="m"', "",
        "--m", 'Content-Type: multipart/alternative; boundary="a"', "",
        "--a", "Content-Type: text/plain", "", "Thank you, I will be in touch soon.",
        "--a", 'Content-Type: multipart/related; boundary="r"', "",
        "--r", "Content-Type: text/html", "", f"<p>{APPROACH}</p>",
        "--r", "Content-Type: image/png", "Content-Transfer-Encoding: base64", "", "iVBORw0KGgo=",
        "--r--", "--a--",
        "--m", "Content-Type: text/plain", "", "Sent from the road.",
        "--m", "Content-Type: text/html", "", "<p>A postscript in HTML.</p>",
        "--m--", ""]).encode()
    view = MessageView.parse(raw)
    assert view.body_text == (f"{APPROACH}\nThank you, I will be in touch soon.\nSent from the road.\n"
                              "A postscript in HTML.")
    assert list(view.parts_differ.values())[0][0] >= 12


def test_an_html_part_beside_a_plain_one_in_a_mixed_message_is_read() -> None:
    """multipart/mixed with an inline text/plain "Hi" and then the approach in an inline text/html part:
    Thunderbird, Apple Mail and Gmail show both in order; the checks read only the plain "Hi"."""
    from gateway.checks.pretext import PretextCheck
    raw = "\r\n".join([
        f"From: {FROM}", "To: Tom <tom@example.ac.uk>", "Subject: hello", "Message-ID: <n2@test>",
        "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="m"', "",
        "--m", "Content-Type: text/plain", "", "Hi Tom,",
        "--m", "Content-Type: text/html", "", f"<p>{APPROACH}</p>", "--m--", ""]).encode()
    assert MessageView.parse(raw).body_text == f"Hi Tom,\n{APPROACH}"
    sig, _ = run([PretextCheck(), ContentCheck()], raw)
    assert {"offer.money", "ask.views", "pressure.secrecy", "content.offchannel_mention"} <= names(sig)


def test_an_html_part_no_plain_part_stands_in_for_is_read_and_an_alternative_whatever_its_disposition() -> None:
    """attack25 F1, F2, F4, F5, F7: the HTML of a nested alternative next to a plain decoy, of an alternative
    holding only HTML after a plain part in a mixed message, an alternative marked as an attachment (a
    reader shows the chosen alternative inline), a short approach (fewer than 12 runs, all new) behind a
    decoy, and a plain approach whose HTML shows it only through CSS generated content: each was read
    as the decoy (or as the HTML's footer) and scored clean 2.6 without its Subject."""
    from gateway.checks.pretext import PretextCheck
    head = [f"From: {FROM}", "To: Tom <tom@example.ac.uk>", "Subject: hello", "Message-ID: <n3@test>",
            "MIME-Version: 1.0"]
    html = f"<p>{APPROACH}</p>"
    decoy = "Thank you, I will be in touch soon."
    nested = head + ['Content-Type: multipart/alternative; boundary="a"', "", "--a", "Content-Type: text/plain", "",
                     decoy, "--a", 'Content-Type: multipart/alternative; boundary="b"', "", "--b",
                     "Content-Type: text/html", "", html, "--b--", "--a--", ""]
    mixed = head + ['Content-Type: multipart/mixed; boundary="m"', "", "--m", "Content-Type: text/plain", "", decoy,
                    "--m", 'Content-Type: multipart/alternative; boundary="b"', "", "--b", "Content-Type: text/html",
                    "", html, "--b--", "--m--", ""]
    attached = head + ['Content-Type: multipart/alternative; boundary="a"', "", "--a", "Content-Type: text/plain", "",
                       decoy, "--a", "Content-Type: text/html", "Content-Disposition: attachment; filename=m.htm", "",
                       html, "--a--", ""]
    short = "We pay for your views, discreetly. Can we talk on WhatsApp?"
    brief = head + ['Content-Type: multipart/alternative; boundary="a"', "", "--a", "Content-Type: text/plain", "",
                    decoy, "--a", "Content-Type: text/html", "", f"<p>{short}</p>", "--a--", ""]
    css = head + ['Content-Type: multipart/alternative; boundary="a"', "", "--a", "Content-Type: text/plain", "",
                  APPROACH, "--a", "Content-Type: text/html", "", f'<style>p::before{{content:"{APPROACH}"}}</style>'
                  "<p></p><footer>Sent from my phone. Please consider the environment before printing this "
                  "email and all of its attachments today.</footer>", "--a--", ""]
    for name, lines, want in (("nested", nested, APPROACH), ("mixed", mixed, APPROACH),
                              ("attached", attached, APPROACH), ("short", brief, short), ("css", css, APPROACH)):
        raw = "\r\n".join(lines).encode()
        assert want in MessageView.parse(raw).body_text, name
        sig, _ = run([PretextCheck(), ContentCheck()], raw)
        assert {"offer.money", "content.offchannel_mention"} <= names(sig), name


def _alternative(plain: str, html: str, boundary: str = "a") -> list[str]:
    return [f'Content-Type: multipart/alternative; boundary="{boundary}"', "", f"--{boundary}",
            "Content-Type: text/plain", "", plain, f"--{boundary}", "Content-Type: text/html", "", html,
            f"--{boundary}--"]


HEAD = [f"From: {FROM}", "To: Tom <tom@example.ac.uk>", "Subject: hello", "Message-ID: <n4@test>", "MIME-Version: 1.0"]


def _alternative_raw(plain: str, html: str) -> bytes:
    """A message of HEAD and one multipart/alternative of these two parts."""
    return "\r\n".join(HEAD + [*_alternative(plain, html), ""]).encode()


def test_an_alternative_with_a_blank_plain_part_is_read_as_its_html_without_the_differing_signal() -> None:
    """Session 25's wart: an alternative whose plain part is blank (mailers that write an empty one) made
    `text.parts_differ` fire, though nothing was hidden; Rspamd's R_PARTS_DIFFER compares two non-empty parts
    only. Its HTML is still read, beside the message's other plain text."""
    from gateway.checks.pretext import PretextCheck
    lines = HEAD + ['Content-Type: multipart/mixed; boundary="m"', "", "--m", "Content-Type: text/plain", "",
                    "Forwarded below.", "--m", *_alternative("  ", f"<p>{APPROACH}</p>", "b"), "--m--", ""]
    raw = "\r\n".join(lines).encode()
    view = MessageView.parse(raw)
    assert view.parts_differ == {} and APPROACH in view.body_text and "Forwarded below." in view.body_text
    sig, _ = run([PretextCheck(), ContentCheck(), StructureCheck()], raw)
    assert {"offer.money", "content.offchannel_mention"} <= names(sig)
    assert "text.parts_differ" not in names(sig)


def _scores(raw: bytes) -> set[str]:
    from gateway.checks.pretext import PretextCheck
    sig, _ = run([PretextCheck(), ContentCheck(), StructureCheck()], raw)
    return names(sig)


FILL = "Thank you for your note, I will reply in due course. "
APPROACH_CUES = {"offer.money", "content.offchannel_mention"}


def test_text_a_reader_may_not_see_does_not_push_an_approach_past_the_readers_windows() -> None:
    """docs/known-limits.md (review25 #2's shape): 200 KB of text a reader does not see ahead of an approach
    pushed it past the readers' windows (clean 2.6; high 48.9 alone): hidden HTML text, and the plain sides
    of alternatives whose HTML shows nothing. With more than 500 characters a style may hide, an HTML part's
    text without them is read too, its first AHEAD_CHARS characters after the first AHEAD_CHARS of the part; the
    plain sides of such thin alternatives are read in place up to THIN_IN_PLACE characters in all, the rest after
    the rest. Nothing is dropped."""
    spellings = {"inline": '<div style="display:none">{}</div>', "class": '<div class="h">{}</div>',
                 "attribute": "<div hidden>{}</div>", "template": "<template>{}</template>",
                 "tiny": '<div style="font-size:1px">{}</div>'}
    for name, wrap in spellings.items():  # review26c #7: the spellings the first reading does not take as hiding
        html = ("<style>.h{display:none} p{color:#222!important}</style>" + wrap.format(FILL * 4000)
                + f"<p>{APPROACH}</p>")
        raw = "\r\n".join(HEAD + ["Content-Type: text/html", "", html, ""]).encode()
        text = MessageView.parse(raw).body_text
        assert text.split().count("note,") == 4_000, name  # all of it read, in place
        assert text.index(APPROACH) < AHEAD_CHARS + 100, name
        assert APPROACH_CUES <= _scores(raw), name
    alternatives = HEAD + ['Content-Type: multipart/mixed; boundary="m"', ""]
    for k in range(150):  # review26c #7: many short ones
        alternatives += ["--m", *_alternative(FILL * 9, "<br>", f"f{k}")]
    alternatives += ["--m", *_alternative("Thank you, I will be in touch soon.", f"<p>{APPROACH}</p>", "z"), "--m--",
                     ""]
    raw = "\r\n".join(alternatives).encode()
    text = MessageView.parse(raw).body_text
    assert text.split().count("note,") == 150 * 9 and text.index(APPROACH) < THIN_IN_PLACE + 100  # every word read
    assert APPROACH_CUES <= _scores(raw)


def test_what_a_reader_may_see_is_not_moved_behind_what_it_sees_later() -> None:
    """review26c #1-#3: moving text a style may hide after all the visible text lost approaches a reader sees
    at the top (an inline span with height:0 is shown; Outlook shows a max-height:0 block): high 49.9 ->
    clean 2.6 behind 60 KB of visible filler; so did moving a thin alternative's plain side (the HTML shows
    the letter as an image) behind later inline parts, and a hidden preheader in an unread HTML alternative
    that used up the allowance. The first reading keeps hidden text in place; a thin plain side's first
    2,000 characters stay in place, counted over the parts read."""
    visible_filler = "<p>" + FILL * 1200 + "</p>"
    letter = FILL * 12 + APPROACH  # (past the 500 characters 9e76ed4 kept in place)
    for wrap in ('<span style="height:0;overflow:hidden">{}</span>',
                 '<div style="max-height:0;overflow:hidden">{}</div>'):
        html = wrap.format(letter) + visible_filler
        raw = "\r\n".join(HEAD + ["Content-Type: text/html", "", html, ""]).encode()
        assert MessageView.parse(raw).body_text.index(APPROACH) < 2_100, wrap  # behind 60 KB on 9e76ed4
        assert APPROACH_CUES <= _scores(raw), wrap
    image = ['Content-Type: multipart/mixed; boundary="m"', "", "--m",
             *_alternative(letter, '<img src="cid:letter">', "a"),
             "--m", "Content-Type: text/plain", "", FILL * 1200, "--m--", ""]
    preheader = ['Content-Type: multipart/mixed; boundary="m"', "", "--m",
                 *_alternative("Hello Tom.", f'<div style="display:none">{FILL * 20}</div><p>Hello Tom.</p>', "p"),
                 "--m", *_alternative(letter, '<img src="cid:letter">', "a"),
                 "--m", "Content-Type: text/plain", "", FILL * 1200, "--m--", ""]
    for name, lines in (("image", image), ("preheader", preheader)):
        raw = "\r\n".join(HEAD + lines).encode()
        assert MessageView.parse(raw).body_text.index(APPROACH) < 2_100, name  # behind 60 KB on 9e76ed4
        assert APPROACH_CUES <= _scores(raw), name
    # a short preheader stays where it stands; an image-only HTML's plain side is read, all of it, in place
    pre = "Our quarterly news: the agenda for the spring meeting inside"
    view = MessageView.parse("\r\n".join(HEAD + ["Content-Type: text/html", "", f'<div style="display:none">{pre}'
                                                   f"</div><p>{APPROACH}</p>", ""]).encode())
    assert view.body_text.index(pre) < view.body_text.index(APPROACH)
    notice = "Dear members, the spring meeting is on 4 May in the main hall. " * 20
    view = MessageView.parse("\r\n".join(HEAD + _alternative(notice, '<img src="cid:x">') + [""]).encode())
    assert view.body_text.split() == notice.split()


def test_css_generated_content_of_an_html_only_message_is_read() -> None:
    """docs/known-limits.md (attack25 F5 without a plain part): an approach shown only through a style block's
    `::before`/`::after` content was not read at all (clean). Those strings are now read after the visible
    text, concatenated as CSS shows them."""
    from gateway.checks.pretext import PretextCheck
    half = len(APPROACH) // 2
    html = (f'<style>p.a::before{{content:"{APPROACH[:half]}" "{APPROACH[half:]}"}} li:after{{content:"\\2022"}}'
            "</style><p class=a></p><footer>Sent from my phone.</footer>")
    raw = "\r\n".join(HEAD + ["Content-Type: text/html", "", html, ""]).encode()
    assert APPROACH in MessageView.parse(raw).body_text
    sig, _ = run([PretextCheck(), ContentCheck()], raw)
    assert {"offer.money", "content.offchannel_mention"} <= names(sig)


def test_both_sides_of_a_differing_alternative_start_within_the_readers_reach() -> None:
    """review25 #1: read HTML first, a plain approach behind 45 KB of visible HTML (the approach shown
    through CSS content) fell past the text model's 4,000 characters and the pretext readers' 40,000
    (high 48.9 on dc9ac97, clean 2.6). Each side's first 2,000 characters now come first."""
    filler = "<p>" + "Our quarterly newsletter brings the latest news from the regional office. " * 600 + "</p>"
    raw = "\r\n".join(HEAD + _alternative(APPROACH, filler) + [""]).encode()
    view = MessageView.parse(raw)
    assert view.parts_differ and len(view.body_text) > 40_000
    assert 0 < view.body_text.index(APPROACH) < 2_100


def test_alternatives_the_comparison_budget_leaves_uncompared_are_read_both_ways() -> None:
    """review25 #2: 17 leading alternatives of long plain text (HTML showing nothing) used up the
    200,000-character budget and the next alternative, a plain decoy over an HTML approach, was read
    as the decoy (high 48.9 alone, clean 2.6 behind them)."""
    from gateway.parse import PARTS_COMPARE_CHARS
    long_plain = "Minutes of the meeting, item by item, as agreed. " * 240  # ~12,000 characters
    lines = ['Content-Type: multipart/mixed; boundary="m"', ""]
    fillers = PARTS_COMPARE_CHARS // len(long_plain) + 10  # the budget is all but gone at the last alternative
    for i in range(fillers):
        lines += ["--m", *_alternative(long_plain, "<p>Minutes of the meeting, item by item, as agreed.</p>", f"f{i}")]
    lines += ["--m", *_alternative("Thank you, I will be in touch soon.", f"<p>{APPROACH}</p>", "z"), "--m--", ""]
    view = MessageView.parse("\r\n".join(HEAD + lines).encode())
    assert APPROACH in view.body_text and not view.mime_parts_exceeded


def test_links_written_the_plain_way_do_not_make_an_alternative_differ() -> None:
    """review25 #4: Outlook writes a plain alternative's links as "word<https://...>", one word where
    the HTML shows one: four links made an ordinary message 'differ' and be read twice."""
    links = [("the report", "https://www.example.net/2026/report"), ("the annex", "https://www.example.net/annex"),
             ("the data", "https://www.example.net/data"), ("the event page", "https://www.example.net/events/1"),
             ("my page", "https://www.example.net/people/ann")]
    plain = "Thanks, that works for me. " + " ".join(f"See {t}<{u}> for more." for t, u in links)
    html = "<p>Thanks, that works for me. " + " ".join(f'See <a href="{u}">{t}</a> for more.' for t, u in links)
    view = MessageView.parse(message(FROM, plain, html=html))
    assert not view.parts_differ and view.body_text == plain


def test_an_attachment_of_a_mixed_part_inside_an_alternative_stays_an_attachment() -> None:
    """review25 #5: Apple Mail puts an HTML message's attachments in alternative > mixed > (html,
    attachment, html). Only the alternative's own parts are read whatever their disposition says."""
    csv = "name,email\r\nJane Li,jane.li@gmail.com,prefers WhatsApp"
    lines = ['Content-Type: multipart/alternative; boundary="a"', "", "--a", "Content-Type: text/plain", "",
             "Hi Tom, here is the list.", "--a", 'Content-Type: multipart/mixed; boundary="m"', "",
             "--m", "Content-Type: text/html", "", "<p>Hi Tom, here is the list.</p>",
             "--m", "Content-Type: text/csv", 'Content-Disposition: attachment; filename="s.csv"', "", csv,
             "--m--", "--a--", ""]
    view = MessageView.parse("\r\n".join(HEAD + lines).encode())
    assert [p.content_type for p in view.text_parts] == ["text/plain", "text/html"]
    assert "WhatsApp" not in view.body_text


# fix25look: the letters each script has for the cue words' letters (confusables.txt prototypes)
_SPELLINGS = {
    "cyrillic": {"a": "\u0430", "o": "\u043e", "e": "\u0435", "p": "\u0440", "c": "\u0441"},
    "armenian": {"o": "\u0585", "u": "\u057d", "h": "\u0570", "n": "\u0578", "g": "\u0581", "S": "\u054f"},
    "cherokee": {"W": "\u13b3", "A": "\u13aa", "S": "\u13da", "h": "\u13c2", "i": "\u13a5", "d": "\u13e7"},
    "coptic": {"o": "\u2c9f", "p": "\u2ca3", "c": "\u2ca5", "r": "\u2c85", "w": "\u2cbd", "l": "\u2cd1"},
}


async def test_an_approach_in_armenian_cherokee_or_coptic_look_alikes_scores_as_in_cyrillic_ones() -> None:
    """fix25look: an approach (an honorarium for views, kept confidential, WhatsApp or Signal) with its
    words written with Armenian, Cherokee or Coptic look-alikes scored clean 2.6 through the runtime and
    the shipped policies, the same with Cyrillic ones high: it now reads as the Cyrillic spelling does,
    the same signals, the same apps and verdict."""
    plain = ("Dear Dr Prof,\n\nI lead research at a consultancy advising on sanctions policy. We offer an "
             "honorarium for your views on the sanctions regime; this is confidential. Could we continue on "
             "WhatsApp or Signal?\n\nBest,\nLaura\n")
    env = Envelope(mail_from="laura.b@gmail.com", rcpt_tos=("d.prof@example.ac.uk",),
                   client=Client(ip="203.0.113.89"), queue_id="Q1")
    runtime = Runtime(config(), offline=True, store=None)
    read = {}
    try:
        for script, table in _SPELLINGS.items():
            body = plain.translate(str.maketrans(table))
            assert body != plain and all(c in body for c in table.values()), script
            result = await runtime.analyse(message(FROM, body), env)
            apps = next((s.evidence["apps"] for s in result.signals if s.name == "content.offchannel_mention"), "")
            read[script] = (result.decision.verdict, {s.name for s in result.signals}, apps)
    finally:
        await runtime.close()
    verdict, signals, apps = read["cyrillic"]
    assert verdict == Verdict.HIGH and "text.confusables" in signals and "whatsapp" in apps
    assert {"offer.money", "ask.views", "content.offchannel_mention"} <= signals
    for script in ("armenian", "cherokee", "coptic"):
        assert read[script] == read["cyrillic"], script


SALTED = ("Could we continue on Wh{s}atsApp? We offer an hon{s}orarium for your views, paid disc{s}reetly.")


def _assert_salted_cues_read(spans: dict[str, str], sheets: dict[str, str], sentence: str = SALTED) -> None:
    """Each span salts the three cue words of `sentence` (with its style block): the cues are read and the
    three runs signalled."""
    from gateway.checks.pretext import PretextCheck
    for name, span in spans.items():
        raw = message(FROM, "", html=sheets.get(name, "") + "<p>" + sentence.format(s=span) + "</p>")
        sig, _ = run([PretextCheck(), ContentCheck(), StructureCheck()], raw)
        assert {"offer.money", "pressure.secrecy", "content.offchannel_mention"} <= names(sig), name
        assert one(sig, "text.hidden_in_words").evidence == {"runs": 3}, name


def test_salted_cue_words_are_read_without_what_a_style_may_hide() -> None:
    """attack24 #3, hidden-text salting (Cisco Talos, 2025): junk letters inside cue words, hidden by
    styles the first reading does not take as hiding (the font shorthand, other units, calc, a clip,
    a zero scale, a transparent colour, a far offset) or does not apply (any '!important' in a style
    block; a style block's rule for a class, id or element type), scored clean 2.6. The HTML is now
    also read without what any style may hide, and the salting signalled (text.hidden_in_words)."""
    spans = {
        "font": '<span style="font:0/0 a">zq</span>', "q": '<span style="font-size:0q">zq</span>',
        "vw": '<span style="width:0vw;overflow:hidden;display:inline-block">zq</span>',
        "calc": '<span style="font-size:calc(0px)">zq</span>', "clip": '<span style="clip-path:inset(50%)">zq</span>',
        "scale": '<span style="transform:scale(0);position:absolute">zq</span>',
        "colour": '<span style="color:transparent">zq</span>',
        "offset": '<span style="position:absolute;left:-9999px">zq</span>',
        "important": '<span style="font-size:0">zq</span>',
        "class": '<span class="S">zq</span>', "id": '<b id="q1">zq</b>', "type": "<i>zq</i>",
        "entity": '<span style="font-size:0px">zq</span>',  # review25b #3: the letter after it a reference
    }
    sheets = {"important": "<style>p{color:#222!important}</style>", "class": "<style>.s{font-size:0}</style>",
              "id": "<style>#Q1{display:none}</style>", "type": "<style>p i{font-size:0}</style>"}
    entity = spans.pop("entity")
    _assert_salted_cues_read(spans, sheets)
    _assert_salted_cues_read({"entity": entity}, {}, SALTED.replace("{s}a", "{s}&#97;").replace("{s}o", "{s}&#x6f;")
                             .replace("{s}r", "{s}&#114;"))


def test_salting_by_near_invisible_styles_attribute_selectors_and_broken_structure_is_read() -> None:
    """review25b #4 and #5: spellings the second reading did not take as hiding, though browsers hide the
    junk (Outlook, for mso-hide): tiny sizes and opacities, alpha colours, text-fill-color, filter, far
    offsets in any direction or by translate, exponents, a 1px clipping box, a colour as its own background,
    content-visibility, mso-hide, <template>, escapes and references in the style, a style block's attribute
    or universal selector, its 257th name; and structures that ended or reset the run (a stray end tag, an
    empty revealing child, a hidden <br>): each scored clean or lower, the cue words read salted."""
    spans = {
        "tiny font": '<span style="font-size:0.01px">zq</span>', "exponent": '<span style="font-size:1e-9px">zq</span>',
        "one px": '<span style="font-size:1px;letter-spacing:-1px">zq</span>',
        "opacity": '<span style="opacity:0.001">zq</span>', "rgba": '<span style="color:rgba(0,0,0,0)">zq</span>',
        "hex alpha": '<span style="color:#0000">zq</span>',
        "slash alpha": '<span style="color:rgb(0 0 0 / 0%)">zq</span>',
        "fill": '<span style="-webkit-text-fill-color:transparent">zq</span>',
        "filter": '<span style="filter:opacity(0);display:inline-block">zq</span>',
        "exp offset": '<span style="position:absolute;left:-1e4px">zq</span>',
        "right": '<span style="position:absolute;right:99999px">zq</span>',
        "translate": '<span style="position:absolute;transform:translateX(-9999px)">zq</span>',
        "tiny scale": '<span style="position:absolute;transform:scale(.001)">zq</span>',
        "box": '<span style="display:inline-block;width:1px;height:1px;overflow:hidden">zq</span>',
        "own background": '<span style="color:#fff;background-color:white">zq</span>',
        "content-visibility": '<span style="display:inline-block;content-visibility:hidden">zq</span>',
        "mso-hide": '<span style="mso-hide:all">zq</span>', "template": "<template>zq</template>",
        "escape": '<span style="font-\\73ize:0">zq</span>', "reference": '<span style="font-size&#58;0">zq</span>',
        "comment": '<span style="font-size:/**/0">zq</span>',
        "attribute": '<span title="x">zq</span>', "universal": "<span>zq</span>", "cap": '<span class="s">zq</span>',
        "stray end": '<span style="font:0/0 a"></div>zq</span>',
        "revealing child": '<span style="font:0/0 a"><b style="font-size:12px"></b>zq</span>',
        "hidden br": '<span style="font:0/0 a">zq</span><br style="display:none">',
    }
    sheets = {"attribute": "<style>[title=x]{display:none}</style>", "universal": "<style>p>*{font-size:0}</style>",
              "cap": "<style>" + "".join(f".c{i}{{display:none}}" for i in range(256)) + ".s{display:none}</style>"}
    _assert_salted_cues_read(spans, sheets)


def test_salting_review26_found_is_read() -> None:
    """review26: shapes that scored clean 0.5 (the plain salting high 24.0): an invisible character beside the
    junk (#4), an element a browser never shows (#6), a style the declaration reader gave up on (#3: 65 quotes,
    a hiding declaration past 4,096 characters), stray end tags after lists and cells a browser closed (#15),
    `[class~=x]` (#17), a hidden empty block between letters (#17), and junk glued before or after a word (#2:
    read without it, not signalled: a screen reader's "Mon<span class=sr-only>day</span>" is the same shape)."""
    quotes = "display:none;font-family:" + ",".join(["'a'"] * 33)
    spans = {"shy": '&shy;<span style="font:0/0 a">zq</span>', "rp": "<rp>zq</rp>",
             "quotes": f'<span style="{quotes}">zq</span>',
             "long": f'<span style="color:red;{"x:y;" * 1100}display:none">zq</span>',
             "stale": '<span style="font:0/0 a">zq</span></li>', "attribute": '<span class="t s">zq</span>',
             "empty block": '<b>zq</b><div style="display:none"></div>'}
    sheets = {"stale": '<ul style="display:none"><li><li><li></ul>', "attribute": "<style>[class~=s]{display:none}"
              "</style>", "empty block": "<style>b{font-size:0}</style>"}
    _assert_salted_cues_read(spans, sheets)
    _assert_glued_cues_read("zq")


def _assert_glued_cues_read(junk: str) -> None:
    """Hidden `junk` glued before, then after, each of three cue words: the cues are read, and nothing is
    signalled (a screen reader's "Mon<span class=sr-only>day</span>" is the same shape)."""
    from gateway.checks.pretext import PretextCheck
    for name, html in (("prefix", "Could we continue on {s}WhatsApp? We offer an {s}honorarium, paid {s}discreetly."),
                       ("suffix", "Could we continue on WhatsApp{s}? We offer an honorarium{s}, paid discreetly{s}.")):
        raw = message(FROM, "", html="<p>" + html.format(s=f'<span style="font:0/0 a">{junk}</span>') + "</p>")
        sig, _ = run([PretextCheck(), ContentCheck(), StructureCheck()], raw)
        assert {"offer.money", "pressure.secrecy", "content.offchannel_mention"} <= names(sig), (junk, name)
        assert "text.hidden_in_words" not in names(sig), (junk, name)


def test_junk_glued_to_a_word_is_read_without_it_whatever_it_holds() -> None:
    """review26d #4: the reading without junk glued before or after a word held only for one ASCII word under 64
    letters; junk with a digit, an underscore, a letter outside ASCII or a space, or 64 letters long, hid the cue
    word ("zq1WhatsApp": caution 5.1, as on fd5fc3f). The run now counts as glued when the character on the glued
    side is not blank."""
    for junk in ("zq1", "q_7", "zé", "zq zq", "z" * 64, "x" * 200 + " y"):
        _assert_glued_cues_read(junk)
    from gateway.html_text import html_scan  # a separator a mobile layout hides is not junk (review27 #5: its
    footer = '<style>@media (max-width:480px){.m{display:none}}</style><p>Seattle, WA<span class="m">, </span>USA'
    assert html_scan(footer).salt_free == ""  # reading joined words that text.parts_differ then counted)


def test_one_salted_word_in_a_long_paragraph_adds_only_the_words_round_it() -> None:
    """review26 #1 (review25b #2 again): one salted word in a 66 KB paragraph added the whole paragraph again
    and pushed a later part's cues past the readers' windows (high 19.5 -> suspicious 5.8)."""
    from gateway.html_text import html_scan
    html = ("<p>" + FILL * 1200 + "Call me on Wh<span style='font:0/0 a'>zq</span>atsApp today. " + FILL * 50
            + "</p>")
    result = html_scan(html)
    assert result.salted == 1 and "Call me on WhatsApp today." in result.salt_free
    assert len(result.salt_free) < 200


def test_review26d_junk_of_digits_other_readings_near_the_top_and_late_thin_approaches() -> None:
    """review26d #1: junk of digits or punctuation glued inside a word was no longer salting (high 31.8 ->
    caution 5.1, clean 2.6); #2, #5: the reading without a style block's bidi rules, or without the salt, came
    after the whole part, behind 26 KB of visible text (high 48.4 -> caution 4.6); #3: an approach past 2,000
    characters of a thin alternative's plain side went behind later parts (high 49.9 -> clean 2.6); #7: a
    French narrow no-break space was read as no space (clean 2.5 -> caution 4.5)."""
    _assert_salted_cues_read({"digit": '<span style="font:0/0 a">7</span>', "dot": '<span style="font:0/0 a">.</span>'},
                             {})
    filler = "<p>" + FILL * 500 + "</p>"
    raw = message(FROM, "", html=f"<style>div p{{unicode-bidi:bidi-override;direction:rtl}}</style><p>{APPROACH}</p>"
                  + filler)
    assert MessageView.parse(raw).body_text.index(APPROACH) < 2 * AHEAD_CHARS and APPROACH_CUES <= _scores(raw)
    salted = APPROACH.replace("WhatsApp", 'Whats<span style="font:0/0 a">zq</span>App')
    raw = message(FROM, "", html=f"<p>{salted}</p>" + filler)
    assert "WhatsApp" in MessageView.parse(raw).body_text[:2 * AHEAD_CHARS + 500]
    late = FILL * 40 + APPROACH  # 2,100 characters before the approach
    lines = ['Content-Type: multipart/mixed; boundary="m"', "", "--m", *_alternative(late, '<img src="cid:x">', "a"),
             "--m", "Content-Type: text/plain", "", FILL * 1200, "--m--", ""]
    raw = "\r\n".join(HEAD + lines).encode()
    assert MessageView.parse(raw).body_text.index(APPROACH) < THIN_IN_PLACE and APPROACH_CUES <= _scores(raw)
    french = '<p>Merci\u202f<span style="font-size:0">x</span>beaucoup</p>'  # (a hidden x: a template's spacer)
    assert MessageView.parse(message(FROM, "", html=french)).disguises.salted == 0


def test_wider_hiding_reads_no_salting_into_ordinary_templates() -> None:
    """The wider reading's own false salting, measured on newsletter shapes (phishing_pot's nl2go and casino
    mail): white text on a dark cell, a footer's `.x *` rule, `*[class=x]` for one class, a font shorthand's
    line height, a centring translate, a 1px spacer: no word is salted."""
    for html in ('<td bgcolor="#000"><span style="color:#69b32f">Bonus on Starburst</span><span style="color:#ffffff">'
                 '. Use the code</span><span style="color:#69b32f">AUTUMN</span></td>',
                 '<style>.footer-area *{color:#ffffff}</style><p class="footer-area">Manage <a>preferences</a>or '
                 '<span>stop</span>all</p>',
                 '<style>*[class="gmail-fix"]{display:none !important}</style><p>pre<b>ferences</b>stop</p>',
                 '<p>Hel<span style="font:14px/0.9 Arial">lo</span>there</p>',
                 '<p>Wel<span style="position:relative;transform:translateX(-50%)">co</span>me</p>',
                 '<p>Ti<span style="display:inline-block;width:1px">ny</span>gap</p>',
                 # review26 #9, #16: a mobile rule hiding nav separators, sub/sup with line-height:0, a rule for
                 # span.x beside a word Word split in spans, a screen reader's expansion
                 '<style>@media (max-width:480px){.mobile-hide{display:none!important}}</style><p><a>Unsubscribe'
                 '</a><span class="mobile-hide">&nbsp;|&nbsp;</span><a>Preferences</a></p>',
                 '<style>sub,sup{line-height:0}</style><p>H<sub>2</sub>O and E=mc<sup>2</sup>, the 1<sup>st</sup>of'
                 ' May</p>', '<style>span.x{display:none}</style><p>re<span>al</span>ly</p>',
                 '<style>.sr-only{position:absolute;clip:rect(0 0 0 0)}</style><p>Mon<span class="sr-only">day'
                 '</span>, 3 March</p>'):
        view = MessageView.parse(message(FROM, "", html=html))
        assert view.disguises.salted == 0, html


def test_cue_words_reversed_by_a_style_blocks_rule_for_an_element_type_or_id_are_read_in_display_order() -> None:
    """attack24 #2: a style block's bidi override for an element type ("td span") or an id was counted
    (text.bidi_override) but not applied, so cue words written backwards were read backwards and lost;
    a class's rule was already applied."""
    from gateway.checks.pretext import PretextCheck
    for sheet, attr in (("td span", ""), ("#x1", ' id="x1"'), (".r", ' class="r"')):
        words = [f"<span{attr}>{w[::-1]}</span>" for w in ("WhatsApp", "honorarium", "discreetly")]
        # (and review26c #5: the forward reading is kept where the rule may not apply, below)
        html = (f"<style>{sheet}{{unicode-bidi:bidi-override;direction:rtl}}</style><table><tr><td><p>Could we "
                f"continue on {words[0]}? We offer an {words[1]} for your views, paid {words[2]}.</p>"
                "</td></tr></table>")
        sig, _ = run([PretextCheck(), ContentCheck(), StructureCheck()], message(FROM, "", html=html))
        want = {"offer.money", "pressure.secrecy", "content.offchannel_mention", "text.bidi_override"}
        assert want <= names(sig), sheet


def test_a_style_blocks_bidi_rule_that_may_not_apply_loses_no_cue_and_one_past_the_cap_is_counted() -> None:
    """review26c #5: a rule applied where a browser would not (no matching context, @media print, :hover
    elsewhere, an id of another case) read an approach written in order reversed: high 50.9 -> caution 4.6.
    The text is also read without the style blocks' bidi rules. #6: 256 decoy class rules first made the
    real override neither applied nor counted (text.bidi_override lost)."""
    for sheet in ("div p{unicode-bidi:bidi-override;direction:rtl}", "@media print{p{unicode-bidi:bidi-override;"
                  "direction:rtl}}", "ul > p{unicode-bidi:bidi-override;direction:rtl}"):
        raw = message(FROM, "", html=f"<style>{sheet}</style><p>{APPROACH}</p>")
        assert {"offer.money", "content.offchannel_mention"} <= _scores(raw), sheet
    decoys = "".join(f".d{i}{{direction:ltr}}" for i in range(256))
    html = f"<style>{decoys} p{{unicode-bidi:bidi-override;direction:rtl}}</style><p>ppAstahW</p>"
    assert "text.bidi_override" in _scores(message(FROM, "", html=html))


def test_generated_content_makes_an_alternative_differ_and_a_braille_blank_plain_part_is_blank() -> None:
    """review26c #8: an approach shown through CSS content under an innocuous plain part that does not
    differ was never read; the generated strings are part of what the HTML shows. #10: a plain part of
    braille blanks (U+2800) still made its alternative differ."""
    html = f'<style>p.a::before{{content:"{APPROACH}"}}</style><p class=a>Thank you, I will be in touch soon.</p>'
    raw = "\r\n".join(HEAD + _alternative("Thank you, I will be in touch soon.", html) + [""]).encode()
    assert APPROACH in MessageView.parse(raw).body_text and APPROACH_CUES <= _scores(raw)
    raw = "\r\n".join(HEAD + _alternative("\u2800 \u2800", f"<p>{APPROACH}</p>") + [""]).encode()
    view = MessageView.parse(raw)
    assert view.parts_differ == {} and APPROACH in view.body_text


def test_hiding_styles_that_hide_no_part_of_a_word_are_not_salting() -> None:
    """Email templates hide whole blocks (a preheader, a mobile-only column, ghost-column wrappers with a
    zero font size round sized text): no word is salted, nothing is read twice."""
    for html in ('<div style="display:none">A preview of this month\'s news</div><p>Hello Tom, the agenda.</p>',
                 '<style>@media (max-width:600px){.mob{display:none}}</style><p>Hello <span class="mob">desktop '
                 'readers</span> and the rest.</p>',
                 '<div style="font-size:0"><div style="display:inline-block;font-size:14px">Column one</div>'
                 '<div style="display:inline-block;font-size:14px">Column two</div></div>',
                 "<p>Prices from 0<span style=\"font-size:0\"> </span>9 Euro.</p>",
                 # review25b #6: a blank written as a reference, a cell's end, a style block naming span.x
                 '<p>Hello<span style="font-size:0">&nbsp;&#8203;</span>world</p>',
                 '<table><tr><th>Price</th><th style="font-size:0">x</th><th>Total</th></tr></table>',
                 '<style>span.x{display:none}</style><p>Hel<span>lo</span> wor<span>ld</span></p>'):
        view = MessageView.parse(message(FROM, "", html=html))
        assert view.disguises.salted == 0, html
        sig, _ = run([StructureCheck()], message(FROM, "", html=html))
        assert "text.hidden_in_words" not in names(sig), html


def test_the_second_reading_adds_only_its_differing_lines_and_reads_zeros_with_string_methods() -> None:
    """review25b #2: the whole second reading appended after a long part pushed a later part's cues past
    the readers' windows (high 19.5 -> suspicious 5.8); only the lines it reads differently are added.
    review25b #1: zero sizes are read with str methods (a pattern backtracked: 44 s for 242 KB)."""
    from gateway.html_text import _is_zero, html_scan
    html = ("<p>Ordinary line of the newsletter.</p>" * 2000
            + "<p>Call me on Wh<span style='font:0/0 a'>zq</span>atsApp</p>")
    result = html_scan(html)
    assert result.salted == 1 and result.salt_free == "Ordinary line of the newsletter.\nCall me on WhatsApp"
    assert [_is_zero(v) for v in ("0", "0.0em", "-.0q", "calc( 0px )", "00", "0.5em", "10px", ".", "0" * 4000 + "!",
                                  "0px 0px")] == [True, True, True, True, True, False, False, False, False, False]


def test_noscript_nested_alternatives_and_attr_content_are_read_as_a_reader_may_see_them() -> None:
    """review26c E08, E12, G1 (each clean 2.6; high 48.9 alone): 200 KB in `<noscript>` (which webmail may drop)
    ahead of an approach; an alternative whose plain side is 200 KB and whose other side is a nested alternative
    showing the approach (a reader shows the nested one); an approach shown only by `content: attr(data-t)`."""
    html = f"<noscript>{FILL * 4000}</noscript><p>{APPROACH}</p>"
    raw = "\r\n".join(HEAD + ["Content-Type: text/html", "", html, ""]).encode()
    text = MessageView.parse(raw).body_text
    assert text.split().count("note,") == 4_000 and text.index(APPROACH) < AHEAD_CHARS + 100
    assert APPROACH_CUES <= _scores(raw)
    outer = _alternative(FILL * 4000, "", "o")
    for nested_plain in ("Thank you, I will be in touch.", "Kind regards. " * 4300):  # (review27 #2: 60 KB of a
        raw = "\r\n".join(HEAD + outer[:6] + ["--o", *_alternative(nested_plain, f"<p>{APPROACH}</p>", "i"),  # nested
                                              "--o--", ""]).encode()  # plain side no reader of the HTML sees)
        text = MessageView.parse(raw).body_text
        assert text.split().count("note,") == 4_000 and text.index(APPROACH) < THIN_IN_PLACE + 100
        assert APPROACH_CUES <= _scores(raw)
    decoys = "".join(f".d{k}::after{{content:attr(data-d{k})}}" for k in range(20))  # (review27 #4: 16 names)
    html = (f'<style>{decoys}p.a::before{{content:attr(data-t) " "}}</style><p class=a data-t="{APPROACH}"></p>'
            "<p>Sent from my phone.</p>")
    assert APPROACH_CUES <= _scores(message(FROM, "", html=html))


def test_attr_content_reads_only_the_elements_its_rule_names() -> None:
    """review27 #3: `attr()` values were read for every element with the attribute, whether or not a rule's
    subject names it: 64 KB of values no reader sees, after the part, pushed the next part's approach out (high
    48.9 -> clean 2.6). Values are read for the elements a rule's subject names (class, id or type, read wide)."""
    from gateway.html_text import html_scan
    flood = "".join(f'<i data-t="{FILL}"></i>' for _ in range(1300))  # 70 KB on elements no rule names
    result = html_scan(f'<style>p.a::before{{content:attr(data-t)}}</style>{flood}<p class="a" data-t="shown"></p>')
    assert result.generated == "shown"
    assert html_scan('<style>[data-t]::after{content:attr(data-t)}</style><i data-t="any"></i>').generated == "any"


def test_a_child_that_shows_itself_does_not_end_a_run_nothing_inside_can_show() -> None:
    """review26 #7 (docs/known-limits.md): a child with its own font size or `visibility:visible` inside a
    `display:none`, `opacity:0` or far-offset run ended the run, though nothing inside such an element shows, and
    so did a font size relative to a zero one (`1em`, `100%`, `inherit`: zero too) (clean 0.5; the plain salting
    high 24.0). Under a zero font size a child with its own size does show (email "ghost columns"), and its
    letters are read as shown; so does an element with `hidden` whose style sets its display (review27 #7). A
    style block's rule does not seal: it may not apply (review27b #1, #2, review27c #1, #2)."""
    _assert_salted_cues_read({"none": '<span style="display:none"><b style="font-size:14px">zq</b></span>',
                              "hidden": '<span hidden><b style="visibility:visible">zq</b></span>',
                              "opacity": '<span style="opacity:0"><b style="visibility:visible;font-size:9pt">zq</b>'
                                         "</span>",
                              "offset": '<span style="position:absolute;left:-9999px"><b style="font-size:14px">zq'
                                        "</b></span>",
                              "em": '<span style="font-size:0"><b style="font-size:1em">zq</b></span>',
                              "percent": '<span style="font:0/0 a"><b style="font-size:100%">zq</b></span>',
                              "inherit": '<span style="font-size:0"><b style="font-size:inherit">zq</b></span>'}, {})
    for shown in ('<p>Wh<span style="font-size:0"><b style="font-size:14px">zq</b></span>atsApp</p>',  # (review27
                  '<p>Wh<span hidden style="display:inline">zq</span>atsApp</p>'):  # #7: a style's display beats
        assert MessageView.parse(message(FROM, "", html=shown)).disguises.salted == 0, shown  # `hidden`)


def test_salting_inside_a_wrapper_that_may_hide_but_shows_is_read() -> None:
    """review26 #8 (docs/known-limits.md): a salted sentence wholly inside an element that may hide but shows (an
    inline `width:0`, a transform, a style block's rule naming its type, as Cerberus's `img.g-img + div` names
    every div) had no letter read as shown, so no run lay between two (clean 0.5; high 24.0 unwrapped). Such
    wrappers are read once more as shown. Under `display:none` nothing is read as shown (nothing shows), nor in an
    element that hides its own text by a zero font size or visibility."""
    wrappers = {"width": '<span style="width:0">{}</span>',
                "transform": '<span style="transform:rotate(1deg)">{}</span>', "cerberus": "<div><div>{}</div></div>"}
    for name, wrapper in wrappers.items():
        _assert_salted_cues_read({name: '<span style="font:0/0 a">zq</span>'},
                                 {"cerberus": "<style>img.g-img + div{display:none !important}</style>"},
                                 wrapper.replace("{}", SALTED))
    salted = SALTED.format(s="<span style=font-size:0>zq</span>")
    for hidden in (f'<span style="display:none">{salted}</span>', f'<span style="font-size:0">{salted}</span>',
                   f'<style>.h{{visibility:hidden}}</style><span class="h">{salted}</span>'):  # (its own text hidden:
        assert MessageView.parse(message(FROM, "", html=f"<p>{hidden}</p>")).disguises.salted == 0, hidden  # no
        # wrapper; phishing_pot hides junk so, junk inside junk)


def test_a_style_blocks_rule_seals_only_what_it_surely_hides() -> None:
    """review27b #1-#3, worse than f3284d2 at db58618 (high 31.8 -> caution 5.1): `div.preheader{display:none}`
    sealed every div, so a hybrid layout's font-size:0 wrapper round a column that sets its size read as all
    hidden; a `display:none` rule under `@media` (mobile, print) sealed what a desktop shows; a rule's display or
    opacity that the element's own style sets again sealed it too. Salting in each is read."""
    salted = SALTED.format(s="<span style='font:0/0 a'>zq</span>")
    shapes = {"preheader": "<style>div.preheader{display:none!important}</style><div class=preheader>Our spring "
                           "issue</div><div style='font-size:0'><div style='display:inline-block;font-size:15px'>"
                           f"<p>{salted}</p></div></div>",
              "mobile": "<style>@media only screen and (max-width:480px){.w{display:none!important}}</style><p><span "
                        f"class=w>{salted}</span></p>",
              "print": f"<style>@media print{{.w{{display:none}}}}</style><p><span class=w>{salted}</span></p>",
              "opacity": f"<style>.w{{opacity:0}}</style><p><span class=w style='opacity:1'>{salted}</span></p>",
              "display": f"<style>.w{{display:none}}</style><p><span class=w style='display:inline'>{salted}</span>",
              # review27c #3, #4: a print rule's zero font size; a mark written as a reference before the junk
              "print font": f"<style>@media print{{.w{{font-size:0}}}}</style><p><span class=w>{salted}</span></p>",
              "lrm": "<style>.w{width:0}</style><p><span class=w>" + salted.replace("<span", "&lrm;<span") + "</span>"}
    for name, html in shapes.items():
        assert MessageView.parse(message(FROM, "", html=html)).disguises.salted == 3, name


def test_junk_glued_by_an_underscore_mark_apostrophe_or_hyphen_is_read_without_it() -> None:
    """review27b #5: 7997ec5 took only a letter or digit as glue, so junk ending in `_`, a combining mark, `'` or
    `-` hid the cue word again (high 29.8 -> caution 5.1). Only blanks and separators do not glue."""
    for junk in ("zq_", "zq\u0301", "zq'", "zq-"):
        _assert_glued_cues_read(junk)


def test_a_symbol_hidden_at_a_links_end_is_not_junk_and_separators_beside_a_word_are_read_without() -> None:
    """review27c #5: a mobile layout that hides a `›` or `→` after a link's text, at the end of its line, was read
    as junk glued to the word (parts_differ runs 16 -> 32 on its newsletter): a character phrase matching reads as
    punctuation or a symbol does not glue there, nor where reading without it would join two words (", " in
    "Seattle, WA, USA"). Elsewhere it does: junk ending in a separator before a word ("zq." or "zq›" + "WhatsApp")
    and a symbol hidden between a word and a blank ("on" + "›" + " WhatsApp", review28 #6) kept "on WhatsApp" from
    reading as a phrase (content.offchannel_mention lost); a symbol phrase matching reads as letters (`℡` is "tel",
    an emoji) or drops (an isolate mark) glues everywhere."""
    from gateway.html_text import html_scan
    for arrow in ("\u203a", "\u2192", " \u00bb", ","):
        html = (f'<style>@media (max-width:480px){{.m{{display:none}}}}</style><p><a href="https://n.example/a">Read '
                f'the story</a><span class="m">{arrow}</span></p>')
        assert html_scan(html).salt_free == "", repr(arrow)
    for junk in ("zq.", "zq,", "zq\u203a", "zq\u2192", "zq\u2122", "zq\u2121", "zq\u2066", "zq\u2019", "\u203a",
                 "\u2192zq", "\U0001f4f1", "\u2026"):
        _assert_glued_cues_read(junk)
    assert html_scan('<p>Whats<span style="font:0/0 a">zq\u2121</span>App</p>').salted == 1
    for symbol in ("\u203a", "\u2192", ",", "\U0001f4f1", "\u2e2e"):  # (review28 #6: between a word and a blank)
        html = f'<p>Could we continue on<span style="font:0/0 a">{symbol}</span> WhatsApp, about your views?</p>'
        assert "content.offchannel_mention" in _scores(message(FROM, "", html=html)), repr(symbol)


def test_junk_words_a_style_block_hides_between_the_words_of_a_line_are_read_without() -> None:
    """Found this session: junk words a style block's class hides, one between every two words ("on <span
    class=h>zq</span> WhatsApp"), broke every phrase: ask.views, content.offchannel_mention and _whatsapp and
    content.phone_number were lost (an inline style's short hidden run is left out of the first reading; a rule is
    not applied there, no cascade). A run with a letter between blanks inside a line of shown text is read without
    too, and not signalled (a mobile layout hides words: "Hello <span class=mob>desktop readers</span> and all")."""
    plain = _scores(message(FROM, "", html=f"<p>{APPROACH}</p>"))
    interleaved = " ".join(word + ' <span class="h">zq</span>' for word in APPROACH.split())
    raw = message(FROM, "", html=f"<style>.h{{display:none}}</style><p>{interleaved}</p>")
    assert plain <= _scores(raw) and "text.hidden_in_words" not in _scores(raw)
    for wrapper in ('<span style="width:0">{}</span>', '<span style="transform:scale(1.01)">{}</span>'):  # (read
        raw = message(FROM, "", html=f"<style>.h{{display:none}}</style><p>{wrapper.format(interleaved)}</p>")  # as
        assert plain <= _scores(raw), wrapper  # shown once more: a hidden element after a blank after a letter)
    from gateway.html_text import html_scan
    mobile = html_scan('<style>@media (max-width:600px){.m{display:none}}</style><p>Hello <span class="m">desktop '
                       'readers</span> and all.</p><p><span class="m">Desktop only</span></p>')
    assert (mobile.salted, mobile.salt_free) == (0, "Hello and all.")


def test_a_line_break_in_the_html_source_is_a_space_outside_pre() -> None:
    """review28b #4: a browser shows a line break in the HTML source as a space, but it was read as a line's end,
    and the pretext readers' sentences end there: "your\nviews" lost ask.views (high 48.9 -> 37.6; Word's HTML
    wraps its source lines). Inside <pre> or an inline `white-space: pre*` the lines stay."""
    from gateway.html_text import html_scan
    plain = _scores(message(FROM, "", html=f"<p>{APPROACH}</p>"))
    wrapped = APPROACH.replace("your views", "your\r\nviews").replace("continue on", "continue\non")
    assert plain <= _scores(message(FROM, "", html=f"<p>{wrapped}</p>"))
    assert html_scan("<p>share your\nviews</p><pre>Jane Doe\nFellow</pre>").text == "share your views\nJane Doe\nFellow"
    referenced = APPROACH.replace("your views", "your <span style='font:0/0 a'>zq</span>&#10;views")  # (review28c
    # #5: a line break written as a reference, beside a hidden run)
    assert plain <= _scores(message(FROM, "", html=f"<p>{referenced}</p>"))
    # review28c #3: a block's start starts a line (a blockquote's had not: a short line ran into its sentence)
    blocks = "<p>No.</p><blockquote>a</blockquote><center>b</center><dl><dt>c</dt></dl><p>d"
    assert html_scan(blocks).text == "No.\na\nb\nc\nd"
    kept = '<div style="white-space: pre-wrap">Jane Doe\n<b>Fellow</b>\nInstitute</div><p>Regards\nJ.'
    assert html_scan(kept).text == "Jane Doe\nFellow\nInstitute\nRegards J."
    # review28d #1, #3, review28e #1, #3: a block its own style shows inline starts no line; the white-space and
    # display that win (the last, an !important one first); an element left open inside a block ends with it
    assert html_scan("<div>an <div style='display:inline'>hon</div>orarium</div>").text == "an honorarium"
    for block in ("display:inline;display:block", "display:block!important;display:inline"):
        reading = html_scan(f"<div>an <div style='{block}'>hon</div>orarium</div>")  # (a reader shows 3 lines; the
        assert (reading.text, reading.salt_free) == ("an \nhon\norarium", "an\nhonorarium"), block  # word whole
    # too: review29 #1); a float is shown in the line or not (the reading without its lines is compared)
    reading = html_scan("<div>an <div style='display:inline;float:left'>hon</div>orarium</div>")
    assert (reading.text, reading.salt_free) == ("an \nhon\norarium", "an honorarium")
    assert html_scan('<div style="white-space:pre-line!important;white-space:normal">a\nb</div>').text == "a\nb"
    assert html_scan('<div style="white-space:pre;white-space:normal">your\nviews</div>').text == "your views"
    assert html_scan('<div><span style="white-space:pre-line">a\nb</div><p>your\nviews</p>').text == "a\nb\nyour views"


def test_text_right_after_a_blocks_end_starts_a_line_unless_html_ignores_the_end_tag() -> None:
    """review28e #2: text written straight after a block's end tag ran into the block's last word ("<div>Laura</div>
    WhatsApp" read "LauraWhatsApp": content.offchannel_whatsapp lost; a refusal line then an insider ask read as one
    sentence). A reader starts a line there. An end tag HTML ignores (the cell round a div closed it, the div round an
    li closed it: review26d #8, review28d #2), or a block shown inline (review28d #1), breaks no word."""
    from gateway.html_text import html_scan
    intro = "<p>Dear Tom, I am a correspondent for the Financial Chronicle.</p>"
    whatsapp = _scores(message(FROM, "", html=intro + "<div>Laura</div>WhatsApp is easiest for me: +44 7700 900123."))
    assert "content.offchannel_whatsapp" in whatsapp
    for end in ("</p>", "</li>", "</blockquote>", "</h3>", "</td></tr></table>", "</dd></dl>"):
        start = {"</li>": "<ul><li>", "</td></tr></table>": "<table><tr><td>", "</dd></dl>": "<dl><dd>"}.get(
            end, end.replace("/", ""))
        assert html_scan(f"{start}Laura{end}WhatsApp").text == "Laura\nWhatsApp", end
    assert html_scan("<div>Laura</div>\n <div>WhatsApp</div><p>a</p><p>b</p>").text == "Laura \nWhatsApp\na\nb"
    assert html_scan("<table><tr><td>a</td><td>b</td></tr></table>c").text == "a\nb\nc"  # (one line, not two)
    # ignored end tags break no word: review28d #2's D_stale_div, D_stale_li; review26d C1, C2
    stale = {"<table style='display:none'><tr><td><div><div></td></tr></table>": "</div>",
             "<div style='display:none'><li>.<li>.</div>": "</li>", "<form><div>": "</form>", "<p>": "</body>",
             "<li><div><li>": "</div>", "<ul><li><table><tr><td><div>": "</li>"}
    for opened, ignored in stale.items():
        assert html_scan(f"{opened}Wh{ignored}atsApp").text.endswith("WhatsApp"), opened
        salted = _scores(message(FROM, "", html=f"{opened}<p>{APPROACH.replace('WhatsApp', f'Wh{ignored}atsApp')}"))
        assert APPROACH_CUES <= salted, opened
    assert html_scan("<p>a<span style='display:inline'></span><div style='display:inline'>Wh</div>atsApp").text \
        == "a\nWhatsApp"  # (a div's start ends the <p>: the inline div starts a line, its end none)
    assert html_scan("<p>an <div style='display:inline'>hon</div>orarium</p>").text == "an \nhonorarium"
    split = html_scan("<div>Could we continue on <div>Wh</div>atsApp? We offer an hon</p>orarium.</div>")
    assert split.text == "Could we continue on \nWh\natsApp? We offer an hon\norarium."  # (as a reader shows it,
    assert split.salt_free == "Could we continue on\nWhatsApp? We offer an honorarium."  # and the words a block's
    # end splits whole too, with the words before them)
    assert html_scan("<div>Laura</div><div style='display:none'>x</div>WhatsApp").visible in ("", "Laura\nWhatsApp")
    assert _without_maybe_text("<div>Laura.</div><div style='display:none'>x</div> WhatsApp") == "Laura.\n WhatsApp"
    assert _without_maybe_text("Wh<div style='display:none'>x</div>atsApp") == "WhatsApp"


def test_a_block_a_style_blocks_class_may_show_inline_breaks_its_lines_in_one_reading_only() -> None:
    """review28d #1's class form, review28e's note: `Wh<div class=i>ats</div>App` under `.i{display:inline}` is one
    word on a screen, but a style block's rule may not apply (no selector matching): the block's start and end break
    the line in the first reading and not in the second, which is compared, so the cues are read."""
    from gateway.html_text import html_scan
    sheet = "<style>.i{display:inline}</style>"
    reading = html_scan(f"{sheet}<div>Could you <div class=i>share your </div>views? on Wh<div class=i>ats</div>App")
    assert reading.text == "Could you \nshare your \nviews? on Wh\nats\nApp"
    assert reading.salt_free == "Could you share your views? on WhatsApp"
    salted = APPROACH.replace("WhatsApp", "Wh<div class=i>ats</div>App").replace("your views", "your <div class=i>"
                                                                                 "views</div>")
    assert APPROACH_CUES | {"ask.views"} <= _scores(message(FROM, "", html=f"{sheet}<div>{salted}</div>"))
    assert _without_maybe_text("<style>.i{display:inline;display:block}</style><div>a <div class=i>b</div>c") \
        == "a \nbc"
    for other in (".i{display:inline-block}", "div{display:inline}", ".i{float:left}", "#j{display:unset}"):  # (a
        # block type's rule too, review29b #1; a float or `unset` alone)
        assert _without_maybe_text(f"<style>{other}</style><div>a <div class=i id=j>b</div>c") == "a bc", other


def test_a_box_that_may_be_shown_in_the_line_or_an_end_tag_html_ignores_cuts_no_cue() -> None:
    """review29: a block's end cut a word a reader shows whole: inline-block, inline-flex, a float, inline under a
    style block's !important (#1); end tags inside a template, an object, a marquee, MathML, which HTML ignores (#2);
    a line a start tag owes (#3); an empty inline block just before the end (#4); a form HTML ignores, a heading
    under an inline element, an li in a nav (#5). The first reading has the lines where a reader may see them, the
    second reads the words whole."""
    from gateway.html_text import html_scan
    cut = {"inline-block": "<div style='display:inline-block'>{a}</div>{b}",
           "inline-flex": "<p style='display:inline-flex'>{a}</p>{b}",
           "float": "<div style='float:left'>{a}</div>{b}",
           "important": "<style>.x{{color:red !important}}</style><div style='display:inline'>{a}</div>{b}",
           "template": "{a}<template></div></template>{b}", "object": "{a}<object></div></object>{b}",
           "marquee": "{a}<marquee></div></marquee>{b}", "math": "{a}<math><mtext></div></mtext></math>{b}",
           "template p": "{a}<template></p></p></template>{b}", "template start": "{a}<template><div></template>{b}",
           "inline end first": "{a}<div style='display:inline'></div></div>{b}",
           "form pointer": "{a}<form></form>{b}",
           # review29c: a selector the reading does not match (#1-#3): format characters in a node of their own
           # after the end tag, 65 word joiners, an unassigned character before it; a blank after it
           "lri node": "<style>[data-i]{{display:inline}}</style><div data-i>{a}</div>&#x2066;<b>{b}</b>",
           "joiners": "<div data-i>{a}</div>" + "&#x2060;" * 65 + "{b}",
           "unassigned": "<div data-i>{a}&#x2065;</div>{b}",
           "flex class": "<style>.r{{display:flex}}</style><div class=r><div>{a}</div>&#x200e;<i>{b}</i></div>"}
    around = "<div><form></div><div><div><div>{}</div></div></div>"  # (the form pointer stays set)
    words = {"offer.money": ("HON", "ORARIUM for your views"), "content.offchannel_mention": ("Whats", "App"),
             "content.phone_number": ("+44 7700", "900123")}
    for name, shape in cut.items():
        reading = html_scan(around.format(shape.format(a="on Whats", b="App")))
        text, again = ("".join(c for c in x if unicodedata.category(c) not in ("Cf", "Cn")) for x in (reading.text,
                                                                                         reading.salt_free))
        assert "on WhatsApp" in text.replace("\n", "") and ("on WhatsApp" in text or "on WhatsApp" in again), name
        body = APPROACH.replace("WhatsApp", shape.format(a="Whats", b="App"))
        assert APPROACH_CUES <= _scores(message(FROM, "", html=around.format(body))), name
        for signal, (a, b) in words.items():
            assert signal in _scores(message(FROM, "", html=around.format(
                "Dear Tom, I am a correspondent for the Financial Chronicle. We offer an "
                + shape.format(a=a, b=b) + ". Could we talk on WhatsApp?"))), (name, signal)
    # review29b: format characters beside the end tag (#1), a number's blank after it (#2); display initial or
    # unset (inline), a style block's rule for a block type, a flex row's items; a plain block (a reader sees the
    # line, but the passage read again reaches "continue on" in the line before)
    pdf = {"unset": ("<div style='display:unset'>", "</div>&#x202c;"), "initial": ("<div style='display:initial'>",
           "&#x2066;</div>"), "type rule": ("<style>div{display:inline}</style><div>", "</div>&#x202c;"),
           "flex row": ("<div style='display:flex'><div>", "</div>&#xfe0f;"), "plain": ("<div>", "</div>&#x202c;")}
    for name, (opened, ended) in pdf.items():
        body = APPROACH.replace("WhatsApp", f"{opened}Whats{ended}App").replace("7700 900123", "7700</div> 900123")
        assert APPROACH_CUES | {"content.phone_number"} <= _scores(message(FROM, "", html=f"<div>{body}</div>")), name
    for phrase in ("your</div> views", "your</div>&#x2060; views", "your </div>views", "your\n</div>views"):  # (a
        # blank after the end or before it: review29c #2, #3, review29d #2)
        body = APPROACH.replace("your views", phrase).replace("7700 900123", "7700&#x2066;</div>&#x2060; 900123")
        assert {"ask.views", "content.phone_number"} <= _scores(message(FROM, "", html=f"<div><div>{body}")), phrase
    link = html_scan("<div>Write to me: <div data-i>wa.</div>me/447700900123")  # (review29d #3: punctuation)
    assert (link.text, link.salt_free) == ("Write to me: \nwa.\nme/447700900123", "Write to me:\nwa.me/447700900123")
    owed = html_scan("<p>We offer an hon<div style='display:contents'></div>orarium")  # (the div's start ends the
    assert (owed.text, owed.salt_free) == ("We offer an hon\norarium", "We offer an honorarium")  # <p>: a line)
    assert html_scan("<div><form></div><div>x<form>y</form>z").text == "xyz"  # (the pointer: no form, no line)
    assert html_scan("<h1>x <b><h2>Wh</h2></b>atsApp</h1>").text == "x \nWh\natsApp"  # (the h2 nests: a line)


def test_a_display_value_css_drops_cuts_no_cue() -> None:
    """review29c X1: a `display` value CSS cannot parse is dropped, so the one before it wins (`display:inline;
    display:blok` is inline), and so is a combination of keywords its grammar has not (review30 #2); any function
    is kept (`var()`, `if()`: #4) and read as may be shown in the line (a `var()` that does not resolve is inline).
    A style block's rule is read for its subject past a namespace prefix (#5) and a pseudo-class's argument (#6);
    one for any element (`[data-i]`, `*`) is not read (review30c #1: every block read as one had the text ahead of
    an approach read twice)."""
    from gateway.html_text import _subject_name, html_scan
    assert html_scan("<div>HON<div style='display:inline;display:blok'>OR</div>ARIUM").text == "HONORARIUM"
    assert html_scan("<div>a<div style='display:inline !important;display:block'>b</div>c").text == "abc"
    assert html_scan("<div>a<div style='float:left;float:lft'>b</div>c").salt_free == "abc"  # (still floats)
    assert html_scan("<div>a<div style='display:inline;display:block'>b</div>c").text == "a\nb\nc"  # (valid: wins)
    assert html_scan("<div>a<div style='display:inline;display:BLOCK FLOW'>b</div>c").text == "a\nb\nc"
    assert html_scan("<pre>a\nb</pre><p style='white-space:pre;white-space:x'>c\nd</p>").text == "a\nb\nc\nd"
    for dropped in ("block block", "flow flow", "block inherit", "list-item flex", "blok"):
        assert html_scan(f"<div>a<div style='display:inline;display:{dropped}'>b</div>c").text == "abc", dropped
    assert html_scan("<div>a<div style='display:block;display:if(style(--x):inline)'>b</div>c").salt_free == "abc"
    assert html_scan("<div>a<div style='display:inline;display:block list-item'>b</div>c").text == "a\nb\nc"
    for kept in ("inline math", "math inline"):  # (MathML Core's inner display: review30d #1)
        assert html_scan(f"<div>a<div style='display:block;display:{kept}'>b</div>c").salt_free == "abc", kept
    assert html_scan("<div>HON<div style='display:var(--d)'>OR</div>ARIUM").salt_free == "HONORARIUM"
    cut = APPROACH.replace("WhatsApp", "Whats<div style='display:inline;display:blok'>A</div>pp")
    assert APPROACH_CUES <= _scores(message(FROM, "", html=f"<div>{cut}</div>"))
    spaced = html_scan("<style>@namespace h url(http://www.w3.org/1999/xhtml);h|div{display:inline}</style>"
                       "<div>HON<div></div>ORARIUM")
    assert spaced.salt_free == "HONORARIUM"
    assert [_subject_name(x) for x in ("li:nth-child(2n+1)", "h|div", "*|p", "td > *", "[data-i]", "x|*")] == \
        ["li", "div", "p", "", "", ""]
    lines = "<div>Hello Tom. <div data-i>Second line.</div> Third line."
    assert html_scan(f"<style>[data-i]{{display:inline}}</style>{lines}").salt_free == ""


def test_a_comment_inside_a_css_word_ends_it() -> None:
    """review30 #3: a comment inside a keyword (`display:blo/**/ck`) was removed, so the style read "block" and cut the
    word its element stands in; CSS Syntax reads a comment as the end of the token before it, so the value is two
    words, which a browser drops, and the `display` before it wins. Between a colon and a keyword, or two comments
    in a row, it still joins nothing (`display:/**/block` is block, attack23 H1's `unicode-bidi:/**/bidi-override`
    still overrides)."""
    from gateway.html_text import css_text, html_scan
    for dropped in ("blo/**/ck", "blo/* x *//**/ck", "b/**/lock/**/", "blo/**/\\63k"):
        assert html_scan(f"<div>HON<div style='display:inline;display:{dropped}'>OR</div>ARIUM").text == "HONORARIUM", \
            dropped
    for kept in ("/**/block", "block/**/", "block /**/"):
        assert html_scan(f"<div>a<div style='display:inline;display:{kept}'>b</div>c").text == "a\nb\nc", kept
    sheet = "<style>div.x{display:inline;display:bl/**/ock}</style><div>HON<div class=x>OR</div>ARIUM"
    assert html_scan(sheet).salt_free == "HONORARIUM"  # (a style block's rule: the second reading)
    assert css_text("font-size:0/**/px;unicode-bidi:/**/bidi-override") == "font-size:0 px;unicode-bidi:bidi-override"
    cut = APPROACH.replace("WhatsApp", "Whats<div style='display:inline;display:blo/**/ck'>A</div>pp")
    assert APPROACH_CUES <= _scores(message(FROM, "", html=f"<div>{cut}</div>"))


def test_an_escaped_blank_inside_a_css_word_is_part_of_it() -> None:
    """review30 #3's other half: `display:block\\9` (the old Internet Explorer hack) decoded its escape to a tab, which
    the reading then took for a blank, so the style read "block" and cut the word its element stands in; CSS Syntax
    reads an escaped blank outside a string as a character of the name (`block<TAB>`, no keyword), which a browser
    drops, so the `display` before it wins. In a string it is the blank it shows (`content:"a\\20 b"`)."""
    from gateway.html_text import css_text, html_scan
    for dropped in ("block\\9", "block\\20", "bl\\6f ck\\9 ", "block\\a0", "\\62lock\\d"):
        assert html_scan(f"<div>HON<div style='display:inline;display:{dropped}'>OR</div>ARIUM").text == "HONORARIUM", \
            dropped
    for kept in ("bl\\6f ck", "\\62 lock", "block\\9;display:block"):
        assert html_scan(f"<div>a<div style='display:inline;display:{kept}'>b</div>c").text == "a\nb\nc", kept
    sheet = "<style>div.x{display:inline;display:block\\9}</style><div>HON<div class=x>OR</div>ARIUM"
    assert html_scan(sheet).salt_free == "HONORARIUM"  # (a style block's rule: the second reading)
    assert css_text("content:\"a\\20 b\\9 c\";x:y\\20 z;q:'\\41\\d'") == "content:\"a b\tc\";x:y\ufffdz;q:'A\r'"
    cut = APPROACH.replace("WhatsApp", "Whats<div style='display:inline;display:block\\9'>A</div>pp")
    assert APPROACH_CUES <= _scores(message(FROM, "", html=f"<div>{cut}</div>"))
    # review32 #5: a backslash before a line break continues a string (CSS Syntax 4.3.5): nothing is read for the two
    sheet = "<style>.x::before{content:\"Contact me on WhatsA\\\npp: +44 7700 900123\"}</style><p class=x>Hello</p>"
    assert html_scan(sheet).generated == "Contact me on WhatsApp: +44 7700 900123"
    assert css_text("content:'a\\\nb\\\\\nc'") == "content:'ab\\\nc'"  # (an escaped backslash: then a break)
    # review32b #3, #4: CR LF read as LF first (a 7bit part's style), and a hex escape's blank may be a line break
    assert html_scan(sheet.replace("\\\n", "\\\r\n")).generated == "Contact me on WhatsApp: +44 7700 900123"
    assert html_scan(sheet.replace("A\\\npp", "\\41\r\npp")).generated == "Contact me on WhatsApp: +44 7700 900123"


def test_a_plain_part_that_cuts_a_few_cue_words_its_html_shows_whole_hides_none() -> None:
    """review29d K1-K6: a plain part cutting three cue words with blanks ("HON ORARIUM", "WHATS APP") beside an HTML
    that shows them whole makes too few runs of three words differ for both sides to be read, so the checks read the
    plain part alone and lost every cue (high 48.9 -> 39.9). The HTML's passages round the words its plain part lacks
    are read too, ahead of the plain part: after it, a passage's sign-off and cut signature became the signature the
    claims reader reads. (The cut is "WHA TSAPP", not "WHATS APP": the messenger mention reads that spelling as
    WhatsApp since session 42, as people write it.)"""
    from gateway.checks.claims import ClaimsCheck
    cut = APPROACH.replace("WhatsApp", "WHA TSAPP").replace("honorarium", "HON ORARIUM").replace(
        "discreetly", "DISC REETLY")
    whole = APPROACH.replace("WhatsApp", "WHATSAPP").replace("honorarium", "HONORARIUM").replace(
        "discreetly", "DISCREETLY")
    for html in (f"<div>{whole}</div>", "<div>" + whole.replace("HONORARIUM", "<span>HON</span>ORARIUM") + "</div>"):
        raw = _alternative_raw(cut, html)
        view = MessageView.parse(raw)
        assert view.parts_differ == {} and "WHATSAPP" in view.body_text, html
        assert APPROACH_CUES <= _scores(raw), html
    assert _scores(_alternative_raw(cut, f"<div>{cut}</div>")) & APPROACH_CUES == set()
    # review30b #1: a plain part hard-wrapped at 72 columns, or with other punctuation, differs at every wrap; the
    # passages compare words without marks or case, across the plain part's lines
    intro = "".join(f"Our group{i} met on day{i} to review chapter{i}; notes{i} follow from desk{i}. "
                    for i in range(30))
    for plain in (textwrap.fill(intro + cut, 72), (intro + cut).replace(";", ",")):
        raw = _alternative_raw(plain, f"<p>{intro}</p><p>{whole}</p>")
        assert APPROACH_CUES <= _scores(raw), plain[:40]
    # review30c: cue words in brackets in the HTML are words, not links as a plain part writes them
    bracketed = APPROACH.replace("honorarium", "[honorarium]")  # (the plain part leaves it out)
    plain = APPROACH.replace("honorarium ", "")
    assert "offer.money" in _scores(_alternative_raw(plain, f"<p>{bracketed}</p>"))
    for marked in ("[honorarium.]", "[honorarium!]"):  # review30d #3: a word with a mark beside it
        raw = _alternative_raw(plain, f"<p>{APPROACH.replace('honorarium', marked)}</p>")
        assert "offer.money" in _scores(raw), marked
    view = MessageView.parse(_alternative_raw(plain, f"<p>{APPROACH.replace('honorarium', '[hon@rarium]')}</p>"))
    assert "[hon@rarium]" in view.body_text  # (not an address: the HTML is read beside its plain part)
    said = "We met to discuss the plan for the spring workshop and the budget."
    for shown, differs in (("[budget]", True), ("[e.g.]", True), ("[tom@example.org]", False),
                           ("[image001.png]", False), ("[cid:image001.png@01D9]", False), ("[www.example.org]", False),
                           ("[1]", False)):
        html = f"<p>{said.replace('the plan', shown + ' the plan')}</p>"
        assert bool(MessageView.parse(_alternative_raw(said, html)).parts_differ) is differs, shown
    plain = "Hi Tom,\n\nThanks, works for me.\n\nBest,\n\nMark\n\n[signature_2894620745]\nMark Davies\nSenior " \
        "Analyst\n[Facebook]<https://facebook.com/o> [Twitter]<https://twitter.com/o>\nOfgem, 10 South Colonnade, " \
        "London"
    html = "<p>Hi Tom,</p><p>Thanks, works for me.</p><p>Best,</p><p>Mark</p><img src='cid:s' alt='sig'><p>Mark " \
        "Davies<br>Senior Analyst<br><img src='cid:f' alt='Facebook'> <img src='cid:t' alt='Twitter'><br>Ofgem, 10 " \
        "South Colonnade, London</p>"  # (a plain part's are images' text: review30d #2)
    assert MessageView.parse(_alternative_raw(plain, html)).parts_differ == {}
    plain = "Following up on [REQ-4521]: the data request has been approved. You can download the files " \
        "[here](https://data.example.org/r) once you have signed the [agreement](https://data.example.org/a). The " \
        "full [report](https://data.example.org/p.pdf) explains the sampling of the smart meter panel."
    html = "<p>Following up on [REQ-4521]: the data request has been approved. You can download the files <a " \
        "href=r>here</a> once you have signed the <a href=a>agreement</a>. The full <a href=p>report</a> explains " \
        "the sampling of the smart meter panel.</p>"  # (and a Markdown link's text is a word: review30d S5)
    assert MessageView.parse(_alternative_raw(plain, html)).parts_differ == {}
    # #2: a reply whose HTML sets its signature with bars and its attribution on one line reads no passage (ahead of
    # the plain part, an attribution naming our side had the whole plain part cut as quoted history)
    reply = "Hi Tom,\n\nThanks, I will use the 2022 figures.\n\nBest,\nMaria\n\n-- \nMaria Lopez\nPhD candidate, " \
        "Department of Economics\n\nOn Mon, 3 Mar 2025 at 17:02, Tom Example <tom@example.ac.uk>\nwrote:\n\n> Hi " \
        "Maria, the provisional numbers were revised.\n"
    html = "<p>Hi Tom,</p><p>Thanks, I will use the 2022 figures.</p><p>Best,<br>Maria</p><p>--<br>Maria Lopez | PhD " \
        "candidate | Department of Economics</p><div>On Mon, 3 Mar 2025 at 17:02, Tom Example &lt;<a href='mailto:" \
        "tom@example.ac.uk'>tom@example.ac.uk</a>&gt; wrote:<blockquote>Hi Maria, the provisional numbers were " \
        "revised.</blockquote></div>"
    view = MessageView.parse(_alternative_raw(reply, html))
    assert view.body_text.strip() == reply.strip()
    signed = "Dear Ravi,\n\nThe build is ready for your team.\n\nBest regards,\nErkin Ahmet Tursun\nDirector, Uyghur " \
        "Language Project\n"
    html = "<p>Dear Ravi,</p><p>The build is ready for your team: <a href=x>setup_2026.rar</a></p><p>Best regards," \
        "<br>Erkin Ahmet Tursun<br>Director, Uyghur Language Project</p>"
    raw = _alternative_raw(signed, html)
    assert "setup_2026.rar" in MessageView.parse(raw).body_text
    sig, _ = run([ClaimsCheck()], raw)
    assert "claim.institutional_role" in names(sig)  # (the plain part's signature is still the one read)


def test_an_alternative_is_compared_with_its_htmls_first_reading_alone() -> None:
    """review29c #5: the second reading joins a flex row's items or inline-block cards ("Order#4411"), words no plain
    part has, and `text.parts_differ` fired on real receipts; the plain part is compared with what the HTML shows,
    and the other readings are read beside it."""
    cells = "".join(f"<div>Item{i} costs</div><div>{i}.00</div>" for i in range(12))
    html = f"<div style='display:flex'>{cells}</div><p>{APPROACH}</p>"
    plain = "\n".join(f"Item{i} costs\n{i}.00" for i in range(12)) + "\n" + APPROACH
    view = MessageView.parse(_alternative_raw(plain, html))
    assert view.parts_differ == {} and "costs0.00" in view.text_parts[1].shown
    assert APPROACH_CUES <= _scores(_alternative_raw(plain, html))
    # a salted HTML whose plain part holds the junk, as its first reading does (few runs differ): the HTML is read
    # beside it, and the cues with it (found in session 29: lost before it too)
    salted = "<style>.h{display:none}</style><p>" + APPROACH.replace("WhatsApp", "Wh<i class=h>zq</i>atsApp") \
        .replace("honorarium", "hon<i class=h>zq</i>orarium").replace("discreetly", "disc<i class=h>zq</i>reetly")
    junk = APPROACH.replace("WhatsApp", "WhzqatsApp").replace("honorarium", "honzqorarium") \
        .replace("discreetly", "disczqreetly")
    raw = _alternative_raw(junk, salted)
    assert "WhatsApp" in MessageView.parse(raw).body_text and APPROACH_CUES <= _scores(raw)
    # review29e #1: a plain part that copies the first reading of blocks a selector may show inline, 40 KB long: the
    # HTML's beginning is read within the readers' windows too; #2: junk a mobile layout hides at an inline-block's
    # edge is no salting, and a row read joined makes no alternative differ
    cut = APPROACH.replace("WhatsApp", "<div data-i>Whats</div>App").replace("honorarium", "<div data-i>hon</div>"
                                                                               "orarium")
    pad = "The committee met on Tuesday and agreed the minutes. " * 800
    raw = _alternative_raw(APPROACH.replace("WhatsApp", "Whats App").replace(
        "honorarium", "hon orarium") + "\n" + pad, f"<div>{cut}</div><p>{pad}</p>")
    assert APPROACH_CUES <= _scores(raw)
    menu = "<style>li{display:inline-block}</style><ul><li>Home<span style='display:none'>:</span></li><li>Archives" \
        "</li><li>Subscribe</li></ul>" + "".join(f"<p>Item {i} of the digest is ready to read.</p>" for i in range(9))
    raw = _alternative_raw("Home Archives Subscribe\n" + "\n".join(
        f"Item {i} of the digest is ready to read." for i in range(9)), menu)
    assert MessageView.parse(raw).parts_differ == {} and "text.hidden_in_words" not in _scores(raw)


def _without_maybe_text(markup: str) -> str:
    from gateway.html_text import _scanned, _without_maybe
    return _without_maybe(_scanned(markup))


def test_the_blocks_html_ends_are_followed_within_bounds() -> None:
    """`_OpenBlocks`: at most MAX_BLOCKS_OPEN blocks followed and a search walks at most MAX_OVERRIDES; past either,
    no end tag starts a line (as before review28e #2 was mended), and the work stays linear."""
    from gateway.html_text import MAX_BLOCKS_OPEN, MAX_OVERRIDES, html_scan
    deep = "<div>" * (MAX_BLOCKS_OPEN + 1) + "Laura</div>WhatsApp"
    assert html_scan(deep).text.endswith("LauraWhatsApp")
    assert html_scan("<div>" * (MAX_BLOCKS_OPEN - 1) + "Laura</div>WhatsApp").text.endswith("Laura\nWhatsApp")
    walk = "<li>" + "<div>" * (MAX_OVERRIDES + 1) + "</li>a</div><p>Laura</p>WhatsApp"  # (the li is too far down)
    assert html_scan(walk).text.endswith("LauraWhatsApp")
    near = "<li>" + "<div>" * (MAX_OVERRIDES - 2) + "</li>a</div><p>Laura</p>WhatsApp"  # (found: the divs end with
    assert html_scan(near).text == "a\nLaura\nWhatsApp"  # it, and the </div> after is ignored)
    small, large = (html_scan("<ul><li>" + "<div>" * 60 + "</li>x" * n) for n in (500, 4000))
    assert large.steps <= 9 * small.steps


def test_what_separates_hidden_junk_from_a_word_is_what_phrase_matching_reads_as_a_break() -> None:
    """`html_text._separates` repeats `policy.text.words`' reading (a layer above it, not imported): the two agree
    on every character of the Basic Multilingual Plane and on emoji, save the apostrophe and hyphens that join."""
    from gateway.html_text import _JOINERS, _separates
    from gateway.policy.text import fold, words
    chars = [chr(cp) for cp in (*range(0x80, 0xD800), *range(0xE000, 0x10000), *range(0x1F300, 0x1F700))]
    differ = [c for c in chars if c not in _JOINERS and _separates(c) != (fold(c) != "" and words(fold(c)) == "")]
    assert differ == []


def test_print_only_rules_are_not_read_and_a_quoted_bracket_does_not_hide_a_rules_subject() -> None:
    """review27 #6: a print style sheet's `a[href]::after { content: " (" attr(href) ")" }` put every link's address
    into the text (text.parts_differ none -> 16 on a newsletter); rules for print or speech alone (an `@media`
    block, `<style media=print>`) do not apply on a screen and are not read. review27b #4 A6: a `]` inside a quoted
    attribute value misread the subject (`.m[title="] .x"]::after` read as `.x`: clean 2.6, high 48.9 without)."""
    from gateway.html_text import html_scan
    rule = 'a[href]::after{content:" (" attr(href) ")"}'
    link = '<p><a href="https://n.example/story">Read the story</a></p>'
    for sheet in (f"<style>@media print{{{rule}}}</style>", f"<style>@media only print and (color){{{rule}}}</style>",
                  f'<style media="print">{rule}</style>', f"<style>@\\6d edia print{{{rule}}}</style>"):
        assert html_scan(sheet + link).generated == "", sheet
    for sheet in (f"<style>{rule}</style>", f"<style>@media screen, print{{{rule}}}</style>",
                  f"<style>@media not print{{{rule}}}</style>", f'<style media="all">{rule}</style>'):
        assert "https://n.example/story" in html_scan(sheet + link).generated, sheet
    print_hidden = "<style>@media print{.w{display:none}}</style><p>Wh<span class=w>zq</span>atsApp</p>"
    assert html_scan(print_hidden).salted == 0  # (shown on a screen: text, not salting)
    html = f'<style>.m[title="] .x"]::after{{content:attr(data-t)}}</style><i class="m" data-t="{APPROACH}"></i>'
    assert html_scan(html).generated == APPROACH
    assert APPROACH_CUES <= _scores(message(FROM, "", html=html + "<p>Sent from my phone.</p>"))


def test_a_rule_that_applies_on_a_screen_is_read_however_print_is_spelt_round_it() -> None:
    """review28 #1-#5, high 48.4-50.9 -> clean 2.6 on ca94176: "@media print{" in a CSS string, an escape or the
    style tag opened a print block that never closed, a " media=print" inside another attribute's value, and a
    `<style media=print>` in a comment ahead of the real block each dropped the rules a screen applies (hiding,
    bidi, generated content); a quoted attribute value over 64 characters misread a rule's subject; and "/*" in a
    string dropped the rest of the block (as on 143eec0). Each is read."""
    from gateway.html_text import html_scan
    rules = '.h{display:none} p.a::after{content:"' + APPROACH + '"}'
    for sheet in ("<style>x{font-family:'@media print{{'} " + rules + "</style>",
                  "<style>.x\\@media print\\7b {color:red} " + rules + "</style>",
                  "<style>@media print{p::after{content:'}'}} " + rules + "</style>",
                  "<style title='@media print{'>" + rules + "</style>",
                  "<style title=' media=print'>" + rules + "</style>",
                  "<!-- <style media=print> --><style>" + rules + "</style>",
                  "<style>x{font-family:'/*'} " + rules + "</style>",
                  # review28b #1, #5, review28c #1, #2: a brace or "/*" inside url(), its name escaped or not; a
                  # media attribute written with a reference ("print,screen" applies on a screen)
                  "<style>@media print{.p{background:url(x{)}} " + rules + "</style>",
                  "<style>@media print{.p{background:\\75 rl(x{)}} " + rules + "</style>",
                  "<style>.p{background:u\\rl(/*)} " + rules + "</style>",
                  "<style media='print&#44;screen'>" + rules + "</style>",
                  "<style title=x\u00a0media=print>" + rules + "</style>"):
        result = html_scan(sheet + "<p class=a>Wh<span class=h>zq</span>atsApp</p>")
        assert result.generated == APPROACH and result.salted == 1, sheet
    title = "x" * 300 + " .y"  # (the subject is .m; a value of 300 characters with a space)
    html = f'<style>.m[title="{title}"]::after{{content:attr(data-t)}}</style><i class="m" data-t="{APPROACH}"></i>'
    assert html_scan(html).generated == APPROACH


def test_one_part_is_scanned_at_most_three_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """review27b #6: the reading without style-block bidi rules called html_scan, which made its own wrapper
    rescan: four scans of one part. It is one scan now: at most the first, the wrappers' and the bidi one."""
    import gateway.html_text as module
    scans: list[int] = []
    scanner = module._Scanner

    def counted(*args: object, **kwargs: object) -> module._Scanner:
        scans.append(1)
        return scanner(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "_Scanner", counted)
    html = ("<style>.r{unicode-bidi:bidi-override;direction:rtl}</style><p>ppAstahW <span class=r>x</span> "
            "<span style='width:0'>Wh<span style='font:0/0 a'>zq</span>atsApp</span></p>")
    result = module.html_scan(html)
    assert len(scans) == 3 and result.salted == 1 and result.bidi_free


def _flowed_raw(text: str, params: str) -> bytes:
    return "\r\n".join(HEAD + [f'Content-Type: text/plain; charset="utf-8"; {params}',
                               "Content-Transfer-Encoding: 8bit", "", text, ""]).encode()


def test_a_flowed_plain_part_is_read_as_a_reader_joins_it() -> None:
    """attack32 #2: `format=flowed; delsp=yes` (RFC 3676) lets a sender cut every word at a soft break ("hono " at a
    line's end, "rarium" on the next), which Thunderbird and Apple Mail join into "honorarium"; the gateway read the
    lines as written, and every cue in two. A flowed part is read joined: without the soft break's space when DelSp
    is yes, with it when not (the reader shows "hono rarium" then, and so do the checks)."""
    cut = " ".join(w[:3] + " \n" + w[3:] if len(w) > 5 else w for w in APPROACH.split(" "))  # "hon \norarium"
    assert "honorarium" not in cut and APPROACH_CUES & _scores(_flowed_raw(cut, 'format="flowed"')) == set()
    joined = MessageView.parse(_flowed_raw(cut, 'format="flowed"; delsp="yes"'))
    assert APPROACH in joined.body_text
    assert APPROACH_CUES <= _scores(_flowed_raw(cut, 'format=Flowed; DelSp=Yes'))
    assert "hon orarium" in MessageView.parse(_flowed_raw(cut, "format=flowed")).body_text  # (DelSp=no)


def test_unflow_keeps_quote_depths_hard_breaks_and_the_signature_separator() -> None:
    from gateway.parse import unflow
    text = ("Hello \r\nthere.\r\n>> quoted \r\n>> on.\r\n> one \r\n>> two\r\n From stuffed\r\n-- \r\nAnna \r\n"
            "Weber")
    assert unflow(text, False) == ("Hello there.\n>> quoted on.\n> one \n>> two\nFrom stuffed\n-- \nAnna Weber")
    assert unflow("cut \nword and a hard\nbreak ", True) == "cutword and a hard\nbreak"
    assert unflow("", True) == ""


async def test_a_plain_part_that_says_more_than_its_html_does_not_stand_in_for_it() -> None:
    """attack32 #1: the comparison asked only whether the HTML shows runs of three words its plain part lacks. A
    plain part made of every run of the HTML, one per line in another order, or of 30 KB of other text and then the
    approach, lacks none, so the checks read the plain part alone and the word salad or the padding hid the approach
    a reader sees in the HTML from the claims reader and the text model (high 10 -> clean 0.5). A plain part with as
    many runs its HTML lacks as `parts_differ` asks of an HTML has both read, the HTML first when the plain side is
    the longer by far; one that differs by a signature or an image's name is still read alone."""
    approach = ("Dear Dr Prof, I lead research at Harcourt Strategy, a consultancy advising on sanctions policy. We "
                "offer an honorarium for your views on the sanctions regime; this is confidential. Could we continue "
                "on WhatsApp or Signal? Best regards, Laura Brown, Director of Research, Harcourt Strategy")
    words = approach.split()
    runs = [" ".join(words[i:i + 3]) for i in range(len(words) - 2)]
    salad = "\n".join(runs[i] + " ." for i in sorted(range(len(runs)), key=lambda i: (i * 7) % len(runs)))
    padding = " ".join(f"Notice {i}: this message is confidential and meant for its addressee only."
                       for i in range(400))
    html = f"<p>{approach}</p>"
    for plain in (salad, f"{padding}\n\n{approach}"):
        view = MessageView.parse(_alternative_raw(plain, html))
        assert view.parts_differ == {} and view.body_text.index(approach) < 100, plain[:30]
    assert MessageView.parse(_alternative_raw(approach, html)).body_text.strip() == approach  # (the same text: plain)
    for said in (f"{approach}\n\n-- \nLaura\nhttps://example.org/laura", f"{approach}\n[logo]\nLaura Brown"):
        assert MessageView.parse(_alternative_raw(said, html)).body_text.strip() == said  # (a few runs more: plain)
    env = Envelope(mail_from="laura.b@gmail.com", rcpt_tos=("tom@example.ac.uk",), client=Client(ip="203.0.113.89"),
                   queue_id="Q1")
    runtime = Runtime(config(), offline=True, store=None)
    try:
        read = [(await runtime.analyse(_alternative_raw(plain, html), env)).decision.verdict
                for plain in (approach, salad, f"{padding}\n\n{approach}")]
    finally:
        await runtime.close()
    assert read[0] == Verdict.HIGH and all(v >= Verdict.SUSPICIOUS for v in read), read


def test_an_alternatives_thin_html_is_read_from_its_beginning_ahead_of_its_plain_side() -> None:
    """review32 #2, #3: a plain side far longer than what its HTML shows (`_thin_alternatives`) is read in place, up
    to THIN_IN_PLACE characters; the HTML a reader sees was read after it (or not at all when its runs were all in
    the plain side: one harmless paragraph 150 times, then the approach, hid the HTML's approach past the readers'
    windows). The HTML's beginning now comes first, and only its beginning: a salted HTML read whole (150 KB of
    hidden filler) had pushed a plain side holding the approach past the readers' windows."""
    para = "Thank you for your note on the workshop programme; the agenda is attached for your reference."
    html = f"<p>{para}</p><p>{APPROACH}</p>"
    view = MessageView.parse(_alternative_raw(f"{para}\n" * 150 + APPROACH, html))
    assert view.body_text.index(APPROACH) < 200
    filler = " ".join(["report energy market policy winter storage gas price council"] * 2_500)
    salted = f"<p>Please see the note below.</p><div style='display:none'>{filler}</div>"
    assert MessageView.parse(_alternative_raw(APPROACH, salted)).body_text.index(APPROACH) < 2 * HEAD_CHARS
    assert APPROACH_CUES <= _scores(_alternative_raw(APPROACH, salted))


def test_a_flowed_part_whose_soft_breaks_join_two_words_is_read_as_written_too() -> None:
    """review32 #1: with DelSp=yes a soft break right before a word ("a generous \\nhonorarium") joins it to the one
    before ("generoushonorarium") for a reader of format=flowed, while Outlook and Gmail show the lines as written:
    where a soft break joins two characters that are not blanks, the part is read both ways, each one's beginning
    first. A soft break before a signature separator ends the paragraph (RFC 3676 4.3, as mutt reads it)."""
    cut = "".join((" \n" if len(w) > 6 else " ") + w for w in APPROACH.split(" "))[1:]  # "a \nhonorarium"
    raw = _flowed_raw(cut, "format=flowed; delsp=yes")
    assert "anhonorarium" in MessageView.parse(raw).body_text  # (joined, as a reader of format=flowed shows it)
    assert "honorarium" in MessageView.parse(raw).body_text.split()
    assert APPROACH_CUES <= _scores(raw)
    blank = cut.replace(" \n", " \n  \n")  # review32b #1: an empty flowed line between the two halves
    assert "anhonorarium" in MessageView.parse(_flowed_raw(blank, "format=flowed; delsp=yes")).body_text
    assert APPROACH_CUES <= _scores(_flowed_raw(blank, "format=flowed; delsp=yes"))
    padded = "  \n" * 40_000 + cut  # review32b #2: 120 KB of lines a reader of format=flowed joins into nothing
    assert APPROACH_CUES <= _scores(_flowed_raw(padded, "format=flowed; delsp=yes"))
    assert APPROACH_CUES <= _scores(_flowed_raw(" " * 100_001 + "\n" + cut, "format=flowed; delsp=yes"))  # (blanks)
    from gateway.parse import _unflow_lines, unflow
    rnd = random.Random(32)  # an unquoted text read in two passes reads the lines as the line-by-line reading does
    for _ in range(20_000):
        text = "".join(rnd.choice(["a", "b", " ", "\n", "--", "-- \n", " \n", "\r\n", "x ", "  "]) for _ in range(12))
        if not text.startswith(">"):
            for delsp in (False, True):
                assert [x.strip() for x in unflow(text, delsp).split("\n")] == \
                    [x.strip() for x in _unflow_lines(text.replace("\r\n", "\n"), delsp).split("\n")], text
    assert unflow("Best regards, \n-- \nAnna", False) == "Best regards, \n-- \nAnna"
    assert unflow("> Best regards, \n> -- \n> Anna", True) == "> Best regards,\n> -- \n> Anna"


def test_negative_circled_and_squared_letters_read_as_latin() -> None:
    """attack42 #10: U+1F150-1F169 and U+1F170-1F189 have no compatibility decomposition, so the
    look-alike table built from NFKC left them out: "\U0001f166\U0001f157\U0001f150\U0001f163..." hid
    WhatsApp."""
    for base in (0x1F150, 0x1F170):
        word = "".join(chr(base + ord(c) - 65) for c in "WHATSAPP")
        msg = message(FROM, f"Could we continue on {word}? My number is +44 7700 900123.")
        assert "continue on WHATSAPP?" in MessageView.parse(msg).body_text, hex(base)
        sig, _ = run([ContentCheck()], msg)
        assert one(sig, "content.offchannel_mention").evidence["apps"] == "whatsapp", hex(base)


def test_a_narrow_space_beside_a_space_is_dropped_for_every_check() -> None:
    """review42 #5: a braille blank beside each space hid the claimed role, the messenger and the personal
    number from the claims and content checks (the phrases are written with one space)."""
    body = ("I am a reporter at the Northern Daily Ledger. Could we continue on WhatsApp? "
            "Please send me your personal number.")
    msg = message(FROM, body.replace(" ", " \u2800"))
    assert MessageView.parse(msg).body_text.rstrip("\n") == body
    sig, _ = run([ContentCheck()], msg)
    assert {"content.offchannel_mention", "content.personal_contact_request"} <= names(sig)


def test_cue_words_written_a_letter_at_a_time_are_read() -> None:
    """attack42 #4: the cue words written with a space between their letters (as the spaced-text generators write
    them; two or more spaces between words) hid them: the messenger mention and the cue phrases now read the lines
    holding them joined too, in plain text and HTML alike, the body as written (a reader reads both). (Words a letter
    at a time with one space between words too, "I a m a r e p o r t e r", are not read: that needs a dictionary.)"""
    from gateway.checks.pretext import PretextCheck
    body = ("Dear Tom,\n\nWe offer an h o n o r a r i u m for your views. Could we continue on W h a t s A p p?\n"
            "P l e a s e  k e e p  t h i s  b e t w e e n  u s.\n")
    html = "<p>" + body.replace("  ", "&nbsp; ").replace("\n", "<br>") + "</p>"  # (HTML collapses two spaces)
    for raw in (message(FROM, body), message(FROM, "", html=html)):
        view = MessageView.parse(raw)
        assert "W h a t s A p p" in view.body_text
        sig, _ = run([PretextCheck(), ContentCheck()], raw)
        assert one(sig, "content.offchannel_mention").evidence["apps"] == "whatsapp"
        assert {"offer.money", "pressure.secrecy"} <= names(sig)
    # one-letter words in ordinary text are no such line
    plain = message(FROM, "Options a, b or c: pick plan B a or C. Call J. R. R. Smith at the office.\n")
    sig, _ = run([PretextCheck(), ContentCheck()], plain)
    assert not MessageView.parse(plain).disguises.spaced and "content.offchannel_mention" not in names(sig)
    # a letter-spaced heading in capitals names the word, as the same heading written whole (review43b #1)
    # (and a verb of talking made a noun: "A TALK ON SIGNAL PROCESSING", docs/known-limits.md "Open after session 43")
    for heading in ("L E C T U R E S  O N  S I G N A L  T H E O R Y", "LECTURES ON SIGNAL THEORY",
                    "F O L L O W  U S  O N  L I N E", "A TALK ON SIGNAL PROCESSING", "INVITED TALK ON SIGNAL THEORY",
                    "SEMINAR: THE CALL ON LINE ITEMS", "GIVE A TALK ON SIGNAL"):
        sig, _ = run([ContentCheck()], message(FROM, f"{heading}\n\nDear colleague, the programme is attached.\n"))
        assert "content.offchannel_mention" not in names(sig), heading
    # but a request in capitals is one (review43c #2): after a move, after "ME" or a verb of talking
    for request in ("PLEASE ADD ME ON SIGNAL", "CONTACT ME ON SIGNAL", "TEXT ME ON SIGNAL. I DON'T TRUST EMAIL.",
                    "MOVE TO SIGNAL", "CONTINUE ON LINE", "CALL ME ON SIGNAL", "SWITCH TO SIGNAL", "REACH ME VIA LINE",
                    "LET'S TALK ON SIGNAL", "I M P O R T A N T:  C O N T A C T  M E  O N  S I G N A L",
                    "PLEASE TALK ON SIGNAL", "WE CAN CHAT ON SIGNAL",
                    "PIZZA" + " " * 26 + "TALK ON SIGNAL"):  # (the window's first letter, "A", no word of its own)
        sig, _ = run([ContentCheck()], message(FROM, f"Dear colleague,\n\n{request}\n"))
        assert "content.offchannel_mention" in names(sig), request
    # and in mixed case, SIGNAL in capitals is the app whatever comes before (docreview43 #1)
    for prose in ("We are all on SIGNAL now.", "Contact us on SIGNAL, not here.", "I am on LINE as yuki_t."):
        sig, _ = run([ContentCheck()], message(FROM, f"Dear colleague,\n\n{prose}\n"))
        assert "content.offchannel_mention" in names(sig), prose


def test_cue_words_written_a_letter_at_a_time_with_other_separators_are_read() -> None:
    """review43b #4: a dot, a hyphen, two spaces or a tab between the letters still hid the messenger and the cue
    phrases (only one space was read): they are read as the words a reader reads, in plain text and HTML."""
    from gateway.checks.pretext import PretextCheck
    for move, app in (("Could we continue on S.i.g.n.a.l?", "signal"), ("Add me on W-h-a-t-s-A-p-p.", "whatsapp"),
                      ("Could we continue on W  h  a  t  s  A  p  p?", "whatsapp"),
                      ("Could we continue on T. e. l. e. g. r. a. m?", "telegram"),
                      ("Add me on W \u2013 h \u2013 a \u2013 t \u2013 s \u2013 A \u2013 p \u2013 p.", "whatsapp"),
                      ("Could we continue on S/i/g/n/a/l?", "signal")):
        body = (f"Dear Tom,\n\nWe offer an h.o.n.o.r.a.r.i.u.m for your views. {move}\n"
                "k-e-e-p t-h-i-s b-e-t-w-e-e-n u-s.\n")
        html = "<p>" + body.replace("  ", "&nbsp; ").replace("\n", "<br>") + "</p>"
        for raw in (message(FROM, body), message(FROM, "", html=html)):
            sig, _ = run([PretextCheck(), ContentCheck()], raw)
            assert one(sig, "content.offchannel_mention").evidence["apps"] == app, move
            assert {"offer.money", "pressure.secrecy"} <= names(sig), move
    # a one-letter word in the generators' format stays a word (review44 #1)
    for line, cue in (("I  a m  o n  W h a t s A p p", "content.offchannel_mention"),
                      ("k.e.e.p t.h.i.s a s.e.c.r.e.t b.e.t.w.e.e.n u.s", "pressure.secrecy"),
                      ("I  w i l l  p a y  y o u  a  f e e  o f  2 0 0 0  U S D", "offer.money")):
        sig, _ = run([PretextCheck(), ContentCheck()], message(FROM, f"Dear Tom,\n\n{line}\n\nBest,\nLaura\n"))
        assert cue in names(sig), line
    # ordinary abbreviations: a run of four gives its line's other reading, its shorter runs joined too, and no cue
    plain = message(FROM, "See e.g. the S.u.S.E notes, A-B-C grades and J. R. R. Tolkien; T-shirt sizes S-M-L.\n")
    assert MessageView.parse(plain).disguises.spaced == [
        "See eg. the SuSE notes, ABC grades and JRR. Tolkien; T-shirt sizes SML."]
    sig, _ = run([PretextCheck(), ContentCheck()], plain)
    assert "content.offchannel_mention" not in names(sig) and "pressure.secrecy" not in names(sig)


def test_the_personal_number_request_is_read_as_the_messenger_mention_is() -> None:
    """review42 #5: marks, hooked letters and one-letter words hid the request for a personal number from the
    content check, which read them for the messenger mention only: it reads the same other readings now."""
    for body in ("Please send me your pe\u0301rsonal nu\u0323mber.", "Please send me your \u01a5ersonal number.",
                 "Please send me your  p e r s o n a l  number."):
        sig, _ = run([ContentCheck()], message(FROM, body))
        assert one(sig, "content.personal_contact_request").evidence["phrase"] == "send me your personal number"
    sig, _ = run([ContentCheck()], message(FROM, "Bitte senden Sie mir Ihre pers\u00f6nliche Nummer nicht."))
    assert "content.personal_contact_request" not in names(sig)


def test_a_reading_too_long_for_the_budget_does_not_keep_out_the_ones_after_it() -> None:
    """review43b #3: the other readings of a message's lines share MAX_SPACED characters; one that did not fit (a line
    of 24 KB split by narrow spaces) ended the list, and the letter-spaced reading after it was lost."""
    body = "Could we continue on W h a t s A p p?\n" + "Plea\u200ase kee\u200ap " * 2_000 + "\n"
    view = MessageView.parse(message(FROM, body))
    assert "Could we continue on WhatsApp?" in view.disguises.spaced
    sig, _ = run([ContentCheck()], message(FROM, body))
    assert one(sig, "content.offchannel_mention").evidence["apps"] == "whatsapp"


def test_an_html_parts_other_readings_are_given_once() -> None:
    """review43b #5: the HTML part's scratch readings (its beginning read ahead) shared the message's list of other
    readings, so each letter-spaced or split line of an HTML part was given twice (and counted twice against the
    budget)."""
    html = ("<p>Could we continue on W h a t s A p p?</p>"  # (a hidden block: the part is read another way too)
            '<div style="font-size:1px;color:#ffffff">' + "ab\u2009" * 200 + "</div>")
    view = MessageView.parse(message(FROM, "", html=html))
    assert view.disguises.spaced.count("Could we continue on WhatsApp?") == 1

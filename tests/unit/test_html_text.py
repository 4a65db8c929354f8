"""gateway/html_text.py: visible text and links, in linear time on hostile markup.

Linearity is asserted on the tokenizer's own work counters (`steps`: loop iterations,
`scanned`: characters examined by its searches), never on the clock; the timeout marks are
only a guard against a hang (the stdlib parser took 32 s on 80 KB of `<a x=`; 1 MB here)."""

from __future__ import annotations

import pytest

from gateway.html_text import (
    MAX_ATTRIBUTES,
    MAX_LINKS,
    MAX_MARKUP,
    MAX_REFS,
    MIN_HIDDEN_KEPT,
    css_text,
    declarations,
    html_scan,
    html_to_text,
)

MB = 1_000_000


def _lines(text: str, width: int = 900) -> str:
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


def _repeat(unit: str, size: int = MB) -> str:
    return _lines((unit * (size // len(unit) + 1))[:size])


HOSTILE = {
    "a_x_eq": _repeat("<a x="),  # the report: stdlib html.parser rescans the open tag
    "comment_unterminated": "<!--" + _repeat("a -- b -> "),
    "cdata": _repeat("<![CDATA[x"),
    "cdata_closed": _repeat("<![CDATA[x]]>"),
    "many_lt": _repeat("<"),
    "lt_letter": _repeat("<a "),
    "nested": "<div><span>" * (MB // 11),
    "attribute_soup": "<a " + _repeat("x=\"1\" y='2' z=3 =4 / "),
    "charref_flood": _repeat("&#"),
    "charref_long_number": "&#" + "9" * MB,
    "charref_long_hex": "&#x" + "f" * MB,
    "named_ref_flood": _repeat("&amp"),
    "end_tag_like": "<script>" + _repeat("</scrip"),
    "comments_many": _repeat("<!--x-->"),
    "quotes_unbalanced": '<a href="' + _repeat("x'"),
    "bogus": _repeat("<?x"),
    "end_tags_open": _repeat("</a "),
    "hidden_styles": _repeat('<span style="font-size:' + "0" * 50 + 'x; display :none">a</p>'),
    "hidden_long_style": '<span style="' + "opacity:0." + "0" * MB + "1" + '">x</span>',
    "hidden_nested": '<span style="display:none">' + "<span>a" * (MB // 7),
    "style_blocks": _repeat("<style>x</style><STYLE>"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_markup_costs_linear_work(name: str) -> None:
    markup = HOSTILE[name]
    result = html_scan(markup, limit=len(markup))
    n = len(markup)
    assert result.steps <= n + 10
    assert result.scanned <= 4 * n + 100, (result.scanned, n)
    assert isinstance(result.text, str)


def test_linear_work_scales_with_size() -> None:
    """The report's input at 20 KB and 80 KB: four times the input, four times the work."""
    small, big = (html_scan(_repeat("<a x=", k * 1000)) for k in (20, 80))
    assert big.scanned <= 4.5 * small.scanned and big.steps <= 4.5 * max(small.steps, 1)


def test_pathological_inputs_give_the_text_a_browser_shows() -> None:
    assert html_to_text(HOSTILE["a_x_eq"])[0] == ""  # one tag that never ends: dropped
    assert html_to_text("before <!-- never closed")[0] == "before"
    assert html_to_text("a<![CDATA[hidden]]>b")[0] == "ab"  # a bogus comment up to the first '>'
    assert html_to_text("x<![CDATA[x>y")[0] == "xy"
    assert html_to_text("<<<< 1 < 2 >")[0] == "<<<< 1 < 2 >"
    assert html_to_text("<div>" * 10000 + "deep" + "</div>" * 10000)[0] == "deep"
    assert html_to_text("&#" * 1000)[0] == "&#" * 1000
    assert html_to_text("&#" + "9" * 5000 + ";x")[0] == "\ufffdx"  # stdlib: ValueError
    assert html_to_text("&#x" + "0" * 5000 + "41;")[0] == "A"


def test_visible_text_links_entities_and_skipped_elements() -> None:
    markup = ("<html><head><title>T</title><style>p {color: red}</style><script>evil()</script>"
              "</head><body><p>Hi &amp; welcome&nbsp;&#39;x&#x27; &copy2024"
              '<a href="https://wa.me/1?a=1&amp;b=2">there</a>'
              "<a HREF='https://t.me/x' href=second>tg</a><a href=\" https://x.test/ \">x</a>"
              "<!-- hidden --><!--[if mso]>hidden<![endif]-->"
              "<textarea>&lt;shown&gt;</textarea><noscript>ns</noscript></body></html>")
    text, links = html_to_text(markup)
    assert text == "Hi & welcome\xa0'x' \xa92024theretgx<shown>ns"
    assert links == ["https://wa.me/1?a=1&b=2", "https://t.me/x", "https://x.test/"]


def test_attribute_references_follow_the_legacy_rule() -> None:
    _, links = html_to_text('<a href="/p?a=1&copy=2&lang&amp;x">l</a>')
    assert links == ["/p?a=1&copy=2&lang&x"]


def test_head_content_a_browser_shows_is_kept() -> None:
    """A browser ends <head> at body content: text there is shown, and analysed."""
    assert html_to_text("<head><meta charset=utf-8>Call me on WhatsApp")[0] == "Call me on WhatsApp"


def test_raw_text_ends_only_at_a_real_end_tag() -> None:
    assert html_to_text("<script>a</scriptx>b</SCRIPT >c")[0] == "c"
    assert html_to_text("<style>x</style")[0] == ""
    assert html_to_text("<xmp><b>&lt;</xmp>")[0] == "<b>&lt;"
    assert html_to_text("<plaintext><b>raw</b>")[0] == "<b>raw</b>"


def test_limits_cap_input_and_links() -> None:
    text, _ = html_to_text("x" * 5000, limit=100)
    assert text == "x" * 100
    _, links = html_to_text('<a href="l">.</a>' * (MAX_LINKS + 50))
    assert len(links) == MAX_LINKS


def test_never_raises_on_arbitrary_text() -> None:
    for markup in ("<", "</", "<!", "<!-", "<?", "&", "<a", "<a b", "<a b=", '<a b="', "\x00<\udcff>",
                   "<a href=x", "</a", "<script", "<script>", "<title>x"):
        html_scan(markup)


def test_past_max_markup_the_rest_is_read_coarsely() -> None:
    """An HTML bomb of tags (140,000 in 1 MB took the tokenizer's Python loop ~1.2 s of the
    event loop): after MAX_MARKUP markups the rest is read by regex passes in C, its text and
    links still found. Before, the loop ran once per tag."""
    tail = 'Tail words <a class=x href="https://evil.test/x">here</a> &amp; <b>more</b><!-- c --> <A HREF=h2>'
    markup = "<div><span>" * MAX_MARKUP + tail
    result = html_scan(markup, limit=len(markup))
    assert result.steps <= MAX_MARKUP + 1
    assert "Tail words here & more" in result.text
    assert result.links == ["https://evil.test/x", "h2"]
    assert html_to_text("<b>x</b>" * (MAX_MARKUP // 2) + "<i>end</i>")[0] == "x" * (MAX_MARKUP // 2) + " end"


def test_past_max_attributes_the_rest_is_read_coarsely() -> None:
    """One tag of tens of thousands of attributes (a Python iteration each, ~0.2 s for 20,000):
    after MAX_ATTRIBUTES the rest is read coarsely from that tag's '<', text and links still
    found. (The steps bound fails with the budget check disabled: tried; before, `steps` did not
    count attributes.)"""
    markup = "before <p " + 'a="x" ' * (MAX_ATTRIBUTES + 100) + '>after <a href="h3">x</a>'
    result = html_scan(markup, limit=len(markup))
    assert result.steps <= MAX_ATTRIBUTES + 10
    assert result.text == "before after x" and result.links == ["h3"]
    late = "<a" + " x=1" * (MAX_ATTRIBUTES + 100) + ' href="late">link text</a> after'
    assert html_to_text(late) == ("link text after", ["late"])
    ended = "<textarea>shown</textarea" + " x=1" * (MAX_ATTRIBUTES + 100) + "> tail"
    assert html_to_text(ended)[0] == "shown tail"


def test_at_most_max_refs_references_are_decoded() -> None:
    text, _ = html_to_text("&amp;" * (MAX_REFS + 5) + " &lt;b&gt;")
    assert text == "&" * MAX_REFS + "&amp;" * 5 + " &lt;b&gt;"
    assert html_to_text("&lt;b&gt; &#65;&#x42;&nbsp;C")[0] == "<b> AB\xa0C"


@pytest.mark.parametrize("hidden", [
    '<span style="display:none">', '<span style="DISPLAY : None !important">', '<span style="visibility:hidden">',
    '<span style="font-size:0px">', "<span style='font-size: 0'>", '<span style="opacity:0.0">',
    '<span hidden>', '<span style="max-height:0;overflow:hidden">',
    '<span style="color:red;display:none">', '<font style="font-size:0pt">',
])
def test_hidden_text_salting_is_left_out(hidden: str) -> None:
    """Invisible letters between the visible ones (Cisco Talos 2025, "hidden text salting"):
    an approach salted this way scanned clean. The text a browser shows is read."""
    end = "</font>" if hidden.startswith("<font") else "</span>"
    salted = f"<p>we pay for{hidden}zq{end} your vi{hidden}xx{end}ews</p><p>next</p>"
    assert html_to_text(salted)[0] == "we pay for your views\nnext"


@pytest.mark.parametrize("visible", [
    '<span style="font-size:10px">', '<span style="opacity:0.5">', '<span style="display:inline">',
    '<span style="height:0">', '<span data-hidden="1">', '<span title="display:none">',
    '<span style="x-display:none">', '<span style="mso-hide:all">',  # Outlook's alone: every other reader shows it
])
def test_styles_that_do_not_hide_keep_their_text(visible: str) -> None:
    assert html_to_text(f"<p>a{visible}b</span>c</p>")[0] == "abc"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("style", ["font-size:0", "opacity:0", "display:none", "overflow:hidden;height:0",
                                   "color:red", "font-size:12px"])
def test_a_style_with_a_long_white_space_run_is_read_in_linear_work(style: str) -> None:
    """attack24 #1: the hiding patterns backtracked over the white space after a zero value
    (`font-size:0` and 4000 spaces: 167 ms a tag; 250 such tags in 1 MB were ~40 s of event loop).
    Styles are now read declaration by declaration (str methods): the work is the style's length."""
    tag = f'<span style="{style}{" " * 4000}x">a</span>'
    markup = tag * (MB // len(tag))
    result = html_scan(markup)
    assert result.text == "a" * (MB // len(tag))  # the junk value after the spaces: not a hiding declaration
    assert result.scanned <= 4 * len(markup) and result.steps <= 3 * (MB // len(tag)) + 10


def test_inline_style_declarations_are_read_as_css() -> None:
    """CSS Syntax: split at ';' outside strings, brackets and escapes; `!important` taken off."""
    assert declarations(" Font-Size : 0 ! IMPORTANT ;color:red;;x") == [
        ("font-size", "0", True), ("color", "red", False)]
    assert declarations('font-family:"a;display:none";b:url(x;y)\\;c:d') == [
        ("font-family", '"a;display:none"', False), ("b", "url(x;y)\\;c:d", False)]
    assert declarations("a:'" + "(" * 100) is None  # more delimiters than a reader's style: not followed
    assert html_to_text('<p>a<span style="font-family:\'x;font-size:0\'">WhatsApp</span>b</p>')[0] == "aWhatsAppb"


def test_hiding_ends_where_a_browser_ends_it_or_earlier() -> None:
    """The same element nested inside counts; a hidden inline element left open ends at the
    block that holds it (the browser closes it there); a void element hides nothing."""
    assert html_to_text("<div>a<span hidden>b<span>c</span>d</span>e</div>")[0] == "ae"
    assert html_to_text("<p>a<span hidden>b</p><p>shown</p>")[0] == "a\nshown"
    assert html_to_text('<p>a<img style="display:none">b<br hidden>c</p>')[0] == "ab\nc"
    assert html_to_text("<div hidden>a<div>b</div>c</div>d")[0] == "c\nd"  # the inner block ends it early
    text, links = html_to_text('<span hidden><a href="https://x.example/">x</a></span>y')
    assert text == "y" and links == ["https://x.example/"]  # links still collected


def test_long_hidden_text_is_read_after_all() -> None:
    """What one client hides another may show (Outlook ignores some of these styles): hidden text
    of MIN_HIDDEN_KEPT characters or more is read, on a line of its own; salt is short."""
    long = "we pay for your views on the ministry's plans"
    assert len(long) >= MIN_HIDDEN_KEPT
    assert html_to_text(f'<p>Hello<span style="display:none">{long}</span> there</p>')[0] == f"Hello\n{long}\n there"
    result = html_scan('<p>Hel<span style="display:none">zq</span>lo</p>')
    assert result.text == "Hello" and result.left_out == 2


def test_hiding_that_a_style_sheet_can_undo_does_not_count() -> None:
    """An author rule with !important beats an inline style without it, and any author rule for
    display beats the hidden attribute: then the text a browser may show is read."""
    salted = '<p>we pay for<span style="display:none">zq</span> your views</p>'
    sheet = "<style>span { display: inline !important }</style>"
    assert html_to_text(salted)[0] == "we pay for your views"
    assert html_to_text(sheet + salted)[0] == "we pay forzq your views"
    assert html_to_text(salted + sheet)[0] == "we pay forzq your views"  # a sheet later in the document too
    important = salted.replace("display:none", "display:none !important")
    assert html_to_text(sheet + important)[0] == "we pay for your views"  # inline !important wins
    assert html_to_text("<p>a<span hidden>zq</span>b</p>")[0] == "ab"
    assert html_to_text("<style>p{color:red}</style><p>a<span hidden>zq</span>b</p>")[0] == "azqb"


def test_a_descendant_that_shows_itself_ends_the_hiding() -> None:
    """review20: a visibility:visible child of a visibility:hidden element is shown (CSS 2.1), and a
    font-size:0 wrapper round inline blocks with their own font size (email "ghost columns") shows
    them: the hiding ends at such a descendant (the rest is read: more, never less)."""
    assert html_to_text('<p><span style="visibility:hidden">x<span style="visibility:visible">Add me on WhatsApp'
                        "</span></span></p>")[0] == "Add me on WhatsApp"
    ghost = ('<div style="font-size:0"><div style="display:inline-block;font-size:14px">Add me on WhatsApp</div>'
             '<div style="display:inline-block;font-size:14px">+852 5550 1837</div></div>')
    assert html_to_text(ghost)[0] == "Add me on WhatsApp\n+852 5550 1837"
    assert html_to_text('<p>a<span style="display:none">zq<b style="font-size:0">x</b></span>b</p>')[0] == "ab"


@pytest.mark.parametrize(("markup", "text"), [
    ('<p>on <bdo dir="rtl">ppAstahW</bdo>?</p>', "on \u202eppAstahW\u202c?"),
    ('<p>on <bdo DIR=RTL><b>ppAstahW</bdo> now</p>', "on \u202eppAstahW\u202c now"),  # inner left open
    ('<span style="unicode-bidi:bidi-override;direction:rtl">ppAstahW</span>', "\u202eppAstahW\u202c"),
    ('<span dir="rtl" style="unicode-bidi: isolate-override">x</span>', "\u202ex\u202c"),
    ('<div style="direction: rtl; unicode-bidi: bidi-override">ppAstahW<br>margeleT</div>',
     "\u202eppAstahW\n\u202emargeleT\u202c"),  # a line break ends an override: it goes on
    ('<bdo dir="ltr">abc</bdo> <span style="direction:rtl">abc</span> <span dir=rtl>abc</span>', "abc abc abc"),
])
def test_html_bidi_override_is_written_as_the_unicode_override(markup: str, text: str) -> None:
    """attack22 #6: <bdo dir=rtl> and CSS bidi-override, which a reader shows reversed, were read as
    the reversed letters with no signal; they are now the U+202E the reading order undoes."""
    assert html_to_text(markup)[0] == text


def test_html_bidi_overrides_are_bounded() -> None:
    result = html_scan('<bdo dir="rtl">x' * 10_000)
    assert result.text.count("\u202e") == 64 and result.steps < 30_000


_R = '<span style="unicode-bidi:bidi-override">ppAstahW</span>'


@pytest.mark.parametrize(("markup", "text"), [
    ('<style>.r{unicode-bidi:bidi-override;direction:rtl}</style><p>on <span class="x r">ppAstahW</span></p>',
     "on \u202eppAstahW\u202c"),  # a style block's rule for a class
    ('<style>@media all { span.R, div .r { unicode-bidi: bidi-override } .d{direction:rtl} }</style>'
     '<p class=d>on <span class="r">ppAstahW</span></p>', "on \u202eppAstahW\u202c"),
    (f'<div style="direction:rtl"><p>on {_R}</p></div>', "on \u202eppAstahW\u202c"),  # direction inherits
    (f'<div dir="rtl"><span>on {_R}</span></div>', "on \u202eppAstahW\u202c"),
    (f'<div dir="rtl"><p dir="ltr">on {_R}</p></div> {_R}', "on ppAstahW \nppAstahW"),
    (f'<div style="direction:rtl">x</div><p>on {_R}</p>', "x\non ppAstahW"),  # it ended: no longer inherited
    ('<span style="unicode-bidi:/**/bidi-override;direction:rtl">ppAstahW</span>', "\u202eppAstahW\u202c"),
    ('<span style="unicode-bidi:bidi-override;direction:\\72 tl">ppAstahW</span>', "\u202eppAstahW\u202c"),
    ('<span style="unicode-bidi:bidi-ov\\65rride;direction:r\\tl">ppAstahW</span>', "\u202eppAstahW\u202c"),
    ('<span style="unicode-bidi:bidi-override;direction:&#114;tl">ppAstahW</span>', "\u202eppAstahW\u202c"),
    ('<span style="unicode-bidi:bidi-override;/* direction:rtl */">abc</span>', "abc"),
    ('<style>.r{direction:rtl}</style><span class="r">abc</span>', "abc"),  # direction alone reverses nothing
    # attack24 #2: a block's rule for an element type or an id
    ('<style>td span{unicode-bidi:bidi-override;direction:rtl}</style><table><tr><td>on <span>ppAstahW</span>'
     "</td></tr></table>", "on \u202eppAstahW\u202c"),
    ('<style>#q{unicode-bidi:bidi-override}</style><div dir="rtl"><b id="Q">ppAstahW</b></div>',
     "\u202eppAstahW\u202c"),
    ('<style>b{unicode-bidi:bidi-override;direction:rtl} .l{direction:ltr}</style><b class="l">WhatsApp</b>',
     "WhatsApp"),  # the class's direction beats the type's: overridden left to right, as written
])
def test_html_css_bidi_override_is_read_as_a_browser_reads_it(markup: str, text: str) -> None:
    """attack23 H1: an override from a style block's class rule, a direction inherited from an ancestor,
    CSS comments and escapes and character references in the style were not read: cue words written
    backwards scanned clean."""
    assert html_to_text(markup)[0] == text


def test_text_a_style_blocks_bidi_rule_reverses_is_read_as_written_too() -> None:
    """review26c #5: selectors are not matched (`td span` applies to every span), so the lines a style block's
    bidi rules change are also read without them (`bidi_free`); an inline override is certain and is not."""
    result = html_scan('<style>td span{unicode-bidi:bidi-override;direction:rtl}</style><p>on <span>WhatsApp</span>')
    assert result.text == "on \u202eWhatsApp\u202c" and result.bidi_free == "on WhatsApp"
    assert html_scan(f"<p>on {_R}</p>").bidi_free == ""


def test_the_text_is_read_again_without_bidi_rules_only_when_one_reverses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Session 26's cost: a style block's `direction` rule applied to any element read the whole part a second
    time, though with no element overriding bidi both readings are the same text (html_bench "style block of
    rules": 0.068 -> 0.217 s at 160 KB). A second reading is made when an element overrides bidi and a rule's
    override or direction applies to it or an ancestor (review27 #1: a direction that stops a reversal)."""
    import gateway.html_text as module
    calls: list[bool] = []
    scan = module._scanned

    def counted(markup: str, sheet_bidi: bool = True, shown: frozenset[int] = frozenset(),
                budget: module.MarkupBudget | None = None, rules: module._SheetRules | None = None) -> module._Scanner:
        calls.append(sheet_bidi)
        return scan(markup, sheet_bidi, shown, budget, rules)

    monkeypatch.setattr(module, "_scanned", counted)
    cases = [('<style>.c{direction:rtl}</style><p><i class="c">on WhatsApp</i></p>', 1, "on WhatsApp"),
             ('<style>.c{unicode-bidi:bidi-override;direction:rtl}</style><p>on <i class="c">WhatsApp</i></p>', 2,
              "on \u202eWhatsApp\u202c"),
             ('<style>.c{direction:rtl}</style><p class="c">on <b style="unicode-bidi:bidi-override">WhatsApp</b>',
              2, "on \u202eWhatsApp\u202c"),
             # review27 #1: a rule's direction that stops an inline reversal (on a phone only: it may not apply)
             ('<style>@media (max-width:600px){.m{direction:ltr}}</style><p>on <b class="m" dir="rtl" style="unicode-'
              'bidi:bidi-override">ppAstahW</b>', 2, "on ppAstahW"),
             # on paper only: not a rule on a screen, which shows the reversal (review27 #6)
             ('<style>@media print{.m{direction:ltr}}</style><p>on <b class="m" dir="rtl" style="unicode-bidi:'
              'bidi-override">ppAstahW</b>', 1, "on \u202eppAstahW\u202c")]
    for markup, readings, text in cases:
        calls.clear()
        assert module.html_scan(markup).text == text and len(calls) == readings, markup


def test_html_style_block_override_not_applied_is_counted() -> None:
    """A style block's override for a selector not read (no CSS engine) is counted, when the document
    says rtl somewhere, so the disguise is signalled even unread; css_text reads comments and escapes
    in linear time."""
    doc = ('<style>p > span:first-child{unicode-bidi:bidi-override}</style><div dir="rtl"><p><span>ppAstahW</span>'
           '</p></div>')
    assert html_scan(doc).unapplied == 1
    assert html_scan(doc.replace('dir="rtl"', "")).unapplied == 0
    assert html_scan("<style>[title]{unicode-bidi:bidi-override;direction:rtl}</style><span>x</span>").unapplied == 1
    assert html_scan("<style>span{unicode-bidi:bidi-override;direction:rtl}</style><span>x</span>").unapplied == 0
    assert css_text("a/**/b/* c */d /* open") == "a b d "  # (a comment ends the token before it: review30 #3)
    assert css_text("\\72 tl \\000072tl \\;x \\0 ") == "rtl rtl ;x \ufffd"
    sheet = "<style>" + "/*" * 20_000 + "</style>" + "{" * 20_000 + "}" * 20_000
    result = html_scan(sheet + "<style>" + "a{" * 20_000 + "</style>")
    assert result.steps < 100 and result.scanned < 40 * len(sheet)


# attack35a finding 1: what makes every later tag costly (a style block's class rule: `tag_end`'s slow path), a
# style block's bidi override applied (the reading without style-block bidi rules) and a wrapper (the peeled reading)
_THRICE = ('<style>.r{unicode-bidi:bidi-override;direction:rtl}</style><span class=r>ab</span>'
           'x<span style="width:0">y<span style="width:0">z</span></span>')


def _html_message(parts: list[str]) -> bytes:
    head = ["From: Alice <alice@ext.test>", "To: bob@example.org", "Subject: hello", "Message-ID: <m35@ext.test>",
            "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b35"', ""]
    body = [f"--b35\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{_lines(part)}" for part in parts]
    return ("\r\n".join(head) + "\r\n" + "\r\n".join(body) + "\r\n--b35--\r\n").encode()


def _counting_markups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per markup the tokenizer reads (`_Scanner.markup`: a tag, comment ...), every reading counted."""
    import gateway.html_text as module
    calls: list[int] = []
    markup = module._Scanner.markup

    def counted(self: module._Scanner, lt: int) -> int:
        calls.append(lt)
        return markup(self, lt)

    monkeypatch.setattr(module._Scanner, "markup", counted)
    return calls


def test_a_message_reads_at_most_max_markup_tags_in_all_its_parts_and_readings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """attack35a finding 1: MAX_MARKUP, MAX_ATTRIBUTES and MAX_REFS were each reading's own, and each HTML part was
    read up to three times (the peeled reading, the one without style-block bidi rules): 8 parts of 9,900 `<p>` took
    ~235,000 tags through the Python loop, 2.2-3.3 s of the event loop for 240 KB. The budgets are the message's now
    (`MarkupBudget`): past them the rest is read coarsely, as one part past MAX_MARKUP was, its text and links still
    read. (Main read 237,840 markups here.)"""
    from gateway.parse import MessageView
    calls = _counting_markups(monkeypatch)
    parts = [_THRICE + "<p>" * 9900 + f'<p>tail{k} words <a href="https://x{k}.test/">link</a>' for k in range(8)]
    view = MessageView.parse(_html_message(parts))
    assert sum(p.content_type == "text/html" for p in view.text_parts) == 8
    assert len(calls) <= MAX_MARKUP
    for k in range(8):  # every part's text and links read, past the budget too
        assert f"tail{k} words link" in view.html_text
        assert f"https://x{k}.test/" in view.html_links


def test_the_readings_of_one_part_share_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second and third readings of a part spend from the same budget as the first (they had their own: ~3 x
    MAX_MARKUP tags for one part), and are made only when what is left covers what the first spent: one the budget
    cut would read its rest coarsely and differ from the first in every line (noise, not another reading)."""
    calls = _counting_markups(monkeypatch)
    small = html_scan(_THRICE + "<b>x</b>" * 1500 + "<p>the end")
    first = len(calls) // 3
    assert len(calls) == 3 * first and small.bidi_free  # a third of the budget each: all three readings
    calls.clear()
    big = html_scan(_THRICE + "<b>x</b>" * 4900 + "<p>the end")
    assert first < len(calls) <= MAX_MARKUP and big.text.endswith("the end")
    assert len(calls) == 2 * 4900 + first - 2 * 1500  # the first reading alone
    assert big.bidi_free == "" and "x x" not in big.salt_free  # (no coarse reading's lines)
    calls.clear()
    attributes = _THRICE + '<b a="1" b="2">x</b>' * (MAX_ATTRIBUTES // 3) + "<p>the end"
    assert html_scan(attributes).text.endswith("the end")
    assert len(calls) <= MAX_ATTRIBUTES // 2 + 10  # (the first reading's attributes, not three readings')


def test_a_normal_message_is_read_as_each_part_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mail the budget does not cut reads as before: parts of real size (the most the corpora spend in one message,
    every reading of every part: 3,303 markups) read in one message as each read alone, every reading made."""
    from gateway.parse import MessageView
    calls = _counting_markups(monkeypatch)
    part = ("<style>.r{unicode-bidi:bidi-override;direction:rtl}</style><p>ppAstahW <span class=r>x</span> "
            "<span style='width:0'>Wh<span style='font:0/0 a'>zq</span>atsApp</span></p>"
            + "<div><b>Dear</b> <i>Tom</i>, &amp; more</div>" * 150)
    alone = MessageView.parse(_html_message([part])).text_parts
    one = len(calls)
    assert one > 3 * 600  # every tag read three times
    calls.clear()
    together = MessageView.parse(_html_message([part] * 3)).text_parts
    assert len(calls) == 3 * one
    assert [(p.shown, p.first, p.links, p.salted) for p in together] == [
        (p.shown, p.first, p.links, p.salted) for p in alone] * 3


def test_a_tag_no_style_block_rule_names_reads_no_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """attack35a finding 1: once a style block had a class rule (`classes`) or a hiding rule, every later tag, a bare
    `<p>` too, went through the rules (`bidi`, `may_hide_tag`: ~30 % of a reading of 10,000 `<p>`). A tag with no
    class, id, dir or style that no rule names by its type reads as it did, without them; one a rule names by its
    type still reads them."""
    import gateway.html_text as module
    calls: list[str] = []
    bidi = module._Scanner.bidi

    def counted(self: module._Scanner, name: str, *args: object) -> tuple[bool, bool | None]:
        calls.append(name)
        return bidi(self, name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(module._Scanner, "bidi", counted)
    sheet = "<style>.r{unicode-bidi:bidi-override;direction:rtl} i{unicode-bidi:bidi-override;direction:rtl}" \
            " b{display:none}</style>"
    result = html_scan(sheet + "<p>x</p>" * 1000 + "<p>on <i>ppAstahW</i> Whats<b>zq</b>App <span class=r>x</span>")
    assert "p" not in calls and set(calls) == {"b", "i", "span"} and len(calls) <= 12  # (not 1,000s)
    assert result.text.endswith("on \u202eppAstahW\u202c WhatszqApp \u202ex\u202c") and result.salted == 1
    # under style-block rules an empty inline style reads as before: one not read (`unread_style`: it may hide)
    assert html_scan(sheet + "Whats<bdi style=''>on<table style='font-size:0'>").salt_free == "Whats"


def _alternative(hidden: str, shown: str) -> bytes:
    head = ["From: Dr Li Wei <li.wei.research@gmail.com>", "To: eleanor.shaw@example.org", "Subject: Your views",
            "Date: Tue, 06 Oct 2026 09:00:00 +0000", "Message-ID: <alt35@gmail.com>", "MIME-Version: 1.0",
            'Content-Type: multipart/alternative; boundary="a35"', ""]
    body = [f"--a35\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{_lines(part)}" for part in (hidden, shown)]
    return ("\r\n".join(head) + "\r\n" + "\r\n".join(body) + "\r\n--a35--\r\n").encode()


def test_a_spent_budget_is_said_and_weighed(monkeypatch: pytest.MonkeyPatch) -> None:
    """review35b #1: with one budget per message, a first alternative nobody sees (display:none, 10,000 `<p>`)
    spent it, and the shown alternative's approach text, split by tags or salted with hidden junk, was read
    coarsely: high 53.5-55.5 -> clean 2.6, and nothing said so (one part with the same tags ahead of its text had
    read clean before the budget was shared). A spent budget, a reading not made for want of it, or references
    left undecoded now set `MarkupBudget.short`, the structure check says `message.markup_exceeded`, and the shipped
    policies weigh a stranger's such message like unread text. No corpus or open evaluation message sets it."""
    import asyncio

    from gateway.html_text import MarkupBudget
    from gateway.model import Envelope
    from gateway.parse import MessageView
    from gateway.runtime import Runtime
    from tests.conftest import ROOT
    from tests.support.messages import config

    shown = ("<p>Dear Dr Shaw,</p><p>I am a researcher at a policy institute in Shanghai. We would very much value "
             "your views on the new export controls and offer an honorarium of USD 2,000 for a short paper. "
             "Could we continue on <b>Wh</b>atsApp? Please keep this between us.</p>")
    raw = _alternative('<div style="display:none">' + "<p>" * 10_000 + "</div>", shown)
    assert MessageView.parse(raw).markup_short
    assert not MessageView.parse(_alternative("<p>Hello</p>", shown)).markup_short
    spent, whole = MarkupBudget(), MarkupBudget()
    html_scan(_THRICE + "<b>x</b>" * 4900 + "<p>the end", budget=spent)  # the second and third readings not made
    html_scan(_THRICE + "<b>x</b>" * 1500 + "<p>the end", budget=whole)
    assert spent.short and not whole.short
    refs = MarkupBudget(refs=3)
    html_scan("<p>a&amp;b&amp;c&amp;d&amp;e</p>", budget=refs)
    assert refs.short
    cfg = config(f"policies: [{ROOT / 'policies'}]\nstore: {{backend: memory}}\n")
    result = asyncio.run(Runtime(cfg, offline=True).analyse(raw, Envelope("li.wei.research@gmail.com",
                                                                         ("eleanor.shaw@example.org",)),
                                                            add_received=False))
    assert "message.markup_exceeded" in {s.name for s in result.signals}
    assert "unread-markup-from-a-stranger" in {h.rule_id for h in result.decision.hits}
    assert result.decision.verdict.word in ("suspicious", "high")


def _sheet_selector_sliced(selector: str) -> str:
    """`_sheet_selector` as it was before review35b #3 (quadratic: a slice and a strip per turn), the reference."""
    selector = selector.strip()
    while selector.startswith("<"):
        end = 4 if selector.startswith("<!--") else selector.find(">") + 1
        if end <= 0:
            return ""
        selector = selector[end:].lstrip()
    return selector


def test_the_sheet_selector_reader_is_the_sliced_one_in_one_pass() -> None:
    """review35b #3: the reader of a style block's first selector sliced and stripped the rest once per leading
    tag: 31,000 `<>` before a rule cost 0.47 s of one reading. The one-pass reader gives the same answer on 20,000
    random selectors built from the characters that matter (and on the long hostile one)."""
    import random

    from gateway.html_text import _sheet_selector
    rng = random.Random(35)
    pieces = ["<", ">", "<!--", "-->", "!", "-", " ", "\t", "\n", "\u3000", "\u00a0", "a", ".r", "p", "{", "<style>"]
    for _ in range(20_000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert _sheet_selector(value) == _sheet_selector_sliced(value), repr(value)
    hostile = "<style>" + "<>" * 31_000 + " p::before"
    assert _sheet_selector(hostile) == "p::before"


def _counting_sheets(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """One entry per style block read for its rules (`_for_screen`, which every block read goes through once)."""
    import gateway.html_text as module
    calls: list[str] = []
    for_screen = module._for_screen

    def counted(sheet: str) -> str:
        calls.append(sheet)
        return for_screen(sheet)

    monkeypatch.setattr(module, "_for_screen", counted)
    return calls


def test_a_parts_style_blocks_are_read_once_for_all_its_readings(monkeypatch: pytest.MonkeyPatch) -> None:
    """css36: each reading of a part (the first, the wrappers', the one without style-block bidi rules) read its
    style blocks again: 3 parts of 4,200 hiding rules each cost 0.66-1.02 s of the event loop. The first reading
    reads them and the others read by what it read (`_SheetRules`), the same rules: the three readings are made and
    read as before."""
    sheets = _counting_sheets(monkeypatch)
    rules = "".join(f".c{i}{{display:none}}" for i in range(200))
    result = html_scan(_THRICE.replace("</style>", rules + "</style>") + "<p>on <span class=c7>zq</span>WhatsApp")
    assert len(sheets) == 1  # (5fd9df1: 3)
    assert result.text == "\u202eab\u202cxyz\non zqWhatsApp" and result.bidi_free == "abxyz"
    assert result.salt_free == "\u202eab\u202cx\non WhatsApp\n\u202eab\u202cxy"  # (the wrappers' reading: "xy")
    sheets.clear()
    view = _html_message([_THRICE.replace("</style>", rules + "</style>")] * 3)
    from gateway.parse import MessageView
    assert sum(p.content_type == "text/html" for p in MessageView.parse(view).text_parts) == 3
    assert len(sheets) == 3  # once a part (5fd9df1: 9)


def test_a_messages_style_blocks_are_charged_to_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """css36: the style blocks of every part were read for their rules uncharged (MAX_SHEET_CHARS was each reading's
    own). Their characters are the message's (`MarkupBudget.sheet_chars`, MAX_MESSAGE_SHEET_CHARS), charged once a
    part, by its first reading; past the budget the rest is not read for rules and the budget is short
    (`message.markup_exceeded`), as past its tag budget. So past a part's own MAX_SHEET_CHARS (which had cut
    unsaid: review36 #1)."""
    from gateway.html_text import MAX_MESSAGE_SHEET_CHARS, MAX_SHEET_CHARS, MarkupBudget
    block = "<style>" + _THRICE[7:_THRICE.index("</style>")] + ".z::after{content:'seen'}"
    budget = MarkupBudget()
    assert html_scan(block + "</style><p>x", budget=budget).generated == "seen"
    assert MAX_MESSAGE_SHEET_CHARS - budget.sheet_chars == len(block) and not budget.short  # once, not thrice
    sheets = _counting_sheets(monkeypatch)
    filler = "".join(f".c{i}{{display:none}}" for i in range(7000))  # past a part's MAX_SHEET_CHARS
    part = "<style>" + filler + "</style>" + block + "</style><p>x"  # (its rule past the part's own limit)
    budget = MarkupBudget()
    assert html_scan(part, budget=budget).generated == ""
    assert budget.sheet_chars == MAX_MESSAGE_SHEET_CHARS - MAX_SHEET_CHARS and budget.short  # cut, and said
    budget = MarkupBudget(sheet_chars=MAX_MESSAGE_SHEET_CHARS - MAX_SHEET_CHARS)
    late = "<style>" + filler[:len(filler) // 2] + "</style>" + block + "</style><p>x"
    assert html_scan(late, budget=budget).generated == "seen" and not budget.short  # what is left covers it
    assert html_scan(late, budget=budget).generated == "" and budget.short  # it does not: unread, and said
    assert budget.sheet_chars == 0 and len(sheets) == 1 + 2 + 1  # (the blocks past a budget not read)
    budget = MarkupBudget(sheet_chars=0)
    assert html_scan("<p>no style block", budget=budget).text == "no style block" and not budget.short
    assert html_scan(block + "</style><p>x", budget=budget).generated == "" and budget.short


def test_a_message_past_its_sheet_budget_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    """css36: parts whose style blocks hold more than the message's budget (five of 56,000 characters: the most in
    the ham, phishing and test corpora's messages is 55,216) leave the last one's rules unread, and the message says
    so (`MessageView.markup_short`); four such parts do not; nor does one part of 95 KB, as Word writes list styles
    (review36b #6)."""
    from gateway.html_text import MAX_SHEET_CHARS
    from gateway.parse import MessageView
    sheets = _counting_sheets(monkeypatch)
    part = "<style>" + " ".join(f".c{i} {{display:none}}" for i in range(2600)) + "</style><p>Hello there"
    assert 55_000 < len(part) < MAX_SHEET_CHARS - 1000  # (with the line breaks `_html_message` adds)
    assert not MessageView.parse(_html_message([part] * 4)).markup_short
    assert MessageView.parse(_html_message([part] * 5)).markup_short
    assert len(sheets) == 4 + 5
    word = "<style>" + " ".join(f"@list l{i}:level1 {{mso-level-tab-stop:36.0pt}}" for i in range(2100)) + "</style>"
    assert 90_000 < len(word) < MAX_SHEET_CHARS
    assert not MessageView.parse(_html_message([word + "<p>Dear Ms Goldberg"])).markup_short


def test_a_parts_own_sheet_cap_is_said_too() -> None:
    """review36 #1: a bidi rule after 66 KB of CSS (a comment) in one part was past the part's own MAX_SHEET_CHARS,
    dropped without a word: the reversed approach text read as written (clean 2.6). The budget is short now, as past
    the message's; a part within the cap is not."""
    from gateway.html_text import MAX_SHEET_CHARS, MarkupBudget, html_scan
    rule = ".r{unicode-bidi:bidi-override;direction:rtl}"
    for doc in ("<style>/*" + "x" * (MAX_SHEET_CHARS + 1000) + "*/" + rule + "</style><span class=r>olleh</span>",
                "<style>/*" + "x" * (MAX_SHEET_CHARS + 1000) + "*/</style><style>" + rule + "</style>"
                "<span class=r>olleh</span>"):
        budget = MarkupBudget()
        html_scan(doc, budget=budget)
        assert budget.short
    budget = MarkupBudget()
    html_scan("<style>/*" + "x" * 1000 + "*/" + rule + "</style><span class=r>olleh</span>", budget=budget)
    assert not budget.short

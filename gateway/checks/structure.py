"""Structure signals: what the parser noticed about the message's shape.

Purpose: surface the bounded view's findings (nesting beyond the limit, too many parts, more
text than the checks read, parser defects, the disguises its reading undid: look-alike letters
and bidi overrides, `parse.Disguises`, and an HTML alternative that says what its plain text does not)
as signals so policies can weigh them. Untrusted
input: the parsed message view only.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.checks import Check, CheckContext, signal
from gateway.html_text import MAX_MARKUP
from gateway.model import Signal


class StructureCheck(Check):
    name = "structure"
    io = False  # computes only: runs on the analysis task (see gateway/checks/__init__.py)
    signals = (
        signal("mime.depth_exceeded", "MIME nesting deeper than limits.max_mime_depth: the rest was not analysed",
               limit=int),
        signal("mime.parts_exceeded", "more MIME parts than limits.max_mime_parts: the rest was not analysed",
               limit=int),
        signal("message.text_exceeded", "more text than limits.max_text_bytes (plain text, or an HTML part's visible "
               "text), or a text body over 8 times that: the rest was not analysed", limit=int),
        signal("message.markup_exceeded", "the HTML parts hold more markup than one message's budget (tags, "
               "attributes, character references, for every reading of every part): the rest was read coarsely, so "
               "hidden, split or reordered text may not read as a reader sees it", tags=int),
        signal("message.defects", "the parser found defects (malformed MIME, undecodable parts)", defects=str),
        signal("message.no_from", "the message has no usable From address"),
        signal("text.confusables", "words of the body or Subject written with letters that look Latin (Cyrillic, "
               "Greek, Armenian, Cherokee, Coptic, NFKC forms such as circled or superscript letters, small "
               "capitals: UTS #39 confusables, "
               "mixed into a Latin word, or making up a word in a line of Latin text); "
               "the checks read them as the Latin letters", words=int, word=str),
        signal("text.split_words", "words of the body or Subject split between two letters by a space narrower "
               "than a word space (thin, hair, six-per-em, punctuation, narrow no-break: not the one between two "
               "Mongolian letters, the script's suffix separator) or the braille blank: "
               "a reader reads one word; the checks read it joined", splits=int, word=str),
        signal("text.bidi_override", "bidi overrides (U+202D, U+202E) in the body or Subject of a text without "
               "right-to-left letters: they reorder what a reader sees (the checks read that order)",
               overrides=int),
        signal("text.hidden_in_words", "runs of HTML text holding letters that a style may hide (read wide: a "
               "zero or unreadably small size or opacity, the font shorthand, a tiny scale, a clip, a colour "
               "transparent or alpha-transparent or its own background, a far offset, content-visibility, Outlook's "
               "mso-hide, elements never shown such as <template> or <rp>, the hidden attribute, a style the reader "
               "gave up on, or a style block's rule for a class, id, element type alone, attribute or any element) "
               "between two ASCII letters of a word: hidden-text salting; the checks read the words round them "
               "also without them (and without a run glued to a word on one side or one between the words of a "
               "line, not counted here)",
               runs=int),
        signal("text.parts_differ", "an HTML alternative shows what its plain-text alternative does not (`runs`: "
               "distinct runs of three words the plain text lacks, 12 or more or a quarter of the HTML's `of`, at "
               "least 3, summed over such alternatives; links as written not counted): the reader sees the HTML, "
               "so the checks read it besides the plain text, each one's first 2,000 characters first (Rspamd "
               "R_PARTS_DIFFER, SpamAssassin MPART_ALT_DIFF)", runs=int, of=int),
        signal("identity.multiple_from", "the From field holds several addresses (the first is the identity "
               "checked)", optional=("outside_behind_internal",), addresses=str, count=int, fields=int,
               sender=str, outside_behind_internal=str),
        signal("identity.malformed_from", "the From address is not a valid addr-spec (several @, an address in the "
               "display name outside quotes, an empty local part, domain or domain label, a character no host name "
               "has in the domain, another address after it or beside empty brackets, a missing >, an "
               "unterminated quote or comment, an encoded word in it): "
               "readers disagree on its domain (`domains`: the gateway's reading first, then the others', e.g. "
               "Dovecot's Sieve, Python's email; the origin check applies the own-domain rule when any of them is "
               "ours, and DMARC is evaluated for each)",
               address=str, problem=str, domains=str),
    )

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        view = ctx.view
        view.text_parts  # walks the tree within limits, recording defects
        out = []
        if view.mime_depth_exceeded:
            out.append(Signal("mime.depth_exceeded", {"limit": view.limits.max_mime_depth}))
        if view.mime_parts_exceeded:
            out.append(Signal("mime.parts_exceeded", {"limit": view.limits.max_mime_parts}))
        if view.text_cut:
            out.append(Signal("message.text_exceeded", {"limit": view.limits.max_text_bytes}))
        if view.markup_short:
            out.append(Signal("message.markup_exceeded", {"tags": MAX_MARKUP}))
        defects = list(view.defects)
        defects += [type(d).__name__ for d in getattr(view.msg, "defects", [])]
        if defects:
            out.append(Signal("message.defects", {"defects": ", ".join(sorted(set(defects)))[:200]}))
        if not view.from_address:
            out.append(Signal("message.no_from"))
        disguises = view.disguises
        if disguises.lookalike_words:
            out.append(Signal("text.confusables", {"words": disguises.lookalike_words,
                                                   "word": disguises.lookalike_example[:40]}))
        if disguises.split_words:
            out.append(Signal("text.split_words", {"splits": disguises.split_words,
                                                   "word": disguises.split_example[:40]}))
        if disguises.overrides and not disguises.rtl:
            out.append(Signal("text.bidi_override", {"overrides": disguises.overrides}))
        if disguises.salted:
            out.append(Signal("text.hidden_in_words", {"runs": disguises.salted}))
        if view.parts_differ:
            groups = view.parts_differ.values()  # every differing alternative's (review25 #7)
            out.append(Signal("text.parts_differ", {"runs": sum(g[0] for g in groups),
                                                    "of": sum(g[1] for g in groups)}))
        ident = view.from_identity
        if ident.malformed:  # here too: it matters most when one reading is ours
            out.append(Signal("identity.malformed_from", {
                "address": ident.address[:200], "problem": ident.malformed,
                "domains": ", ".join(ident.domain_readings)[:300]}))
        if ident.multiple:  # here, not in IdentityCheck: that one skips internal From domains
            out.append(Signal("identity.multiple_from", multiple_from_evidence(ctx)))
        return out


def multiple_from_evidence(ctx: CheckContext) -> dict[str, object]:
    """Every From address (the identity is the first, gateway.parse.from_identity), the Sender,
    and `outside_behind_internal`: the addresses outside local_domains when the identity is
    one of ours -- a stranger hiding behind an internal first address."""
    ident, config = ctx.view.from_identity, ctx.config
    evidence: dict[str, object] = {
        "addresses": ", ".join(m.address for m in ident.mailboxes[:20])[:500],
        "count": len(ident.mailboxes), "fields": ident.fields,
        "sender": ", ".join(ctx.view.addresses("Sender")[:3])[:200]}
    if config.is_internal_domain(ident.domain):
        outside = [m.address for m in ident.mailboxes if not config.is_internal_domain(m.domain)]
        if outside:
            evidence["outside_behind_internal"] = ", ".join(outside[:10])[:300]
    return evidence

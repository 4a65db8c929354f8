"""The approach register: a small linear text model over the stranger's own words (issue 11).

Purpose: nine rounds of hand-picked phrases generalised poorly to campaigns nobody tuning had
seen; the misses were mostly messages on which almost nothing fired. The typical first message
of an approach reads a certain way -- "your insights", "a short call", "honorarium", "our
client", "would you be open to" -- and a model over such *generic* wording can carry that where
no single phrase of the lists matches. This check scores the stranger's words (`approach_text`,
quoted replies removed; the subject too when no social persona was unwrapped) with a logistic
model over lower-cased word unigrams and bigrams and emits one signal with the probability and
the n-grams that contributed most, so a reason reads "reads like an approach: 'your insights',
'honorarium'". It says nothing about *who* is writing: policies combine it with the structure
(a stranger, an identity the channel cannot back), never on its own.

The model is gateway/data/textmodel.json: n-gram -> weight, readable and sorted, written by
tests/evalset/tools/train_textmodel.py: the mean of two logistic models (one linear model), one of
the training split (whose two halves were written by the same process, so its weights lean either
way) and one of every open labelled set, development sets included, whose weights lean only towards
an approach (session 39). An n-gram entered a vocabulary only if at least 3 distinct approach
campaigns (positive weights) or 3 distinct legitimate sources of the training split (negative
weights) use it, so it cannot memorise one campaign; names of people, organisations and places were
left out, and from the open part also dates, number words and words outside the Latin script.
Policies decide what the signal weighs (a rule's score, `enabled: false` in local.d); the model's
own weights are in the readable file.

Scoring: features are the distinct n-grams present (binary), scaled by 1/sqrt(number of distinct
n-grams in the text) so that long mail is not favoured; logit = bias + sum(weight * scale).

Untrusted input: the message text (a stranger's): at most `MAX_TEXT` characters, one regex pass
of linear cost (no nested quantifiers), one set intersection with the vocabulary.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.checks import Check, CheckContext, signal
from gateway.checks.claims import (
    MAX_CLIENT_TEXT,
    QuotedHistory,
    own_words,
    reads_without_client_lines,
    without_client_lines,
)
from gateway.checks.origin import Origin, internal_sender
from gateway.checks.social import Persona
from gateway.config import Config
from gateway.model import Signal
from gateway.refdata import ReferenceData

MAX_TEXT = 2_000  # the first characters only: an approach states itself early (pretext reads 20,000)
MAX_NGRAM = 2
MODEL_FILE = Path(__file__).resolve().parent.parent / "data" / "textmodel.json"

# One pass over the text, each match a token: an item (between whitespace) holding a digit, '@',
# '/' or 'www.' (numbers, dates, amounts, addresses, links, handles: never a vocabulary word, so it
# breaks the run of words like punctuation does), a word (inner apostrophes allowed), a run of
# punctuation other than apostrophes and hyphens, or a blank line. The first alternative starts only
# at an item's start (the look-behind), so each item is scanned a bounded number of times: linear.
# It reads up to the item's first digit, '@', '/' or "www." with possessive runs of the other
# characters ('w' one at a time, when "ww." does not follow it): the same matches as the lazy
# `\S*?(?:[\d@/]|www\.)\S*` (the whole item, when it holds one), at a quarter less of the tokenizer's
# time (Python's `re` reads a class run in one loop, a lazy repeat tries the alternatives after each
# character).
_TOKEN = re.compile(r"(?<!\S)[^\s\d@/w]*+(?:w(?!ww\.)[^\s\d@/w]*+)*+(?:[\d@/]|www\.)\S*"
                    r"|\w+(?:'\w+)*|[^\w\s'-]+|\n[ \t]*\n")


def tokens(text: str) -> list[str]:
    """Words and breaks of `text` in order (original case); whitespace is squeezed, a hyphen or a
    single line break joins words, punctuation, blank lines and items with a digit, '@', '/' or
    'www.' (numbers, links, addresses) break them."""
    return _TOKEN.findall(text.replace("\u2019", "'"))


def is_word(token: str) -> bool:
    """A word of letters (and inner apostrophes): what the vocabulary may hold; not a break, not
    an identifier with underscores."""
    return token.replace("'", "").isalpha()


def ngrams(text: str, n_max: int = MAX_NGRAM) -> set[str]:
    """The distinct lower-cased n-grams (1..n_max tokens, joined by a space) of `text`; those with a
    break in them are kept (they count in the length) but no vocabulary holds them."""
    toks = tokens(text.lower())
    out = set(toks)
    if n_max >= 2:
        out.update(map(" ".join, zip(toks, toks[1:], strict=False)))
    if n_max >= 3:
        out.update(map(" ".join, zip(toks, toks[1:], toks[2:], strict=False)))
    return out


@dataclass(frozen=True)
class TextModel:
    weights: Mapping[str, float]
    bias: float
    floor: float  # the probability from which the signal is emitted
    n_max: int = MAX_NGRAM
    vocabulary: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vocabulary", frozenset(self.weights))

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> TextModel:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return cls({str(k): float(v) for k, v in doc["weights"].items()}, float(doc["bias"]),
                   float(doc["floor"]), int(doc.get("n_max", MAX_NGRAM)))

    def score(self, grams: set[str]) -> tuple[float, list[tuple[str, float]]]:
        """(logit, the n-grams present with their contributions)."""
        if not grams:
            return self.bias, []
        scale = 1.0 / math.sqrt(len(grams))
        w = self.weights
        present = [(g, w[g] * scale) for g in self.vocabulary.intersection(grams)]
        return self.bias + sum(c for _, c in present), present


# The Snowball English stop-word list (Martin Porter, snowballstem.org, algorithms/english/stop.txt;
# BSD-3-Clause, (c) 2001 Dr Martin Porter): pronouns, the forms of be/have/do, would/should/could/
# ought, the pronoun+verb and negated contractions, articles, prepositions and conjunctions. The
# training tool keeps these words out of the vocabulary as single words (tests/evalset/tools/
# train_textmodel.py): how often a writer uses "the" or "would" says more about who wrote the
# corpus than about an approach.
STOP_WORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
herself it its itself they them their theirs themselves what which who whom this that these those am is are
was were be been being have has had having do does did doing would should could ought i'm you're he's she's
it's we're they're i've you've we've they've i'd you'd he'd she'd we'd they'd i'll you'll he'll she'll
we'll they'll isn't aren't wasn't weren't hasn't haven't hadn't doesn't don't didn't won't wouldn't shan't
shouldn't can't cannot couldn't mustn't let's that's who's what's here's there's when's where's why's how's
a an the and but if or because as until while of at by for with about against between into through during
before after above below to from up down in out on off over under again further then once here there when
where why how all any both each few more most other some such no nor not only own same so than too very
""".split())
# The auxiliaries Snowball names but leaves out for their homonyms (a will, a can, May, must, might),
# with "us" (left out there for US), which in mail are nearly always grammar.
STOP_AUXILIARIES = frozenset("will shall can may might must us".split())

# Words that carry grammar rather than content: the model weighs n-grams with them ("your views"),
# but a reason names n-grams with a content word. "re", "fw" and "fwd" are the subject's reply and
# forward marks (the model weighs "re": approaches follow up), "like" is "would like", "see" and
# "look" are "see you", "look forward", and greetings, thanks and sign-offs ("best regards", "thanks
# for") are in every letter: no reader learns anything from them.
FUNCTION_WORDS = STOP_WORDS | STOP_AUXILIARIES | frozenset(
    "just now one re fw fwd like see look dear hi hello thanks thank regards best kind warm sincerely cheers".split())
# A phrase a reason quotes starts with no conjunction and ends in no article, conjunction, preposition or
# possessive ("programme and", "preparing a", "work on": fragments, review47 #5), is no courtesy ("forward to",
# "hope you", "is well", "to hear", "pleasure to"), and is quoted without a leading article ("a small" -> "small",
# `_shown`): what is left reads as the message's own words.
_ARTICLES = ("a", "an", "the")
_LOOSE_START = frozenset("and or but".split())
_LOOSE_END = frozenset("a an the and or but of to for in on at with by from as my your our their his her its is "
                       "are was be".split())
COURTESIES = frozenset(("forward to", "looking forward", "hope you", "hope you're", "you're well", "is well",
                        "to hear", "pleasure to", "of course", "thank you", "let me know", "get in touch"))


def _quotable(gram: str) -> bool:
    words = gram.split(" ")
    return words[0] not in _LOOSE_START and words[-1] not in _LOOSE_END and gram not in COURTESIES


def _shown(gram: str) -> str:
    """A phrase as a reason quotes it: without a leading article ("an honorarium" -> "honorarium", "a short call"
    -> "short call"), which reads as a fragment when quoted alone."""
    first, _, rest = gram.partition(" ")
    return rest if first in _ARTICLES and rest else gram


def top_ngrams(present: Iterable[tuple[str, float]], k: int = 3) -> list[str]:
    """The k phrases (n-grams of two or more words, one of them a content word) that pushed most
    towards an approach, without one inside another ('your insights' and 'insights' are one
    reason), and that read as words of the message (`_quotable`); single words only when no phrase
    does. A reason quotes the message's wording: a phrase says what a lone word does not (session
    47: of 635 reasons over the open approaches, 478 named a lone word, "re" 127 times, "senior" 100)."""
    ranked = sorted(present, key=lambda p: (-p[1] * (p[0].count(" ") + 1), p[0]))
    for phrases in (True, False):
        chosen: list[str] = []
        shown: set[str] = set()
        # a phrase reads better as a reason than a word: an n-gram of k words counts k times its weight here
        for g, c in ranked:
            if c <= 0 or len(chosen) >= k:
                break
            if phrases and (" " not in g or not _quotable(g)):
                continue
            content = {w for w in g.split(" ") if w not in FUNCTION_WORDS}
            if not content or content <= shown:  # grammar only, or says nothing new ('honorarium of')
                continue
            if _shown(g) in chosen:
                continue
            chosen.append(_shown(g))
            shown |= content
        if chosen:
            return chosen
    return []


class TextModelCheck(Check):
    name = "textmodel"
    io = False  # computes only: runs on the analysis task (see gateway/checks/__init__.py)
    signals = (
        signal("text.approach_register", "the stranger's words read like an approach (a linear model over word "
               "n-grams, each attested in at least 3 approach campaigns of the open labelled sets or, towards "
               "legitimate mail, 3 legitimate sources of the training split: gateway/data/textmodel.json)",
               probability=float, ngrams=str, source=str),
    )
    needs = (Persona, Origin)
    waits = (QuotedHistory,)  # a reply that quotes: may its quotes be ours? (claims.own_words,
    # claims.reads_without_client_lines)
    timeout_share = 0.2

    def __init__(self) -> None:
        self.model: TextModel | None = None

    def prepare(self, config: Config, data: ReferenceData) -> None:
        if self.model is None:
            self.model = TextModel.load()

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        if internal_sender(ctx):
            return []
        model = self.model
        if model is None:
            model = self.model = TextModel.load()
        persona = ctx.get(Persona)
        text = await own_words(ctx, persona)
        if persona is None:  # the client's lines looked for where the model reads, not in all 20,000 characters
            head = text[:MAX_CLIENT_TEXT]
            bare = without_client_lines(head)
            if bare != head and await reads_without_client_lines(ctx):
                text = bare
        subject = "" if persona is not None else ctx.view.visible_subject
        logit, present = model.score(ngrams((subject + "\n" + text)[:MAX_TEXT], model.n_max))
        probability = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))
        if probability < model.floor:
            return []
        words = ", ".join(f'"{g}"' for g in top_ngrams(present))
        return [Signal("text.approach_register", {"probability": round(probability, 3), "ngrams": words or "-",
                                                  "source": "persona" if persona is not None else "body"})]

"""The approach-register text model: what it reads, what it says, and that it cannot memorise."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from gateway.checks.textmodel import (
    MODEL_FILE,
    STOP_AUXILIARIES,
    STOP_WORDS,
    TextModel,
    TextModelCheck,
    is_word,
    ngrams,
    tokens,
    top_ngrams,
    without_client_lines,
)
from tests.support.messages import message, run

TOOL = Path(__file__).resolve().parents[2] / "evalset" / "tools" / "train_textmodel.py"


def _tool():
    spec = importlib.util.spec_from_file_location("train_textmodel", TOOL)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["train_textmodel"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_words_only_no_numbers_addresses_or_links() -> None:
    grams = ngrams("Would you join a 20-minute call? Write to a.b@gmail.com or see https://x.example/ab "
                   "for the £400 honorarium.\n\nBest")
    assert {"would you", "join a", "call", "honorarium", "the", "best"} <= grams
    # numbers, addresses and links are breaks: no n-gram of words (what a vocabulary may hold) has them
    words = {g for g in grams if all(map(is_word, g.split(" ")))}
    assert not any(ch.isdigit() for g in words for ch in g)
    assert not any("gmail" in g or "example" in g or "https" in g for g in words)
    # a break (punctuation, a link, a number, a blank line) ends a run of words: no n-gram crosses it
    assert "call write" not in grams and "honorarium best" not in grams and "the honorarium" not in grams
    # whitespace is squeezed and a single line break or a hyphen joins words
    assert {"short call", "long term"} <= ngrams("a short\n   call for a long-term role")


def test_tokens_are_linear_on_hostile_text() -> None:
    # one huge item with no digit, and many items with digits: both scanned once (no timing asserted,
    # but a quadratic pattern would make this test crawl)
    assert tokens("x" * 50_000) == ["x" * 50_000]
    assert not any(map(is_word, tokens("a1 " * 20_000)))


def test_tokens_are_those_of_the_lazy_item_pattern() -> None:
    # the item alternative reads to an item's first digit, '@', '/' or "www." with possessive runs
    # (session 36): the same tokens as the lazy `\S*?(?:[\d@/]|www\.)\S*` it replaced
    lazy = re.compile(r"(?<!\S)\S*?(?:[\d@/]|www\.)\S*|\w+(?:'\w+)*|[^\w\s'-]+|\n[ \t]*\n")
    for text in ("see www.x.org or wwww.y and ww.z, w.w.w. www", "awww.b wwwx www. w ww", "a/b c@d e1 ٣f 'x' -y-",
                 "it's a long-term role\n \t\nnext\u2028line\x1cend", "WWW.Caps www", "www.", "w", ""):
        assert tokens(text) == lazy.findall(text.replace("\u2019", "'")), text


def test_shipped_model_loads_and_obeys_the_attestation_rule() -> None:
    model = TextModel.load()
    assert len(model.weights) > 200
    tool = _tool()
    split = tool.load(tool.EVALSET / "train.yml")
    every = tool.load()
    vocab: dict[str, set[int]] = {}
    for docs, approach_only in ((split, False), (every, True)):
        grams = [ngrams(d.text, model.n_max) for d in docs]
        for g, sign in tool.vocabulary(docs, grams, tool.name_words(docs), approach_only).items():
            vocab.setdefault(g, set()).add(sign)
    every_grams = [ngrams(d.text, model.n_max) for d in every]
    for g, w in model.weights.items():
        assert g in vocab, g  # (the vocabulary leaves out names, and grammar words on their own)
        if w > 0:
            # towards an approach: three campaigns use it
            campaigns = {d.group for d, gs in zip(every, every_grams, strict=True) if d.positive and g in gs}
            assert len(campaigns) >= 3, (g, w, campaigns)
        else:
            # towards legitimate mail: only the training split's part may, three of its sources using it
            sources = {d.group for d, gs in zip(every, every_grams, strict=True)
                       if not d.positive and g in gs and d.group.startswith("train:")}
            assert len(sources) >= 3 and vocab[g] & {-1, 0}, (g, w, sources)


def test_the_open_part_reads_only_approach_wording_in_the_latin_script() -> None:
    # session 39: the development sets' approaches and legitimate mail were written by different people, so
    # what only the legitimate writers used tells writers apart; dates and the language a stranger writes in
    # are no evidence of an approach either
    tool = _tool()
    texts = [("the attached file march 十月", True, f"c{i}") for i in range(3)]
    texts += [("conference deadline the attached", False, f"s{i}") for i in range(3)]
    docs = [tool.Doc(t, t, pos, group) for t, pos, group in texts]
    grams = [ngrams(d.text, 2) for d in docs]
    assert tool.vocabulary(docs, grams, set(), approach_only=True) == {
        "attached": 1, "file": 1, "the attached": 1, "attached file": 1}
    # the training split's part reads both sides and every script, as it always did
    split_part = tool.vocabulary(docs, grams, set(), approach_only=False)
    assert split_part["conference deadline"] == -1 and split_part["attached"] == 0
    assert split_part["march"] == 1 and split_part["十月"] == 1 and split_part["file march"] == 1
    # names go from both
    assert "file" not in tool.vocabulary(docs, grams, {"file"}, approach_only=True)


def test_the_model_learns_only_from_open_sets() -> None:
    # the held-out splits and the unread legitimate test sets are never training data
    tool = _tool()
    evalset = TOOL.parents[1]
    assert "train.yml" in tool.OPEN and len(tool.OPEN) == len(set(tool.OPEN))
    assert all((evalset / name).is_file() for name in tool.OPEN)
    assert not [n for n in tool.OPEN if n.startswith("sealed") or n in ("legitM.yml", "legitO.yml")]
    labels = {p.name for p in evalset.glob("*.yml")}
    assert {"sealed.yml", "legitM.yml", "legitO.yml"} <= labels  # (so the check above means something)


def test_folds_hold_out_whole_development_sets() -> None:
    # a development set's messages were written by the same two people: they are held out together, so the
    # cross-validation cannot score a writer it trained on
    tool = _tool()
    docs = [tool.Doc("", "", i % 2 == 0, f"dev{k}:c{i % 4}", f"dev{k}") for k in "ABC" for i in range(8)]
    docs += [tool.Doc("", "", i % 2 == 0, f"train:c{i}") for i in range(10)]
    split = tool.folds(docs, 3)
    assert sorted(i for fold in split for i in fold) == list(range(len(docs)))
    for fold in split:
        held = {docs[i].unit for i in fold}
        assert all(docs[j].unit not in held for f in split if f is not fold for j in f)
    assert {docs[i].unit for i in range(24)} == {"devA", "devB", "devC"}


def test_grammar_words_are_never_features_on_their_own() -> None:
    # how often a writer uses "the" or "would" tells writers apart, not approaches from mail: a stop
    # word (the Snowball English list and its auxiliaries) weighs only inside a bigram ("your views")
    model = TextModel.load()
    stop = STOP_WORDS | STOP_AUXILIARIES
    assert {"the", "would", "your", "will", "can", "us", "ought", "don't"} <= stop
    assert len(STOP_WORDS) == 174  # the Snowball list as published
    assert not [g for g in model.weights if g in stop]
    assert [g for g in model.weights if " " in g and set(g.split(" ")) & stop], "bigrams with them stay"
    # a text of grammar words alone gets the bias only: no single grammar word pushes either way
    logit, present = model.score(ngrams("the would your will can us of to and"))
    assert not present and logit == model.bias


# it retrains the model from the evalset: 79-95 s in the fresh-clone CI runs of sessions 42-43 on this 2-core machine,
# 120 s (the suite's hang guard) once when the whole run was 40 % slower; the guard here is for a hang, not a pace
@pytest.mark.timeout(300)
def test_shipped_model_is_what_the_training_command_writes() -> None:
    tool = _tool()
    assert tool.build(verbose=False, out=None) == MODEL_FILE.read_text(encoding="utf-8")
    doc = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    assert "train.yml" in " ".join(doc["about"]) and "sealed" not in json.dumps(doc)


def test_the_signal_names_the_wording_that_counted() -> None:
    check = TextModelCheck()
    opener = ("Dear Dr Rahman,\n\nI am reaching out on behalf of a client, a global advisory firm, who would "
              "value your insights on the regional outlook. Would you be open to a short call next week? "
              "We would offer an honorarium for your time, and the engagement is flexible.\n\nKind regards,\n"
              "Julia")
    sigs = run([check], message("Julia <julia@advisory.example>", opener))[0]
    found = [s for s in sigs if s.name == "text.approach_register"]
    assert found, "an approach opener reads like one"
    ev = found[0].evidence
    assert isinstance(ev["probability"], float) and ev["probability"] >= 0.75
    assert '"' in str(ev["ngrams"]) and "honorarium" in str(ev["ngrams"])
    plain = ("Hi Sam,\n\nThe minutes of Tuesday's meeting are attached; the invoice from the caterer is in the "
             "shared folder. See you at the team lunch.\n\nThanks,\nAlex")
    assert not [s for s in run([check], message("Alex <alex@partner.example>", plain))[0]
                if s.name == "text.approach_register"]


def test_evidence_prefers_content_words_and_no_repeats() -> None:
    present = [("would you", 3.0), ("honorarium", 2.0), ("an honorarium", 2.5), ("short call", 1.0),
               ("call", 0.9), ("the", -1.0)]
    assert top_ngrams(present) == ["honorarium", "short call"]  # quoted without its article (review47 #5)
    # a lone word only when no phrase has a content word; the subject's "re" is no reason
    assert top_ngrams([("re", 5.0), ("senior", 2.0), ("would you", 3.0)]) == ["senior"]
    assert top_ngrams([("re", 5.0), ("senior", 2.0), ("your insights", 0.5)]) == ["your insights"]
    # fragments and courtesies are not quoted: "programme and", "preparing a", "forward to"
    assert top_ngrams([("programme and", 3.0), ("preparing a", 3.0), ("forward to", 3.0), ("paid report", 1.0)]) \
        == ["paid report"]


_ATTRIBUTIONS = ("On Mon, 3 Feb 2025 at 11:00, Helen Marsh <h.marsh@example.ac.uk> wrote:",
                 "On 3 Feb 2025, at 11:00, Helen Marsh wrote:",
                 "Helen Marsh <h.marsh@example.ac.uk> schrieb am Mo., 3. Feb. 2025, 11:00:",
                 "-----Original Message-----\r\nFrom: Helen Marsh <h.marsh@example.ac.uk>\r\n"
                 "Sent: Monday, February 3, 2025 11:00 AM")


def test_client_lines_of_a_message_that_answers_nothing_are_no_evidence() -> None:
    """A message without reply headers has no history: the lines a client writes above quoted
    history are not read, so appending one to an approach does not move the model (session 23: the
    shipped model weighs "wrote" at -14.3; one such line lowered the training approaches' median
    logit 2.89 -> 1.49). The training split's approach texts, in CRLF as served mail is."""
    model = TextModel.load()
    approaches = [d.text for d in _tool().load() if d.positive]
    assert len(approaches) > 100
    for line in _ATTRIBUTIONS:
        crlf = [text.replace("\n", "\r\n") for text in approaches]
        shifts = sorted(model.score(ngrams(without_client_lines(text + "\r\n\r\n" + line + "\r\n")))[0]
                        - model.score(ngrams(text))[0] for text in crlf)
        assert abs(shifts[len(shifts) // 2]) < 0.5, (line, shifts[len(shifts) // 2])
    # what is not a client's line stays: prose with a colon, one header-like line, a long line
    prose = "Dear Helen,\nTo: the point. We wrote to you:\nOn reflection I wrote:\nSubject: a call.\nThanks"
    assert without_client_lines(prose) == "Dear Helen,\nTo: the point. We wrote to you:\nSubject: a call.\nThanks"
    long = "On " + "x" * 500 + " wrote:"
    assert without_client_lines(long) == long
    # review24 #12: the sender's own lines behind header names are text, not a client's block: a run that
    # does not start with From:, or longer than a client writes
    own = "To: our partners in the region.\nSubject: a paid advisory role.\nDate: at your convenience."
    assert without_client_lines(own) == own
    many = "\n".join(["From: us"] + ["To: you, for a paid role"] * 8)
    assert without_client_lines(many) == many
    block = "Thanks.\nFrom: Helen Marsh\nSent: Monday\nTo: Dana\nSubject: Re: call\n\nOld text"
    assert without_client_lines(block) == "Thanks.\n\nOld text"
    # only lines with ':' or "--" are read (session 36): an Outlook rule of dashes still goes, and a
    # text with neither comes back as it is
    assert without_client_lines("Hi\n> -----Original Message-----\nOld") == "Hi\nOld"
    plain = "No colon here\n\n- a list item\r\n"
    assert without_client_lines(plain) is plain


def test_the_check_reads_client_lines_only_in_a_reply_the_store_vouches_for() -> None:
    """Served end to end: without In-Reply-To/References an appended attribution changes nothing,
    nor in a reply nobody here can vouch for (no store: round 55); a reply to our message reads as
    in training (tests/unit/checks/test_quoting.py, with a store)."""
    check = TextModelCheck()
    opener = ("Dear Dr Rahman,\n\nI am interested in your work on the regional outlook. Could you share your comments "
              "on the attached materials in a short call next week?\n\nBest regards,\nJulia")
    line = "On Mon, 3 Feb 2025 at 11:00, Helen Marsh <h.marsh@uni-bonn.example> wrote:"  # not our side: no cut

    def probability(body: str, headers: dict[str, str] | None = None) -> float:
        sigs = run([check], message("Julia <julia@advisory.example>", body, headers=headers))[0]
        found = [s.evidence["probability"] for s in sigs if s.name == "text.approach_register"]
        return float(found[0]) if found else 0.0  # type: ignore[arg-type]

    quoted = opener + "\n\n" + line + "\n"
    base = probability(opener)
    assert base >= 0.75
    assert probability(quoted) == base
    reply = {"In-Reply-To": "<a1@advisory.example>"}
    assert probability(opener, reply) == base
    assert probability(quoted, reply) == base

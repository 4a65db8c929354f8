"""Detection quality of the shipped policies, measured by `evaluate` (issue 5's bars).

* the labelled corpus in tests/corpus (68 approaches, 68 hard legitimate messages): recall at
  `suspicious` or above >= 90 %, legitimate messages flagged <= 5 %;
* the real ham in ../shared/corpora/ham (4,150 messages): flagged `suspicious` or above <= 0.2 %;
* the real phishing in ../shared/corpora/phish: every message analysed without an error, and the
  job / partnership lures among them raise the offer rules.

The corpus was also used while writing the rules, so these figures are optimistic for unseen mail;
the ham and phishing corpora were not (they are the false-positive and robustness yardsticks).
"""

from __future__ import annotations

import asyncio

import pytest

from gateway.config import load_config
from gateway.policy.evaluate import Evaluation, evaluate, label_dirs, load_labels
from gateway.runtime import Runtime
from tests.conftest import CORPORA, IN_CI, ROOT

CORPUS = ROOT / "tests" / "corpus"


@pytest.fixture(scope="module")
def pipeline() -> Runtime:
    return Runtime(load_config(CORPUS / "gateway.yml"), offline=True)


def _run(pipeline: Runtime, items: list, positive: str) -> Evaluation:
    return asyncio.run(evaluate(pipeline, items, positive=positive))


def _need_corpora() -> None:
    if not (CORPORA / "ham").is_dir():
        if IN_CI:
            pytest.fail(f"{CORPORA} is missing in CI")
        pytest.skip(f"shared corpora not found at {CORPORA}")


def test_labelled_corpus_recall_and_false_positives(pipeline: Runtime) -> None:
    ev = _run(pipeline, load_labels(CORPUS / "labels.yml"), "approach")
    m = ev.metrics()
    print(f"\ncorpus: recall {m['recall']:.1%}, legit flagged {m['false_positive_rate']:.1%}, "
          f"confusion {ev.confusion}")
    assert ev.errors == []
    assert ev.counts == {"approach": 68, "legit": 68}
    assert m["recall"] is not None and m["recall"] >= 0.90, ev.missed
    assert m["false_positive_rate"] is not None and m["false_positive_rate"] <= 0.05, ev.false_positives


def test_real_ham_is_almost_never_flagged(pipeline: Runtime) -> None:
    _need_corpora()
    ev = _run(pipeline, label_dirs([f"ham={CORPORA / 'ham'}"]), "approach")
    total, flagged = ev.counts["ham"], ev.flagged["ham"]
    print(f"\nham: {flagged}/{total} flagged suspicious or above ({flagged / total:.3%})")
    assert ev.errors == []
    assert total >= 4000
    assert flagged / total <= 0.002, ev.false_positives


def test_real_phishing_is_processed_and_lures_raise_offer_rules(pipeline: Runtime) -> None:
    _need_corpora()
    ev = _run(pipeline, label_dirs([f"phish={CORPORA / 'phish'}"]), "phish")
    assert ev.errors == []
    assert ev.counts["phish"] >= 900
    offer_rules = ("paid-work-offer", "stranger-with-an-offer", "partnership-offer")
    lures = sum(ev.rule_hits.get(r, {}).get("phish", 0) for r in offer_rules)
    print(f"\nphish: {ev.confusion['phish']}; offer-rule hits {lures}")
    assert lures >= 20

"""`policy fit`: rule weights learned from labelled mail, written as a readable policy patch.

Purpose: the rules (what to look for) are written by hand from the guidance; how much each one
weighs is a question the labelled mail can answer better than intuition. This fits a logistic
regression over the rules that fired on each message (binary features; L2-regularised; no
dependency beyond the standard library), measures it by grouped cross-validation (folds by
campaign or source, never splitting one campaign across train and test), and writes the weights
as a policy file of `{id: RULE, score: N}` patches -- readable, diffable, overridable in
`local.d` like any other policy -- scaled so the `suspicious` threshold sits where the chosen
share of legitimate training mail stays below it.

Untrusted input: none beyond what `evaluate` reads (labelled message files, analysed offline).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_ITER = 4000


@dataclass
class Sample:
    rules: frozenset[str]  # rule ids that fired
    positive: bool
    group: str  # campaign or source: the unit of cross-validation
    fixed_score: float = 0.0  # the authored scores of the rules that fired and are not fitted (--fixed)


@dataclass
class Model:
    weights: dict[str, float]
    bias: float

    def logit(self, rules: frozenset[str]) -> float:
        return self.bias + sum(self.weights.get(r, 0.0) for r in rules)


PRIOR_PER_POINT = 0.5  # logit per authored score point: the prior the weights shrink towards


def train(samples: Sequence[Sample], features: Sequence[str], l2: float, lr: float = 0.5,
          signs: dict[str, int] | None = None, priors: dict[str, float] | None = None) -> Model:
    """Batch gradient descent on the mean log-loss + l2/2 * |w|^2 (bias not regularised),
    classes weighted to balance. `signs` keeps each rule's weight on the side its author put it
    (a cue never becomes evidence of legitimacy, a legitimacy rule never evidence of an
    approach): projected gradient, weights clipped at zero. `priors` (authored scores) are the
    centre the L2 penalty pulls each weight towards instead of zero: data moves a weight away
    from its author's judgement only as far as the evidence carries it."""
    sign = [(signs or {}).get(f, 0) for f in features]
    centre = [PRIOR_PER_POINT * (priors or {}).get(f, 0.0) for f in features]
    n_pos = sum(1 for s in samples if s.positive) or 1
    n_neg = sum(1 for s in samples if not s.positive) or 1
    cw = {True: len(samples) / (2 * n_pos), False: len(samples) / (2 * n_neg)}
    index = {f: i for i, f in enumerate(features)}
    rows = [([index[r] for r in s.rules if r in index], s.positive) for s in samples]
    w = list(centre)
    b = 0.0
    m = len(rows) or 1
    for _ in range(MAX_ITER):
        gw = [0.0] * len(features)
        gb = 0.0
        for idx, y in rows:
            z = b + sum(w[i] for i in idx)
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            err = (p - (1.0 if y else 0.0)) * cw[y]
            gb += err
            for i in idx:
                gw[i] += err
        step = 0.0
        for i in range(len(w)):
            g = gw[i] / m + l2 * (w[i] - centre[i])
            new = w[i] - lr * g
            if sign[i] > 0:
                new = max(0.0, new)
            elif sign[i] < 0:
                new = min(0.0, new)
            step = max(step, abs(new - w[i]))
            w[i] = new
        b -= lr * gb / m
        if step < 1e-6:
            break
    return Model({f: w[i] for f, i in index.items()}, b)


def folds(samples: Sequence[Sample], k: int, seed: int = 7) -> list[list[int]]:
    """k groups of sample indices, whole campaigns/sources per fold, positives and negatives
    spread separately."""
    out: list[list[int]] = [[] for _ in range(k)]
    for positive in (True, False):
        groups = sorted({s.group for s in samples if s.positive == positive})
        random.Random(seed).shuffle(groups)  # noqa: S311 - reproducible folds, not a secret
        for gi, g in enumerate(groups):
            out[gi % k] += [i for i, s in enumerate(samples) if s.group == g and s.positive == positive]
    return out


@dataclass
class FitReport:
    model: Model
    l2: float
    cutoff: float  # logit at which `suspicious` starts
    cv_recall: float
    cv_legit_correct: float
    features: list[str]
    per_l2: list[tuple[float, float, float]] = field(default_factory=list)
    as_shipped: bool = False  # the CV figures are of the scores as shipped (capped, fixed rules included)


def _rates(model: Model, samples: Sequence[Sample], cutoff: float) -> tuple[int, int, int, int]:
    tp = sum(1 for s in samples if s.positive and model.logit(s.rules) >= cutoff)
    pos = sum(1 for s in samples if s.positive)
    tn = sum(1 for s in samples if not s.positive and model.logit(s.rules) < cutoff)
    neg = sum(1 for s in samples if not s.positive)
    return tp, pos, tn, neg


def cutoff_for(model: Model, samples: Sequence[Sample], legit_correct: float) -> float:
    """A logit cutoff at which at least `legit_correct` of the negatives stay below: halfway
    between the highest negative kept and the next higher score (so that rounding the scaled
    weights cannot tip a tie of identical messages over it)."""
    negs = sorted(model.logit(s.rules) for s in samples if not s.positive)
    if not negs:
        return 0.0
    keep = max(1, math.ceil(legit_correct * len(negs)))
    kept = negs[keep - 1]
    higher = sorted({x for x in (model.logit(s.rules) for s in samples) if x > kept + 1e-9})
    return (kept + higher[0]) / 2 if higher else kept + 1.0


def scores_for(model: Model, scale: float) -> dict[str, float]:
    """The policy scores: weights scaled, rounded to one decimal (readable)."""
    return {rid: round(w * scale, 1) for rid, w in model.weights.items()}


def verified_scale(model: Model, samples: Sequence[Sample], cutoff: float, threshold: float,
                   legit_correct: float) -> float:
    """The scale mapping `cutoff` to `threshold`, lowered until the ROUNDED scores still keep
    `legit_correct` of the negatives below the threshold (rounding must not tip a tie over)."""
    span = cutoff - model.bias
    scale = threshold / span if span > 0 else 1.0
    negs = [s for s in samples if not s.positive]
    allowed = len(negs) - math.ceil(legit_correct * len(negs))
    for _ in range(60):
        scores = scores_for(model, scale)
        over = sum(1 for s in negs if sum(scores.get(r, 0.0) for r in s.rules) >= threshold - 1e-9)
        if over <= allowed:
            return scale
        scale *= 0.98
    return scale


def shipped_scores(model: Model, samples: Sequence[Sample], cutoff: float, thresholds: dict[str, float],
                   legit_correct: float, single_cues: Sequence[str] = ()) -> tuple[dict[str, float], float,
                                                                                    list[str]]:
    """The scores a policy patch ships: scaled to the `suspicious` threshold, rounded, and every
    rule in `single_cues` capped halfway between `caution` and `suspicious` (one cue alone reaches
    `caution` at most). Returns (scores, cap, the rules capped)."""
    scale = verified_scale(model, samples, cutoff, thresholds["suspicious"], legit_correct)
    scores = scores_for(model, scale)
    cap = round((thresholds["caution"] + thresholds["suspicious"]) / 2, 1)
    capped = sorted(r for r in single_cues if scores.get(r, 0.0) > cap)
    for r in capped:
        scores[r] = cap
    return scores, cap, capped


def _shipped_rates(scores: dict[str, float], samples: Sequence[Sample], threshold: float) -> tuple[int, int, int, int]:
    """As _rates, on the shipped scores: fitted rules at their (capped) scores, fixed rules at theirs."""
    def flagged(s: Sample) -> bool:
        return sum(scores.get(r, 0.0) for r in s.rules) + s.fixed_score >= threshold - 1e-9
    tp = sum(1 for s in samples if s.positive and flagged(s))
    pos = sum(1 for s in samples if s.positive)
    tn = sum(1 for s in samples if not s.positive and not flagged(s))
    neg = sum(1 for s in samples if not s.positive)
    return tp, pos, tn, neg


def fit(samples: Sequence[Sample], *, legit_correct: float = 0.97, k: int = 5,
        l2_grid: Sequence[float] = (0.03, 0.1, 0.3), signs: dict[str, int] | None = None,
        priors: dict[str, float] | None = None, thresholds: dict[str, float] | None = None,
        single_cues: Sequence[str] = ()) -> FitReport:
    """Choose the L2 strength by grouped CV, refit on everything, set the cutoff. With
    `thresholds`, each fold is judged as it would ship: the fold's weights scaled, rounded and
    capped as `policy_patch` writes them (`single_cues`), the fixed rules' scores added
    (`Sample.fixed_score`), flagged at the `suspicious` threshold; without, on the logit cutoff."""
    features = sorted({r for s in samples for r in s.rules})
    split = folds(samples, k)
    best: tuple[float, float, float, float] | None = None  # (score, l2, recall, legit_correct)
    per_l2 = []
    for l2 in l2_grid:
        tp = pos = tn = neg = 0
        for test in split:
            test_set = set(test)
            train_s = [s for i, s in enumerate(samples) if i not in test_set]
            test_s = [samples[i] for i in test]
            model = train(train_s, features, l2, signs=signs, priors=priors)
            cut = cutoff_for(model, train_s, legit_correct)
            if thresholds is not None:
                scores, _, _ = shipped_scores(model, train_s, cut, thresholds, legit_correct, single_cues)
                a, b, c, d = _shipped_rates(scores, test_s, thresholds["suspicious"])
            else:
                a, b, c, d = _rates(model, test_s, cut)
            tp, pos, tn, neg = tp + a, pos + b, tn + c, neg + d
        recall, correct = tp / (pos or 1), tn / (neg or 1)
        per_l2.append((l2, recall, correct))
        score = recall + correct
        if best is None or score > best[0]:
            best = (score, l2, recall, correct)
    if best is None:
        raise ValueError("fit: no regularisation strength to try")
    model = train(samples, features, best[1], signs=signs, priors=priors)
    return FitReport(model, best[1], cutoff_for(model, samples, legit_correct), best[2], best[3], features,
                     per_l2, as_shipped=thresholds is not None)


def policy_patch(report: FitReport, samples: Sequence[Sample], thresholds: dict[str, float], source: str,
                 fixed: Sequence[str] = (), legit_correct: float = 0.97,
                 single_cues: Sequence[str] = ()) -> str:
    """The fitted weights as policy YAML: scores scaled so that a message at the cutoff scores
    the `suspicious` threshold (checked after rounding). A rule that tests a single cue is capped
    below `suspicious`: one cue alone reaches `caution` at most, whatever the training data say."""
    scores, cap, capped = shipped_scores(report.model, samples, report.cutoff, thresholds, legit_correct, single_cues)
    lines = [
        "# Rule weights fitted by `approach-gateway policy fit` (gateway/policy/fit.py): logistic",
        "# regression over the rules that fired, L2-regularised, the strength chosen by cross-validation",
        "# with whole campaigns/sources held out per fold; scaled so the suspicious threshold sits where",
        f"# the chosen share ({100 * legit_correct:g}%) of legitimate training mail stays below it. "
        f"Fitted on: {source}",
        f"# L2 {report.l2:g}; cross-validated recall {100 * report.cv_recall:.1f}%, legitimate kept below "
        f"suspicious {100 * report.cv_legit_correct:.1f}%"
        + (" (each fold's scores as shipped: scaled, rounded, capped)." if report.as_shipped else "."),
        *([f"# Not fitted (they keep their authored scores): {', '.join(sorted(fixed))}."] if fixed else []),
        *([f"# Single cues capped at {cap:g} (one cue alone stays below suspicious): {', '.join(capped)}."]
          if capped else []),
        "# Regenerate rather than edit; override single rules in local.d like any shipped rule.",
        "rules:",
    ]
    for rid in sorted(scores):
        lines.append(f"  - {{id: {rid}, score: {scores[rid]:g}}}")
    return "\n".join(lines) + "\n"

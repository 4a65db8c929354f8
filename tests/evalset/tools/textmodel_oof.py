"""The whole gateway on the training split with the text model held out by campaign (grouped CV).

    python tests/evalset/tools/textmodel_oof.py                      # out-of-fold evaluation
    python tests/evalset/tools/textmodel_oof.py --fit policies/30-weights.yml   # and refit the weights

The shipped text model was fitted on the training split (both its parts read it), so on that
split its signal is better than it will be on unseen campaigns, and `policy fit` on it would
overrate every rule that reads it (textmodel_open_oof.py does the same for every open set). This
replays the training split (as `evaluate --replay --learn` does) once per fold of train_textmodel.py's
folds, with a text model trained WITHOUT that fold's campaigns and sources,
and keeps each message's result only from the run where it was held out. It prints the
out-of-fold figures (recall at suspicious+, legitimate flagged, per-rule hits); with --fit it fits
the rule weights on those out-of-fold rule hits exactly as `policy fit --legit-correct 0.99` does
and writes the policy patch. Training split only; never the sealed split.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import train_textmodel as tt  # noqa: E402

from gateway.checks.textmodel import TextModel  # noqa: E402
from gateway.config import load_config  # noqa: E402
from gateway.model import Verdict  # noqa: E402
from gateway.policy.commands import _runtime, is_combination  # noqa: E402
from gateway.policy.evaluate import analysed, load_labels  # noqa: E402
from gateway.policy.fit import Sample, fit, policy_patch  # noqa: E402
from gateway.policy.loader import policy_files  # noqa: E402
from gateway.problems import Problems  # noqa: E402
from gateway.store.learn import learn  # noqa: E402

CONFIG = ROOT / "tests" / "evalset" / "gateway.yml"
SENT = ROOT / "tests" / "evalset" / "history" / "sent.mbox"


def fold_models() -> tuple[list[list[int]], list[TextModel]]:
    """One text model per fold of the training split, trained as the shipped one is (both parts, the
    shipped parts' L2) without that fold's messages: the open part keeps every development set."""
    docs = tt.load(tt.LABELS)
    every = tt.load()
    grams = [tt.ngrams(d.text, tt.MAX_NGRAM) for d in docs]
    every_grams = [tt.ngrams(d.text, tt.MAX_NGRAM) for d in every]
    split = tt.folds(docs, tt.K_FOLDS)
    parts = json.loads(tt.MODEL_FILE.read_text(encoding="utf-8"))["parts"]  # the shipped model's strengths
    models = []
    for test in split:
        held = {docs[i].file for i in test}
        tr = [i for i in range(len(docs)) if docs[i].file not in held]
        rest = [i for i in range(len(every)) if every[i].file not in held or not every[i].group.startswith("train:")]
        w1, b1, _ = tt.fit([docs[i] for i in tr], [grams[i] for i in tr], float(parts["split"]["l2"]), False)
        w2, b2, _ = tt.fit([every[i] for i in rest], [every_grams[i] for i in rest], float(parts["open"]["l2"]), True)
        w, b = tt.average([(tt.rounded(w1), round(b1, 4)), (tt.rounded(w2), round(b2, 4))])
        models.append(TextModel(w, b, tt.FLOOR, tt.MAX_NGRAM))
    return split, models


def run(exclude: Path | None) -> tuple[list[tuple[str, bool, str, float, frozenset[str]]], dict[str, float],
                                       dict[str, float], list[str]]:
    config = load_config(str(CONFIG))
    files = [str(f) for f in policy_files(config.policies, Problems())
             if exclude is None or f.resolve() != exclude.resolve()]
    items = load_labels(str(tt.LABELS), "approach")
    split, models = fold_models()
    fold_of = {i: k for k, test in enumerate(split) for i in test}
    results: dict[int, tuple[str, bool, str, float, frozenset[str]]] = {}
    authored: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    single: list[str] = []
    for k, model in enumerate(models):
        with mock.patch.object(TextModel, "load", classmethod(lambda cls, path=None, m=model: m)):
            runtime = _runtime(config, files)
            assert runtime is not None

            async def go(rt=runtime, k=k) -> None:
                if rt.store is not None:
                    await learn(rt.store, [SENT], rt.config.local_domains)
                try:
                    index = {id(it): i for i, it in enumerate(items)}
                    async for item, r in analysed(rt, items, replay=True):
                        i = index[id(item)]
                        if fold_of[i] == k:
                            results[i] = (str(item.file), item.label == "approach", r.decision.verdict.word,
                                          r.decision.score, frozenset(h.rule_id for h in r.decision.hits))
                finally:
                    await rt.close()
            asyncio.run(go())
            authored = {r.id: r.score for r in runtime.policies.rules}
            thresholds = {v.word: t for v, t in runtime.policies.thresholds.items()}
            single = [r.id for r in runtime.policies.rules if not is_combination(r.when)]
    groups = {i: (it.group or str(it.file.parent)) for i, it in enumerate(items)}
    return [(*results[i][:5], ) + (groups[i],) for i in sorted(results)], authored, thresholds, single  # type: ignore[return-value]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fit", metavar="OUT.yml", help="refit the rule weights on the out-of-fold hits and write them")
    ap.add_argument("--legit-correct", type=float, default=0.99)
    ap.add_argument("--fixed", action="append", default=[], metavar="RULE")
    ap.add_argument("--cap", action="append", default=[], metavar="RULE",
                    help="a combination capped like a single cue (as policy fit --cap)")
    ap.add_argument("--misses", action="store_true", help="list the approaches missed out of fold, with their rules")
    args = ap.parse_args()
    out = Path(args.fit) if args.fit else None
    rows, authored, thresholds, single = run(out)
    flag = Verdict.from_word("suspicious")
    pos = [r for r in rows if r[1]]
    neg = [r for r in rows if not r[1]]
    def flagged(r: tuple) -> bool:
        return Verdict.from_word(r[2]) >= flag
    print(f"out-of-fold ({'weights excluded: ' + str(out) if out else 'shipped policies'}): "
          f"recall {100 * sum(map(flagged, pos)) / len(pos):.1f}% ({sum(map(flagged, pos))}/{len(pos)}), "
          f"legitimate flagged {100 * sum(map(flagged, neg)) / len(neg):.1f}% ({sum(map(flagged, neg))}/{len(neg)})")
    verdicts = Counter((r[1], r[2]) for r in rows)
    for lab in (True, False):
        print(f"  {'approach' if lab else 'legit':9}", "  ".join(f"{v} {verdicts[(lab, v)]}"
                                                               for v in ("clean", "caution", "suspicious", "high")))
    rids = ("stranger-writes-like-an-approach", "claimed-role-writes-very-like-an-approach",
            "unknown-organisation-asks-like-an-approach")
    for rid in rids:
        hits_p = [r for r in pos if rid in r[4]]
        hits_n = [r for r in neg if rid in r[4]]
        print(f"  {rid}: approach {len(hits_p)} (campaigns {len({r[5] for r in hits_p})}), legit {len(hits_n)} "
              f"(sources {len({r[5] for r in hits_n})}); precision "
              f"{100 * len(hits_p) / ((len(hits_p) + len(hits_n)) or 1):.1f}%")
    for r in neg:
        if flagged(r) or set(rids) & r[4]:
            print(f"    legit {r[2]} {r[3]:.1f} {r[0].split('evalset/')[-1]} {sorted(r[4])}")
    if args.misses:
        for r in pos:
            if not flagged(r):
                print(f"    missed {r[2]} {r[3]:.1f} {r[0].split('evalset/')[-1]} {sorted(r[4])}")
    if out is not None:
        # the fixed rules keep their authored scores; out of fold, their hits are honest, so the CV
        # counts them as the policy would
        samples = [Sample(r[4] - set(args.fixed), r[1], r[5], sum(authored.get(x, 0.0) for x in r[4] & set(args.fixed)))
                   for r in rows]
        signs = {k: (1 if v > 0 else -1 if v < 0 else 0) for k, v in authored.items()}
        single = single + [c for c in args.cap if c not in single]
        report = fit(samples, legit_correct=args.legit_correct, signs=signs, priors=authored, thresholds=thresholds,
                     single_cues=single)
        source = ("tests/evalset/train.yml, each message's rule hits from a replay whose text model was "
                  "trained without its campaign/source (tests/evalset/tools/textmodel_oof.py --fit)")
        out.write_text(policy_patch(report, samples, thresholds, source, args.fixed, args.legit_correct, single))
        for l2, recall, correct in report.per_l2:
            print(f"l2 {l2:<6g} cross-validated recall {100 * recall:5.1f}%  legitimate kept {100 * correct:5.1f}%")
        print(f"chose l2 {report.l2:g}; wrote {len(report.model.weights)} rule weights to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

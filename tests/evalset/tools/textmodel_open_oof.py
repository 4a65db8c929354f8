"""Every open labelled set replayed with the text model held out: the figures behind the thresholds.

    python tests/evalset/tools/textmodel_open_oof.py

The shipped text model (train_textmodel.py) has seen every open set, so `evaluate` on them
overrates the rules that read it. This trains, for each of train_textmodel.py's folds of the open
sets (whole training-split campaigns and sources, whole development sets), both parts of the model
without that fold's messages (the training split's part without those of its messages, the open
part without the fold), replays every open set (as `evaluate --replay --learn` does, each set
with its own sent mail) with the fold's model, and keeps each message's verdict from the run in
which it was held out. Only the text model is held out: the rules and weights were written with
these sets in view. It prints messages flagged (suspicious or above) per label, for the training
split and for the development sets, under the shipped policies. Open sets only.
"""

from __future__ import annotations

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
from gateway.policy.commands import _runtime  # noqa: E402
from gateway.policy.evaluate import analysed, load_labels  # noqa: E402
from gateway.policy.loader import policy_files  # noqa: E402
from gateway.problems import Problems  # noqa: E402
from gateway.store.learn import learn  # noqa: E402

# the sent mail each set's threads answer (as tests/integration/test_detection_quality.py's HISTORY)
HISTORY = {f"dev{n}.yml": ("sent.mbox", f"sent{n}-a.mbox", f"sent{n}-b.mbox") for n in range(4, 16)}


def fold_models(every: list[tt.Doc]) -> list[tuple[set[str], TextModel]]:
    """(files held out, model trained without them) per fold, both parts as the shipped model's."""
    grams = [tt.ngrams(d.text, tt.MAX_NGRAM) for d in every]
    parts = json.loads(tt.MODEL_FILE.read_text(encoding="utf-8"))["parts"]
    out = []
    for test in tt.folds(every, tt.K_FOLDS):
        held = {every[i].file for i in test}
        rest = [i for i in range(len(every)) if i not in set(test)]
        split = [i for i in rest if every[i].group.startswith("train:")]
        w1, b1, _ = tt.fit([every[i] for i in split], [grams[i] for i in split], float(parts["split"]["l2"]), False)
        w2, b2, _ = tt.fit([every[i] for i in rest], [grams[i] for i in rest], float(parts["open"]["l2"]), True)
        w, b = tt.average([(tt.rounded(w1), round(b1, 4)), (tt.rounded(w2), round(b2, 4))])
        out.append((held, TextModel(w, b, tt.FLOOR, tt.MAX_NGRAM)))
    return out


def run() -> dict[str, Verdict]:
    every = tt.load()
    config = load_config(str(tt.EVALSET / "gateway.yml"))
    files = [str(f) for f in policy_files(config.policies, Problems())]
    verdicts: dict[str, Verdict] = {}
    for held, model in fold_models(every):
        with mock.patch.object(TextModel, "load", classmethod(lambda cls, path=None, m=model: m)):
            for name in tt.OPEN:
                runtime = _runtime(config, files)
                assert runtime is not None

                async def go(rt=runtime, name=name, held=held) -> None:
                    if rt.store is not None:
                        await learn(rt.store, [tt.EVALSET / "history" / h for h in HISTORY.get(name, ("sent.mbox",))],
                                    rt.config.local_domains)
                    try:
                        async for item, r in analysed(rt, load_labels(str(tt.EVALSET / name)), replay=True):
                            rel = item.file.resolve().relative_to(tt.EVALSET.resolve()).as_posix()
                            if rel in held:
                                verdicts[f"{name}\t{rel}"] = r.decision.verdict
                    finally:
                        await rt.close()
                asyncio.run(go())
    return verdicts


def main() -> int:
    labels = {f"{name}\t{it['file']}": it["label"] for name in tt.OPEN
              for it in tt.yaml.safe_load((tt.EVALSET / name).read_text(encoding="utf-8"))}
    verdicts = run()
    assert set(verdicts) == set(labels), "every open message held out exactly once"
    flagged: Counter[tuple[str, str]] = Counter()
    total: Counter[tuple[str, str]] = Counter()
    for key, label in labels.items():
        part = "training split" if key.startswith("train.yml\t") else "development sets"
        total[(part, label)] += 1
        flagged[(part, label)] += verdicts[key] >= Verdict.SUSPICIOUS
    for key in sorted(total):
        print(f"{key[0]:17} {key[1]:9} flagged {flagged[key]:4} of {total[key]:4}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

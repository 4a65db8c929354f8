"""`policy test` and `evaluate` over the tiny labelled folder in data/."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.model import Verdict
from gateway.policy import load_policies
from gateway.policy.commands import default_config
from gateway.policy.evaluate import evaluate, load_labels
from gateway.runtime import Runtime
from tests.unit.policy.helpers import DATA, write

POLICIES = str(DATA / "policies")


def test_policy_test_passes_on_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test", "--policies", POLICIES, str(DATA / "cases.yml")]) == 0
    assert "5 passed, 0 failed" in capsys.readouterr().out


def test_policy_test_reports_regressions(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(DATA / "labelled", tmp_path / "labelled")
    cases = write(tmp_path, "cases.yml", """
        - file: labelled/approach/a1.eml
          expect: clean
          not_rules: [offchannel-push]
        - file: labelled/legit/l1.eml
          expect: "at_least: caution"
          rules: [paid-work-offer]
        - file: labelled/legit/l2.eml
          expect: {at_most: caution}
        """)
    assert main(["policy", "test", "--policies", POLICIES, str(cases)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL {cases}:1: " in out and "verdict high" in out and "expected clean" in out
    assert "rule offchannel-push hit but must not" in out
    assert f"FAIL {cases}:4: " in out and "expected at least caution" in out
    assert "rule paid-work-offer did not hit" in out
    assert "1 passed, 2 failed" in out


def test_policy_test_bad_expect_names_line(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    cases = write(tmp_path, "cases.yml", "- file: x.eml\n  expect: dangerous\n")
    assert main(["policy", "test", "--policies", POLICIES, str(cases)]) == 2
    assert f"{cases}:2: bad expect 'dangerous'" in capsys.readouterr().err


def test_evaluate_metrics_and_tables() -> None:
    pipeline = Runtime(default_config(), policies=load_policies([POLICIES]), offline=True)
    ev = asyncio.run(evaluate(pipeline, load_labels(DATA / "labels.yml")))
    assert ev.counts == {"approach": 3, "legit": 3}
    assert ev.metrics() == {"precision": 1.0, "recall": 1.0, "false_positive_rate": 0.0}
    assert ev.confusion["legit"] == {"clean": 2, "caution": 1, "suspicious": 0, "high": 0}
    assert ev.rule_hits["offchannel-push"] == {"approach": 3, "legit": 1}
    assert ev.rule_hits["allowlisted"] == {"legit": 1}
    # a bare expect is a minimum for approaches (a1: high) and a maximum for the others
    assert len(ev.expect_failures) == 1 and "l2.eml: caution" in ev.expect_failures[0]
    assert "expected at most clean" in ev.expect_failures[0]
    ev2 = asyncio.run(evaluate(pipeline, load_labels(DATA / "labels.yml"),
                               flag_at=Verdict.CAUTION))
    assert ev2.metrics()["false_positive_rate"] == pytest.approx(1 / 3)
    assert len(ev2.false_positives) == 1 and "l2.eml" in ev2.false_positives[0]


def test_evaluate_cli_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    lab = DATA / "labelled"
    assert main(["evaluate", "--json", "--policies", POLICIES, "--label",
                 f"approach={lab / 'approach'}", "--label", f"legit={lab / 'legit'}"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["recall"] == 1.0 and obj["counts"] == {"approach": 3, "legit": 3}
    assert obj["confusion"]["approach"]["high"] == 1
    assert main(["evaluate", "--policies", POLICIES, "--labels", str(DATA / "labels.yml"),
                 "--flag-at", "high"]) == 0
    out = capsys.readouterr().out
    assert "recall 33.3%" in out and "missed (2):" in out
    assert "offchannel-push" in out


def test_dry_runs_without_config_keep_no_history_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`policy test` and `evaluate` without --config run on an in-memory store, so nothing is
    written into the current directory. (That a history file left there is not read follows from
    the memory backend asserted here; a test cannot see it from outside: a store that cannot open
    its file degrades to no history, and the commands succeed either way.)"""
    monkeypatch.chdir(tmp_path)
    assert default_config().store.backend == "memory"
    assert main(["policy", "test", "--policies", POLICIES, str(DATA / "cases.yml")]) == 0
    assert main(["evaluate", "--policies", POLICIES, "--labels", str(DATA / "labels.yml")]) == 0
    capsys.readouterr()
    assert list(tmp_path.iterdir()) == []

"""Bounded YAML loading (gateway/yamlmarks.py) and every loader that must use it: alias bombs,
recursive aliases, deep nesting, node and alias counts, sizes, and files that are not regular
files (FIFO, device, directory). Each is refused with `file:line: problem; fix`, quickly and
without a traceback. The timeout marks only guard against a hang (a billion-laughs policy file
grew a running gateway from 48 MB to 1.5 GB)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway import yamlmarks
from gateway.config import ConfigError, load_config
from gateway.errors import DataError
from gateway.policy.evaluate import CasesError, load_cases, load_labels, read_message
from gateway.policy.loader import read_all
from gateway.problems import Problems
from gateway.refdata import ReferenceData, load_indicator_file
from gateway.yamlmarks import FileError, YamlError, load_located, loads_located, read_bounded

BOMB = "\n".join(
    [f'{chr(97)}: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]" for i in range(1, 9)]) + "\n"

pytestmark = pytest.mark.timeout(60)


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_billion_laughs_is_refused_with_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "bomb.yml", BOMB)
    with pytest.raises(YamlError, match=r"bomb\.yml:6: aliases expand to more than 250000 values .*; write "):
        load_located(p)


def test_recursive_alias_is_an_error_not_a_traceback() -> None:
    with pytest.raises(YamlError, match=r"x:1: recursive alias .*; remove the alias loop"):
        loads_located("a: &a [1, *a]\n", "x")
    with pytest.raises(YamlError, match="recursive alias"):
        loads_located("a: &a {b: *a}\n", "x")


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(YamlError, match=r"x:1: nested deeper than 64 levels; flatten"):
        loads_located("a: " + "[" * 5000 + "]" * 5000 + "\n", "x")
    with pytest.raises(YamlError, match="nested deeper"):
        loads_located("".join("  " * i + f"k{i}:\n" for i in range(200)), "x")


def test_alias_count_and_node_count_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlmarks, "MAX_ALIASES", 10)
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * 11) + "]\n"
    with pytest.raises(YamlError, match=r"x:2: more than 10 aliases"):
        loads_located(text, "x")
    monkeypatch.setattr(yamlmarks, "MAX_NODES", 100)
    with pytest.raises(YamlError, match="more than 100 values"):
        loads_located("a: [" + ",".join(["1"] * 200) + "]\n", "x")


def test_aliased_mapping_as_key_is_refused_before_expansion() -> None:
    with pytest.raises(YamlError, match="unhashable key"):
        loads_located("a: &a {x: 1}\n? *a\n: 2\n", "x")


def test_legitimate_anchors_still_work() -> None:
    doc = loads_located("base: &b {score: 2, reason: r}\nrule: {x: *b, y: [*b, *b]}\n", "x")
    assert doc.value["rule"]["y"] == [{"score": 2, "reason": "r"}] * 2
    assert doc.where(("rule", "x")) == "x:2"


def test_size_is_checked_before_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlmarks, "MAX_YAML_BYTES", 100)
    p = write(tmp_path, "big.yml", "a: " + "x" * 200 + "\n")
    with pytest.raises(FileError, match=r"big\.yml:1: YAML file is larger than 100 bytes; split"):
        load_located(p)


def test_devices_fifos_and_directories_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yml"
    os.mkfifo(fifo)
    with pytest.raises(FileError, match=r"fifo\.yml:1: is a FIFO, not a regular YAML file; name a regular file"):
        load_located(fifo)  # opened non-blocking: no writer needed, no hang
    with pytest.raises(FileError, match=r"/dev/zero:1: is a device"):
        load_located("/dev/zero")
    with pytest.raises(FileError, match=r":1: is a directory"):
        load_located(tmp_path)
    with pytest.raises(FileError, match=r"missing\.yml: cannot read: .*; fix the path"):
        load_located(tmp_path / "missing.yml")
    assert read_bounded(write(tmp_path, "ok.txt", "abc"), 3) == b"abc"


# ---- every loader --------------------------------------------------------------------------


def test_config_loader(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"gw\.yml:6: aliases expand"):
        load_config(write(tmp_path, "gw.yml", BOMB))
    with pytest.raises(ConfigError, match="recursive alias"):
        load_config(write(tmp_path, "gw2.yml", "listen: &a [*a]\n"))
    with pytest.raises(ConfigError, match="is a device"):
        load_config("/dev/zero")


def test_policy_local_d_bomb_is_a_problem_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "local.d").mkdir()
    write(tmp_path / "local.d", "bomb.yml", BOMB)
    write(tmp_path / "local.d", "loop.yml", "rules: &r [*r]\n")
    problems = Problems()
    read_all([str(tmp_path)], problems)
    assert any("bomb.yml:6: aliases expand" in e for e in problems.errors), problems.errors
    assert any("loop.yml:1: recursive alias" in e for e in problems.errors), problems.errors


def test_policy_phrase_file_that_is_a_fifo_or_device(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.txt")
    write(tmp_path, "p.yml", "phrases:\n  a: {file: fifo.txt}\n  b: {file: /dev/zero}\n")
    problems = Problems()
    read_all([str(tmp_path / "p.yml")], problems)
    text = "\n".join(problems.errors)
    assert "phrase file " in text and "is a FIFO" in text and "is a device" in text


def test_indicator_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"ind\.yml:6: aliases expand"):
        load_indicator_file(str(write(tmp_path, "ind.yml", BOMB)))
    with pytest.raises(DataError, match="is a device"):  # was a MemoryError
        load_indicator_file("/dev/zero")


def test_organisations_and_domain_lists(tmp_path: Path) -> None:
    """The reference data loader refuses both, each with its file and line, in one error."""
    from dataclasses import replace

    from gateway.cli import embedded_config

    cfg = embedded_config()
    cfg = replace(cfg, signals=replace(cfg.signals, organisations_files=(str(write(tmp_path, "orgs.yml", BOMB)),),
                                        disposable_files=("/dev/zero",)))
    with pytest.raises(DataError) as caught:
        ReferenceData.load(cfg)
    text = "\n".join(caught.value.errors)
    assert "orgs.yml:6: aliases expand" in text and "/dev/zero" in text and "is a device" in text


def test_cases_labels_and_message_files(tmp_path: Path) -> None:
    with pytest.raises(CasesError, match=r"cases\.yml:6: aliases expand"):
        load_cases(write(tmp_path, "cases.yml", BOMB))
    with pytest.raises(CasesError, match="recursive alias"):
        load_labels(write(tmp_path, "labels.yml", "messages: &m [*m]\n"))
    with pytest.raises(ValueError, match="is a device"):
        read_message(Path("/dev/zero"))

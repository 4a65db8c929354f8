"""The pacing of benchmarks/serve_bench.py's latency load (no timing here: a clock is passed in)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from serve_bench import LatencyLoad, parse_latency_load
from serve_load import Pacer, stagger


def test_pacer_spaces_writes_by_their_time_on_the_link() -> None:
    p = Pacer(1000.0, now=0.0)  # 1,000 bytes per second
    assert p.delay(100, now=0.0) == 0.0
    assert p.delay(100, now=0.0) == pytest.approx(0.1)  # the first 100 bytes still on the link
    assert p.delay(100, now=0.15) == pytest.approx(0.05)
    assert p.delay(300, now=0.2) == pytest.approx(0.1)


def test_a_pacer_held_up_does_not_burst_to_catch_up() -> None:
    p = Pacer(1000.0, now=0.0)
    p.delay(100, now=0.0)
    assert p.delay(100, now=5.0) == 0.0  # the server held this session up for 5 s
    assert p.delay(100, now=5.0) == pytest.approx(0.1)  # ... and it goes on at its rate, no faster


def test_no_rate_means_no_pacing() -> None:
    p = Pacer(0.0, now=0.0)
    assert all(p.delay(1 << 20, now=0.0) == 0.0 for _ in range(10))
    assert stagger(7, 20, 10_000_000, 0.0) == 0.0


def test_sessions_start_spread_over_one_message() -> None:
    starts = [stagger(g, 4, 8_000_000, 2e6) for g in range(4)]  # 4 s per message
    assert starts == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert stagger(5, 4, 8_000_000, 2e6) == pytest.approx(1.0)


@pytest.mark.parametrize(("text", "load", "label"), [
    ("10m:20@4MB/s", LatencyLoad("10m", 20, 4e6), "lat@4M"),
    ("10m:20", LatencyLoad("10m", 20, 0.0), "lat@max"),
    ("10m:20@max", LatencyLoad("10m", 20, 0.0), "lat@max"),
    ("1m:5@500kB/s", LatencyLoad("1m", 5, 5e5), "lat@500k"),
    ("10m:20@1.5mb/s", LatencyLoad("10m", 20, 1.5e6), "lat@1.5M"),
])
def test_latency_load_option(text: str, load: LatencyLoad, label: str) -> None:
    assert parse_latency_load(text) == load
    assert load.label == label
    assert parse_latency_load(load.text) == load


def test_ramp_is_until_the_last_session_started() -> None:
    assert parse_latency_load("10m:20@4MB/s").ramp() == pytest.approx(19 / 20 * 2.5)
    assert parse_latency_load("10m:20").ramp() == 0.0


@pytest.mark.parametrize("text", ["10m", "10m:x", "10m:0", "ham:20", "2m:20", "10m:20@4", "10m:20@0MB/s",
                                  "10m:20@fast", "10m:20@4GB/s"])
def test_latency_load_option_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_latency_load(text)

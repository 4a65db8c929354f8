"""A plain HTTP GET for the admin listener's tests (urllib: the status and body whatever the code)."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from typing import Any


def get(url: str, timeout: float = 10.0) -> tuple[int, str, str]:
    """(status, content type, body) of GET `url`."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # loopback test URLs
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def get_json(url: str) -> tuple[int, Any]:
    status, _, body = get(url)
    return status, json.loads(body)


def samples(text: str) -> dict[str, float]:
    """Prometheus text format -> {'name{labels}': value} (labels as written, sorted by the client)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    total = 0.0
    for key, v in samples(text).items():
        m = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})?", key)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(have.get(k) == v2 for k, v2 in labels.items()):
            total += v
    return total


def wait_until(predicate: Any, timeout: float = 15.0, interval: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` passes (a bound, not an assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())

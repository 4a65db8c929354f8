"""deploy/grafana/approach-gateway.json against a live /metrics: every metric an expression names
exists (as the gateway really exposes it), and every metric family the gateway exposes is shown."""

from __future__ import annotations

import json
import re

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from tests.integration.conftest import Harness
from tests.support.http import get

DASHBOARD = ROOT / "deploy" / "grafana" / "approach-gateway.json"
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
            "gauge": ("",), "summary": ("_sum", "_count", "_created", "")}


def expressions() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    out = []
    for panel in dash["panels"]:
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
        out += [(panel["title"], t["expr"]) for t in panel["targets"]]
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            out.append((f"variable {var['name']}", var["definition"]))
    return out


def test_every_dashboard_metric_exists_in_live_metrics(harness: Harness) -> None:
    harness.start("admin: {listen: 127.0.0.1:0}")
    c = harness.client()
    c.sendmail("alice@ext.test", ["bob@example.org"], b"Subject: x\r\nMessage-ID: <g@ext.test>\r\n\r\nhi\r\n")
    c.quit()
    assert harness.gw is not None and harness.gw.gateway is not None and harness.gw.gateway.admin is not None
    status, _, text = get(f"http://127.0.0.1:{harness.gw.gateway.admin.port}/metrics")
    assert status == 200
    exposed: set[str] = set()
    families: set[str] = set()
    for fam in text_string_to_metric_families(text):
        families.add(fam.name)
        exposed.update(fam.name + s for s in SUFFIXES.get(fam.type, ("",)))
        exposed.update(s.name for s in fam.samples)
    used: set[str] = set()
    missing = []
    for title, expr in expressions():
        assert expr.count("(") == expr.count(")"), f"{title}: unbalanced parentheses in {expr}"
        names = re.findall(r"\bapproach_gateway_\w+", expr)
        assert names, f"{title}: {expr} names no approach_gateway metric"
        for name in names:
            used.add(name)
            if name not in exposed:
                missing.append(f"{title}: {name}")
    assert not missing, f"dashboard metrics not exposed by /metrics: {missing}"
    unshown = sorted(f for f in families if f.startswith("approach_gateway_") and not f.endswith("_created")
                     and not any(u == f or u.startswith(f + "_") for u in used))
    assert not unshown, f"metric families the dashboard does not show: {unshown}"

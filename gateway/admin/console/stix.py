"""Exports: indicators and campaigns as STIX 2.1 bundles (JSON) and as CSV.

Purpose: hand what the gateway knows to a threat-intelligence platform or a spreadsheet. STIX
objects are written by hand (no STIX library: the few object types used here -- identity,
indicator, campaign, relationship -- are plain JSON, and the `stix2` package would pull in its
pattern grammar's ANTLR runtime for nothing we parse); the tests check the structure against the
specification's required properties. Ids are UUIDv5 of the content, so exporting twice gives the
same ids. CSV cells that a spreadsheet would run as a formula (= + - @, tab, CR) are prefixed
with a quote.

Untrusted input: strangers' names, addresses and handles, escaped for STIX pattern string
literals (backslash and quote) and JSON (json.dumps); never interpreted.
"""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Iterable
from typing import Any

from gateway.admin.console.campaigns import Campaign
from gateway.refdata import Indicator, digits_of

NAMESPACE = uuid.UUID("6f1f3a52-2d0e-5c43-9a53-2f4c3a1e9b71")  # fixed: ids stable across exports


def _ts(epoch: float) -> str:
    ms = int(round((epoch % 1) * 1000)) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{ms:03d}Z"


def _id(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, kind + chr(0) + chr(0).join(parts))}"


def literal(value: str) -> str:
    """A STIX pattern string literal: backslash and single quote escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pattern(ind: Indicator) -> str:
    v = ind.value
    if ind.kind == "addresses":
        return f"[email-addr:value = {literal(v.lower())}]"
    if ind.kind == "domains":
        return f"[domain-name:value = {literal(v.lower())}]"
    if ind.kind == "urls":
        return f"[url:value = {literal(v)}]"
    if ind.kind in ("personas", "companies"):
        return f"[email-addr:display_name = {literal(v)}]"
    if ind.kind == "phones":
        number = literal("+" + digits_of(v))
        return f"[user-account:account_type = 'phone-number' AND user-account:account_login = {number}]"
    return f"[user-account:account_login = {literal(v.lstrip('@'))}]"  # handles


def identity(name: str, now: float) -> dict[str, Any]:
    return {"type": "identity", "spec_version": "2.1", "id": _id("identity", name), "created": _ts(now),
            "modified": _ts(now), "name": name, "identity_class": "organization"}


def indicator_object(ind: Indicator, creator: str, now: float) -> dict[str, Any]:
    return {"type": "indicator", "spec_version": "2.1", "id": _id("indicator", ind.kind, ind.value),
            "created": _ts(now), "modified": _ts(now), "created_by_ref": creator,
            "name": f"{ind.kind[:-1] if ind.kind.endswith('s') else ind.kind}: {ind.value}",
            "description": f"covert approach indicator from {ind.source}",
            "indicator_types": ["attribution"], "pattern": pattern(ind), "pattern_type": "stix",
            "pattern_version": "2.1", "valid_from": _ts(now)}


def bundle(indicators: Iterable[Indicator], campaigns: Iterable[tuple[Campaign, list[Indicator]]] = (),
           producer: str = "approach-gateway", now: float | None = None) -> dict[str, Any]:
    """A STIX 2.1 bundle: the producer's identity, one indicator per value, one campaign object per
    campaign with an `indicates` relationship from each of its indicators."""
    now = time.time() if now is None else now
    ident = identity(producer, now)
    objects: dict[str, dict[str, Any]] = {ident["id"]: ident}
    for ind in indicators:
        obj = indicator_object(ind, ident["id"], now)
        objects[obj["id"]] = obj
    for camp, inds in campaigns:
        cobj = {"type": "campaign", "spec_version": "2.1", "id": _id("campaign", camp.id), "created": _ts(now),
                "modified": _ts(now), "created_by_ref": ident["id"], "name": f"{camp.title}: {camp.label}",
                "description": (f"{len(camp.messages)} messages to {len(camp.recipients)} recipients from "
                                f"{len(camp.senders)} senders; verdicts "
                                + ", ".join(f"{k} {v}" for k, v in camp.verdicts.items())),
                "first_seen": _ts(camp.first_seen), "last_seen": _ts(camp.last_seen)}
        objects[cobj["id"]] = cobj
        for ind in inds:
            obj = indicator_object(ind, ident["id"], now)
            objects.setdefault(obj["id"], obj)
            rel = {"type": "relationship", "spec_version": "2.1", "id": _id("relationship", obj["id"], cobj["id"]),
                   "created": _ts(now), "modified": _ts(now), "created_by_ref": ident["id"],
                   "relationship_type": "indicates", "source_ref": obj["id"], "target_ref": cobj["id"]}
            objects[rel["id"]] = rel
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": list(objects.values())}


def cell(value: object) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_text(header: list[str], rows: Iterable[Iterable[object]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(header)
    for row in rows:
        w.writerow([cell(v) for v in row])
    return out.getvalue()


def indicators_csv(indicators: Iterable[Indicator]) -> str:
    return csv_text(["kind", "value", "source"], ((i.kind, i.value, i.source) for i in indicators))


def campaigns_csv(campaigns: Iterable[Campaign]) -> str:
    return csv_text(["id", "kind", "label", "messages", "recipients", "senders", "first_seen", "last_seen",
                     "verdicts", "rules"],
                    ((c.id, c.kind, c.label, len(c.messages), len(c.recipients), len(c.senders),
                      _ts(c.first_seen), _ts(c.last_seen), " ".join(f"{k}:{v}" for k, v in c.verdicts.items()),
                      " ".join(f"{r}:{n}" for r, n in c.rules)) for c in campaigns))

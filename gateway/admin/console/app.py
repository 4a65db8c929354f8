"""The console's pages and actions (aiohttp handlers) and the application factory.

Purpose: one handler per page or action, each starting with `require(request, PERMISSION)` (the
matrix is in auth.py); blocking work (SQLite, files, the quarantine) runs in threads; every
state-changing action is audited with who, when and what. Pages are Jinja2 templates with
autoescape on; a stranger's text is additionally shown with control and bidi characters made
visible (`finalize`), so a name cannot reorder the page around it.

Untrusted input: query strings and forms (validated here), uploaded messages (analysed offline),
and everything the store, the quarantine and the triage queue hold about strangers' messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import jinja2
import nh3
from aiohttp import web

from gateway.act.quarantine import QuarantineBusy, QuarantineError
from gateway.admin.console import ConsoleDeps, campaigns, policyedit, stix
from gateway.admin.console.auth import (
    COOKIE,
    IDENTITY,
    LOGIN_COOKIE,
    Identity,
    client_address,
    cookie_path,
    login_limits,
    middleware,
    new_login_token,
    read_form,
    require,
    same_site,
    set_console_cookie,
    set_session_cookie,
)
from gateway.admin.console.db import STATUSES, ConsoleDB, Report, ReportLimit
from gateway.admin.console.intake import addressed_to, find_message, reporter_key
from gateway.checks.campaign import decision_keys
from gateway.domains import Domains
from gateway.errors import DataError
from gateway.parse import MessageView, normalize_newlines, split_header_block
from gateway.policy.evaluate import Labelled
from gateway.refdata import INDICATOR_KINDS, Indicator
from gateway.smtp.upstream import release
from gateway.store import MAX_RECENT, VERDICT_WORDS, MessageMeta
from gateway.store.record import decision_meta
from gateway.textsafe import terminal_text

HERE = Path(__file__).resolve().parent
log = logging.getLogger("gateway.console")
PUBLIC = frozenset({"login", "login_post", "static"})
DEPS = web.AppKey("console_deps", ConsoleDeps)
DB = web.AppKey("console_db", ConsoleDB)
JINJA = web.AppKey("console_jinja", jinja2.Environment)
DONE = {
    "released": "Released: the message was relayed to its recipients.",
    "released_partly": "Released to the recipients the upstream accepted; it refused the others for good "
                       "(the audit log names them).",
    "deleted": "Deleted.",
    "decided": "Saved the decision.",
    "decided_approach": "Saved the decision. Later messages from this sender that nobody here answered are now "
                        "flagged as follow-ups of an approach (campaign.follow_up_of_flagged, 120 days).",
    "decided_not_approach": "Saved the decision. Later messages from this sender no longer inherit an earlier "
                            "flagged judgement, and writing to colleagues or again is no cue; their own content "
                            "is still judged.",
    "decided_unrecorded": "Saved the decision, but the gateway's history store could not be written: later "
                          "messages from this sender are judged as before (see the log; decide again to retry).",
    "decided_untold": "Saved the decision. The gateway was not told: the reported message is not one its history "
                      "holds (a forwarded copy, or older than the report window), so its sender is not known for "
                      "sure; later messages are judged as before.",
    "loggedout": "You are logged out.",
}
MAX_UPLOAD = 12 * 1024 * 1024
# refused logins on one record (a locked account name or address): the first and every hundredth are
# audited, with the count; the rest only counted (an outsider could otherwise write a row each request)
AUDIT_REFUSED_EVERY = 100
SAFE_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "div", "dl", "dt", "em", "h1", "h2",
             "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "small", "span", "strong", "sub",
             "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul"}
PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"


# --------------------------------------------------------------------------- helpers


def _ts(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _visible(value: Any) -> Any:
    """Every `{{ }}`: strangers' control and bidi characters shown as escapes (autoescape follows)."""
    return terminal_text(value, keep_newlines=True) if isinstance(value, str) else value


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, finalize=_visible, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["ts"] = _ts
    env.filters["score"] = lambda x: f"{x:g}" if isinstance(x, (int, float)) else x
    return env


def deps_of(request: web.Request) -> ConsoleDeps:
    return request.app[DEPS]


def db_of(request: web.Request) -> ConsoleDB:
    return request.app[DB]


def url_for(request: web.Request, route: str, query: dict[str, str] | None = None, **parts: str) -> str:
    u = request.app.router[route].url_for(**parts)
    return str(u.with_query(query) if query else u)


def render(request: web.Request, template: str, status: int = 200, **ctx: Any) -> web.Response:
    identity: Identity | None = request.get(IDENTITY)
    html = request.app[JINJA].get_template(template).render(
        url=lambda route, query=None, **parts: url_for(request, route, query, **parts),
        me=identity, csrf=identity.csrf if identity else "", done=DONE.get(request.query.get("done", ""), ""),
        **ctx)
    return web.Response(text=html, content_type="text/html", status=status)


async def audit(request: web.Request, action: str, target: str = "", detail: str = "") -> None:
    me: Identity | None = request.get(IDENTITY)
    await asyncio.to_thread(db_of(request).audit, me.user if me else "-", me.role if me else "-", action, target,
                            detail)


def redirect(location: str) -> web.Response:
    """A 303 as a plain response (one that sets cookies: raised exceptions lose them)."""
    return web.Response(status=303, headers={"Location": location})


def _int(value: str | None, default: int, lo: int, hi: int) -> int:
    try:
        return max(lo, min(hi, int(value or default)))
    except ValueError:
        return default


# --------------------------------------------------------------------------- login


async def login_page(request: web.Request) -> web.Response:
    token = new_login_token()
    resp = render(request, "login.html", login_token=token, next=request.query.get("next", ""), error="")
    set_console_cookie(resp, request, deps_of(request).config.console, LOGIN_COOKIE, token, max_age=900)
    return resp


def _cookie_path(request: web.Request) -> str:
    return cookie_path(request)


def _safe_next(request: web.Request, target: str) -> str:
    """`target` when it is a page of the console: printable (atk45 #7: a line break in it made the redirect itself
    fail, after the session was opened), no "." or ".." segment however written (`/console/../x` left the console)."""
    base = _cookie_path(request)
    path = target.split("?", 1)[0].split("#", 1)[0].lower().replace("%2e", ".")
    if (target.startswith(base + "/") and not target.startswith("//") and "\\" not in target and target.isprintable()
            and not any(seg in (".", "..") for seg in path.split("/"))):
        return target
    return url_for(request, "home")


def _login_again(request: web.Request, status: int, next_page: str, error: str,
                 headers: dict[str, str] | None = None) -> web.Response:
    fresh = new_login_token()
    resp = render(request, "login.html", status=status, login_token=fresh, next=next_page, error=error)
    resp.headers.update(headers or {})
    set_console_cookie(resp, request, deps_of(request).config.console, LOGIN_COOKIE, fresh, max_age=900)
    return resp


def _wait(seconds: int) -> str:
    return f"{seconds} seconds" if seconds < 120 else f"{(seconds + 59) // 60} minutes"


async def login_post(request: web.Request) -> web.Response:
    form = await read_form(request)
    token = str(form.get("login_token", ""))
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    cfg = deps_of(request).config.console
    if not same_site(request, cfg) or not token or token != cookie:
        raise web.HTTPForbidden(text="login form expired or sent from another site: reload the login page")
    user, password = str(form.get("user", ""))[:64], str(form.get("password", ""))[:1024]
    db = db_of(request)
    address, limits = client_address(request, cfg), login_limits(cfg)
    refused = await asyncio.to_thread(db.login_begin, user, address, limits)
    if refused is not None:  # the password is not looked at: the answer is the same whether it was right
        wait = max(1, math.ceil(refused.retry_after))
        whose = "this account name" if refused.kind == "account" else "your address"
        detail = f"{refused.kind} {refused.key} " + (f"locked, {wait} s left" if refused.locked else
                                                      "has its remaining attempts in flight")
        if refused.refused == 1 or refused.refused % AUDIT_REFUSED_EVERY == 0:  # a flood writes one line a hundred
            await asyncio.to_thread(db.audit, user or "-", "-", "login.refused", address,
                                    f"{detail}; {refused.refused} refused on this record since its lock began")
        error = (f"Too many failed logins for {whose}: try again in {_wait(wait)} (an admin can lift the lock)."
                 if refused.locked else f"Too many login attempts at once for {whose}: try again in a second.")
        return _login_again(request, 429, str(form.get("next", "")), error, {"Retry-After": str(wait)})
    role: str | None = None
    outcome: bool | None = None  # None: neither (the check itself failed): the attempt is only released
    try:
        role = await asyncio.to_thread(db.verify, user, password) if user and password else None
        outcome = role is not None
    finally:
        locks = await asyncio.to_thread(db.login_end, user, address, outcome, limits)
    if role is None:
        # one line per failure, as Dovecot and Postfix write them, for fail2ban and the like (admin21);
        # bounded by the login throttle: past its limit an attempt is refused before the password
        log.warning("console: login failed for %r from %s", user, address)
        await asyncio.to_thread(db.audit, user or "-", "-", "login.failed", address)
        for lock in locks:
            log.warning("console: failed logins: %s %r locked for %g s (the last from %s)", lock.kind, lock.key,
                        lock.retry_after, address)
            await asyncio.to_thread(db.audit, user or "-", "-", "login.locked", address,
                                    f"{lock.kind} {lock.key} locked for {lock.retry_after:g} s")
        return _login_again(request, 401, str(form.get("next", "")), "Wrong account name or password.")
    await asyncio.to_thread(db.purge_sessions, cfg.session_idle, cfg.session_max)  # expired ones, everyone's
    session_token, _ = await asyncio.to_thread(db.new_session, user, role, "password")
    await asyncio.to_thread(db.audit, user, role, "login", address)
    resp = redirect(_safe_next(request, str(form.get("next", ""))))
    set_session_cookie(resp, request, cfg, session_token)
    resp.del_cookie(LOGIN_COOKIE, path=_cookie_path(request))
    return resp


async def logout(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(COOKIE, "")
    if token:
        await asyncio.to_thread(db_of(request).end_session, token)
    await audit(request, "logout")
    resp = redirect(url_for(request, "login", {"done": "loggedout"}))
    resp.del_cookie(COOKIE, path=_cookie_path(request))
    return resp


async def home(request: web.Request) -> web.StreamResponse:
    me: Identity = request[IDENTITY]
    raise web.HTTPSeeOther(url_for(request, "campaigns" if me.may("view") else "report"))


# --------------------------------------------------------------------------- campaigns


async def _campaigns(request: web.Request) -> tuple[list[campaigns.Campaign], int, str]:
    deps = deps_of(request)
    days = _int(request.query.get("days"), 30, 1, 3650)
    min_verdict = request.query.get("min", "")
    if min_verdict not in VERDICT_WORDS:
        min_verdict = ""
    msgs = await deps.store.recent(time.time() - days * 86400, limit=MAX_RECENT, min_verdict=min_verdict)
    return campaigns.group(msgs, deps.runtime().data, deps.config.local_domains), days, min_verdict


async def campaign_list(request: web.Request) -> web.Response:
    require(request, "view")
    found, days, min_verdict = await _campaigns(request)
    return render(request, "campaigns.html", campaigns=found, days=days, min_verdict=min_verdict,
                  verdicts=VERDICT_WORDS)


async def _campaign(request: web.Request) -> tuple[campaigns.Campaign, int, str]:
    found, days, min_verdict = await _campaigns(request)
    cid = request.match_info["cid"]
    for c in found:
        if c.id == cid:
            return c, days, min_verdict
    raise web.HTTPNotFound(text=f"no campaign {cid} in the last {days} days; widen the window (days=)")


async def campaign_page(request: web.Request) -> web.Response:
    require(request, "view")
    camp, days, min_verdict = await _campaign(request)
    deps = deps_of(request)
    offer = campaigns.candidates(camp.messages, deps.runtime().data, deps.config.local_domains)
    return render(request, "campaign.html", c=camp, days=days, min_verdict=min_verdict, candidates=offer,
                  action=url_for(request, "campaign_indicator", {"days": str(days), "min": min_verdict},
                                 cid=camp.id))


async def _make_indicator(request: web.Request, name: str, source: str, target: str,
                          offered: dict[str, list[str]]) -> web.Response:
    deps = deps_of(request)
    form = await read_form(request)
    chosen = {k: [str(v) for v in form.getall(k, [])] for k in INDICATOR_KINDS}
    try:
        values = campaigns.clean_values(chosen, offered)
        path = await asyncio.to_thread(campaigns.write_indicator_file, _indicators_dir(deps), name, source, values)
    except (campaigns.IndicatorInputError, DataError) as exc:
        return render(request, "message.html", status=400, title="No indicator written", text=str(exc))
    reloaded = await deps.reload()
    matches = await campaigns.hunt(deps.store, path)
    await audit(request, "indicator.create", str(path),
                json.dumps({"from": target, "values": values, "reloaded": reloaded, "hunt_matches": len(matches)},
                           ensure_ascii=False))
    return render(request, "indicator_done.html", path=str(path), values=values, reloaded=reloaded,
                  matches=matches, source=source)


def _indicators_dir(deps: ConsoleDeps) -> str:
    cfg = deps.config.console
    return cfg.indicators_dir or str(Path(cfg.state_dir) / "indicators")


async def campaign_indicator(request: web.Request) -> web.Response:
    me = require(request, "indicator")
    camp, _, _ = await _campaign(request)
    source = f"console: {camp.title} {camp.label} ({me.user}, {time.strftime('%Y-%m-%d', time.gmtime())})"
    deps = deps_of(request)
    offer = campaigns.candidates(camp.messages, deps.runtime().data, deps.config.local_domains)
    return await _make_indicator(request, f"campaign-{camp.id}-{campaigns.file_stamp()}", source, camp.id, offer)


# --------------------------------------------------------------------------- staff reports


async def _stored_message(request: web.Request, message_id: str) -> MessageMeta | None:
    deps = deps_of(request)
    return await find_message(deps.store, message_id, deps.config.console.report_window_days)


async def _shown_message(request: web.Request, me: Identity, mid: str) -> MessageMeta | None:
    """The stored message a report page may show this user: any to those who may view the history, to a reporter
    only one addressed to them (atk45 #4: any member of staff could read any message's sender, display name, time
    and verdict by its Message-ID)."""
    meta = await _stored_message(request, mid) if mid else None
    if meta is None or me.may("view") or addressed_to(me.user, meta, deps_of(request).config.local_domains):
        return meta
    return None


async def report_page(request: web.Request) -> web.Response:
    me = require(request, "report")
    mid = request.query.get("id", "")[:998]
    return render(request, "report.html", mid=mid, meta=await _shown_message(request, me, mid))


async def report_post(request: web.Request) -> web.Response:
    me = require(request, "report")
    form = await read_form(request)
    mid = str(form.get("id", ""))[:998].strip()
    if not mid:
        raise web.HTTPBadRequest(text="no Message-ID: open the report link from the message's banner")
    deps = deps_of(request)
    meta = await _stored_message(request, mid)
    analysis: dict[str, Any] = {"found": "history (metadata)" if meta else
                                "not in the history: only the Message-ID is known"}
    if meta is not None:
        analysis.update({"hits": [{"id": r, "score": None, "reason": ""} for r in meta.rule_ids],
                         "signals": [{"name": s, "evidence": {}} for s in meta.signals],
                         "observables": list(meta.observables), "campaign_keys": list(meta.campaign_keys),
                         "recipients": list(meta.recipients), "received": meta.when,
                         "reporter_addressed": addressed_to(me.user, meta, deps.config.local_domains)})
    db = db_of(request)
    try:
        rid = await asyncio.to_thread(lambda: db.add_report(
            source="link", reporter=me.user, message_id=mid, subject="", sender=meta.sender if meta else "",
            display_name=meta.display_name if meta else "", verdict=meta.verdict if meta else "",
            score=meta.score if meta else 0.0, analysis=analysis, per_hour=deps.config.console.reports_per_hour,
            person=lambda name: reporter_key(name, deps.config.local_domains)))
    except ReportLimit as limit:
        wait = math.ceil(limit.retry_after)
        log.info("console: report by %r refused: %s reports in the last hour", me.user,
                 deps.config.console.reports_per_hour)
        raise web.HTTPTooManyRequests(
            headers={"Retry-After": str(wait)},
            text=f"You have sent {deps.config.console.reports_per_hour} reports in the last hour, the most one "
                 f"person may: try again in {_wait(wait)}, or write to the security team.") from None
    await audit(request, "report.link", rid, mid)
    return render(request, "message.html", title="Thank you",
                  text=f"Your report is in the security team's queue (reference {rid}). Please do not reply to "
                       "the sender or follow their instructions meanwhile.")


async def triage_list(request: web.Request) -> web.Response:
    require(request, "view")
    status = request.query.get("status", "new")
    status = status if status in STATUSES or status == "all" else "new"
    reports = await asyncio.to_thread(db_of(request).reports, "" if status == "all" else status)
    return render(request, "triage.html", reports=reports, current=status, statuses=STATUSES)


async def _report(request: web.Request) -> Report:
    try:
        return await asyncio.to_thread(db_of(request).report, request.match_info["rid"])
    except LookupError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None


def _report_meta(r: Report) -> MessageMeta:
    return MessageMeta(when=r.time, direction="inbound", sender=r.sender, recipients=(),
                       display_name=r.display_name, observables=tuple(r.analysis.get("observables", [])))


async def triage_report(request: web.Request) -> web.Response:
    require(request, "view")
    r = await _report(request)
    deps = deps_of(request)
    offer = campaigns.candidates([_report_meta(r)], deps.runtime().data, deps.config.local_domains)
    return render(request, "triage_report.html", r=r, candidates=offer, statuses=STATUSES)


async def triage_decide(request: web.Request) -> web.StreamResponse:
    me = require(request, "triage")
    r = await _report(request)
    form = await read_form(request)
    status = str(form.get("status", ""))
    if status not in STATUSES:
        raise web.HTTPBadRequest(text=f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    note = str(form.get("note", ""))[:2000]
    await asyncio.to_thread(db_of(request).decide, r.id, status, me.user, note)
    await audit(request, "triage.decide", r.id, f"{r.status} -> {status}; {note}")
    done = await _remember_decision(request, r, status)
    raise web.HTTPSeeOther(url_for(request, "triage_report", {"done": done}, rid=r.id))


async def _remember_decision(request: web.Request, r: Report, status: str) -> str:
    """Tell the gateway's history store, so that the sender's later messages inherit the decision:
    "approach" flags their follow-ups like a flagged message's, "not an approach" stops an earlier
    flagged judgement from being inherited (gateway/checks/campaign.py). Nothing for a social
    network's shared address, our own addresses or a report without a sender. The sender is the
    one the store recorded when the message was delivered (a link report's, or the delivered copy of
    a forwarded one), never the From of an attachment a reporter sent: anyone here can send one.
    Returns the DONE key to show."""
    deps = deps_of(request)
    if status not in ("approach", "not_approach"):
        return "decided"
    sender = _delivered_sender(r)
    if not sender:
        return "decided_untold"
    keys = decision_keys(sender, status, Domains(deps.config.local_domains))
    if not keys:
        return "decided"
    try:
        await deps.store.record_message(decision_meta(sender, keys, time.time(), r.id, status),
                                        deps.config.local_domains)
    except Exception as exc:  # noqa: BLE001 - the decision is saved; the store's failure is reported
        log.error("console: staff report %s: the decision could not be recorded in the store: %s: %s",
                  r.id, type(exc).__name__, exc)
        return "decided_unrecorded"
    return f"decided_{status}"


def _delivered_sender(r: Report) -> str:
    """The sender the gateway's history recorded for the reported message, '' when it holds none."""
    if r.source == "link" and r.analysis.get("found") == "history (metadata)":
        return r.sender
    delivered = r.analysis.get("delivered")
    return str(delivered.get("sender", "")) if isinstance(delivered, dict) else ""


async def triage_indicator(request: web.Request) -> web.Response:
    me = require(request, "indicator")
    r = await _report(request)
    source = f"console: staff report {r.id} ({me.user}, {time.strftime('%Y-%m-%d', time.gmtime())})"
    deps = deps_of(request)
    offer = campaigns.candidates([_report_meta(r)], deps.runtime().data, deps.config.local_domains)
    return await _make_indicator(request, f"report-{r.id}", source, r.id, offer)


def labels_yaml(db: ConsoleDB) -> str:
    import yaml

    items = []
    for r, path in db.labelled():
        items.append({"file": str(path.resolve()), "label": "approach" if r.status == "approach" else "legit",
                      "campaign" if r.status == "approach" else "source": r.sender or r.reporter,
                      "note": f"staff report {r.id} decided by {r.decided_by}"})
    head = ("# Triaged staff reports from the approach-gateway console, for\n"
            "#   approach-gateway evaluate --config FILE --labels THIS_FILE\n"
            "#   approach-gateway policy fit --config FILE --labels THIS_FILE --out policies/local.d/40-fitted.yml\n"
            "# Paths are on the gateway host (console.state_dir/reports).\n")
    return head + (yaml.safe_dump(items, allow_unicode=True, sort_keys=False, width=1000) if items else "[]\n")


async def labels_export(request: web.Request) -> web.Response:
    require(request, "view")
    text = await asyncio.to_thread(labels_yaml, db_of(request))
    await audit(request, "export.labels")
    return web.Response(text=text, content_type="application/yaml",
                        headers={"Content-Disposition": 'attachment; filename="triage-labels.yml"'})


# --------------------------------------------------------------------------- policies


async def policy_page(request: web.Request) -> web.Response:
    require(request, "view")
    config = deps_of(request).config
    rows, thresholds, problems = await asyncio.to_thread(policyedit.effective_rules, config)
    return render(request, "policy.html", rules=rows, thresholds=thresholds, problems=problems,
                  files=await asyncio.to_thread(policyedit.local_files, config),
                  policy_dir=config.console.policy_dir, sources=deps_of(request).runtime().policies.sources)


async def policy_edit(request: web.Request) -> web.Response:
    require(request, "try")
    config = deps_of(request).config
    name = request.query.get("file", "") or "50-local.yml"
    try:
        text = await asyncio.to_thread(policyedit.read_local, config, name) or policyedit.NEW_FILE
    except policyedit.EditError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return render(request, "policy_edit.html", **_edit_context(name, text))


def _edit_context(name: str, text: str, **more: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {"name": name, "text": text, "lint": None, "tried": None, "try_errors": [],
                           "figures": None, "message": "", "saved": None}
    ctx.update(more)
    return ctx


async def _edit_form(request: web.Request) -> tuple[str, str, Any]:
    form = await read_form(request)
    name = str(form.get("file", ""))
    text = str(form.get("text", ""))
    try:
        policyedit.target(deps_of(request).config, name)
        policyedit.check_text(text)
    except policyedit.EditError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return name, text, form


async def policy_lint(request: web.Request) -> web.Response:
    require(request, "try")
    name, text, _ = await _edit_form(request)
    report = await asyncio.to_thread(policyedit.lint_edit, deps_of(request).config, name, text)
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response({"ok": report.ok, "errors": list(report.errors), "warnings": list(report.warnings),
                                  "rules": len(report.policies.rules) if report.policies else 0})
    return render(request, "policy_edit.html", **_edit_context(name, text, lint=report))


def _labelled(db: ConsoleDB) -> list[Labelled]:
    return [Labelled(path, "approach" if r.status == "approach" else "legit") for r, path in db.labelled()]


async def policy_try(request: web.Request) -> web.Response:
    require(request, "try")
    deps = deps_of(request)
    name, text, form = await _edit_form(request)
    upload = form.get("eml")
    raw = b""
    if isinstance(upload, web.FileField):
        raw = upload.file.read(MAX_UPLOAD + 1)
    pasted = str(form.get("message", ""))
    if not raw and pasted.strip():
        raw = pasted.encode("utf-8", "surrogateescape")
    report = await asyncio.to_thread(policyedit.lint_edit, deps.config, name, text)
    ctx = _edit_context(name, text, lint=report, message=pasted)
    if not report.ok or report.policies is None:
        ctx["try_errors"] = ["fix the lint errors first: the edited policies do not load"]
        return render(request, "policy_edit.html", status=422, **ctx)
    running = deps.runtime()
    if raw:
        if len(raw) > MAX_UPLOAD:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_UPLOAD, actual_size=len(raw))
        ctx["tried"] = await policyedit.try_message(running, report.policies, normalize_newlines(raw))
    items = await asyncio.to_thread(_labelled, db_of(request))
    if items:
        ctx["figures"] = (await policyedit.measure(running, None, items),
                          await policyedit.measure(running, report.policies, items))
    await audit(request, "policy.try", name, f"message {len(raw)} bytes; {len(items)} labelled reports")
    return render(request, "policy_edit.html", **ctx)


async def policy_save(request: web.Request) -> web.Response:
    require(request, "policy")
    deps = deps_of(request)
    name, text, _ = await _edit_form(request)
    report = await asyncio.to_thread(policyedit.lint_edit, deps.config, name, text)
    if not report.ok:
        return render(request, "policy_edit.html", status=422, **_edit_context(
            name, text, lint=report, try_errors=["not saved: fix the lint errors first"]))
    path, diff = await asyncio.to_thread(policyedit.save, deps.config, name, text)
    reloaded = await deps.reload()
    await audit(request, "policy.save", str(path), f"reloaded: {reloaded}\n{diff}")
    return render(request, "policy_edit.html", **_edit_context(name, text, lint=report,
                                                               saved={"path": str(path), "reloaded": reloaded,
                                                                      "diff": diff}))


# --------------------------------------------------------------------------- quarantine


async def quarantine_list(request: web.Request) -> web.Response:
    require(request, "view")
    q = deps_of(request).quarantine
    entries = await asyncio.to_thread(q.list, limit=500)
    return render(request, "quarantine.html", entries=entries)


def preview_document(view: MessageView) -> str:
    """The message's HTML, sanitised (allow-listed tags, no attributes but a few layout ones, no
    URLs, no images, no styles), as a whole document with its own CSP: what the sandboxed iframe's
    srcdoc holds."""
    html = "\n".join(p.text for p in view.text_parts if p.content_type == "text/html")
    if not html.strip():
        return ""
    clean = nh3.clean(html, tags=SAFE_TAGS, attributes={"td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}},
                      url_schemes=set(), strip_comments=True, link_rel=None)
    return (f'<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="{PREVIEW_CSP}">'
            f'<meta charset="utf-8"></head><body>{clean}</body></html>')


def _quarantined(q: Any, qid: str) -> tuple[Any, bytes]:
    return q.get(qid), q.read(qid)


async def quarantine_entry(request: web.Request) -> web.Response:
    require(request, "view")
    q = deps_of(request).quarantine
    try:
        entry, raw = await asyncio.to_thread(_quarantined, q, request.match_info["qid"])
    except QuarantineError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    view = MessageView.parse(raw, deps_of(request).runtime().limits)
    block, _ = split_header_block(raw)
    headers = [(n, ", ".join(view.headers(n)) or "-") for n in ("From", "Reply-To", "To", "Cc", "Subject", "Date",
                                                                 "Message-ID")]
    return render(request, "quarantine_entry.html", e=entry, headers=headers,
                  raw_headers=block.decode("utf-8", "replace").replace("\r\n", "\n"),
                  text=view.body_text[:200_000], preview=preview_document(view),
                  reasons=[r.strip() for r in entry.reasons.split(";") if r.strip()])


async def quarantine_release(request: web.Request) -> web.StreamResponse:
    require(request, "quarantine")
    deps = deps_of(request)
    q = deps.quarantine
    qid = request.match_info["qid"]
    try:
        released = await asyncio.to_thread(q.release, qid)
    except QuarantineBusy as exc:  # being released or no longer held (atk45 #3)
        raise web.HTTPConflict(text=str(exc)) from None
    except QuarantineError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    try:
        done = await release(deps.config, released.mail_from, released.rcpt_tos, released.raw)
    except BaseException:
        await asyncio.to_thread(q.unclaim, qid)
        raise
    if not done.delivered:
        await asyncio.to_thread(q.unclaim, qid)
        await audit(request, "quarantine.release_failed", qid, done.summary())
        return render(request, "message.html", status=502, title="Release failed, message kept",
                      text=f"The upstream did not accept it: {done.summary()}")
    await asyncio.to_thread(q.mark_released, qid)
    await audit(request, "quarantine.release", qid, done.summary())
    raise web.HTTPSeeOther(url_for(request, "quarantine", {"done": "released_partly" if done.refused else "released"}))


async def quarantine_delete(request: web.Request) -> web.StreamResponse:
    require(request, "quarantine")
    qid = request.match_info["qid"]
    try:
        await asyncio.to_thread(deps_of(request).quarantine.delete, qid)
    except QuarantineBusy as exc:
        raise web.HTTPConflict(text=str(exc)) from None
    except QuarantineError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    await audit(request, "quarantine.delete", qid)
    raise web.HTTPSeeOther(url_for(request, "quarantine", {"done": "deleted"}))


# --------------------------------------------------------------------------- exports and audit


def _campaign_indicators(camp: campaigns.Campaign, deps: ConsoleDeps) -> list[Indicator]:
    offer = campaigns.candidates(camp.messages, deps.runtime().data, deps.config.local_domains)
    return [Indicator(kind, v, f"campaign {camp.id}") for kind, values in offer.items() for v in values]


async def export(request: web.Request) -> web.Response:
    require(request, "view")
    deps = deps_of(request)
    what = request.match_info["what"]
    producer = f"approach-gateway {deps.config.hostname}"
    if what in ("indicators.stix.json", "indicators.csv"):
        inds = list(deps.runtime().data.indicators)
        body = json.dumps(stix.bundle(inds, producer=producer), indent=1, ensure_ascii=False) \
            if what.endswith(".json") else stix.indicators_csv(inds)
    elif what in ("campaigns.stix.json", "campaigns.csv"):
        found, _, _ = await _campaigns(request)
        body = json.dumps(stix.bundle([], [(c, _campaign_indicators(c, deps)) for c in found], producer=producer),
                          indent=1, ensure_ascii=False) if what.endswith(".json") else stix.campaigns_csv(found)
    else:
        raise web.HTTPNotFound(text="no such export; use indicators.stix.json, indicators.csv, "
                                    "campaigns.stix.json or campaigns.csv")
    await audit(request, "export", what)
    ctype = "application/stix+json;version=2.1" if what.endswith(".json") else "text/csv"
    return web.Response(body=body.encode("utf-8"), headers={
        "Content-Type": ctype + "; charset=utf-8" if ctype == "text/csv" else ctype,
        "Content-Disposition": f'attachment; filename="{what}"'})


async def audit_page(request: web.Request) -> web.Response:
    require(request, "audit")
    entries = await asyncio.to_thread(db_of(request).audit_log, 500, request.query.get("action", ""))
    return render(request, "audit.html", entries=entries)


# --------------------------------------------------------------------------- the application


def build(deps: ConsoleDeps) -> web.Application:
    cfg = deps.config.console
    if cfg.base_url.startswith("https://") and not cfg.trusted_proxies:
        log.warning("console: base_url is %s but trusted_proxies is empty: the listener speaks plain HTTP, so the "
                    "console's cookies are not marked Secure; list the TLS proxy's address in console.trusted_proxies",
                    cfg.base_url)
    db = ConsoleDB(cfg.state_dir)
    app = web.Application(middlewares=[middleware(db, cfg, PUBLIC, {"policy_try": "try"}, MAX_UPLOAD + 65536)])
    app[DEPS] = deps
    app[DB] = db
    app[JINJA] = _environment()
    r = app.router
    r.add_get("/", home, name="home")
    r.add_get("/login", login_page, name="login")
    r.add_post("/login", login_post, name="login_post")
    r.add_post("/logout", logout, name="logout")
    r.add_get("/campaigns", campaign_list, name="campaigns")
    r.add_get("/campaigns/{cid}", campaign_page, name="campaign")
    r.add_post("/campaigns/{cid}/indicator", campaign_indicator, name="campaign_indicator")
    r.add_get("/report", report_page, name="report")
    r.add_post("/report", report_post, name="report_post")
    r.add_get("/triage", triage_list, name="triage")
    r.add_get("/triage/export/labels.yml", labels_export, name="labels_export")
    r.add_get("/triage/{rid}", triage_report, name="triage_report")
    r.add_post("/triage/{rid}/decide", triage_decide, name="triage_decide")
    r.add_post("/triage/{rid}/indicator", triage_indicator, name="triage_indicator")
    r.add_get("/policy", policy_page, name="policy")
    r.add_get("/policy/edit", policy_edit, name="policy_edit")
    r.add_post("/policy/lint", policy_lint, name="policy_lint")
    r.add_post("/policy/try", policy_try, name="policy_try")
    r.add_post("/policy/save", policy_save, name="policy_save")
    r.add_get("/quarantine", quarantine_list, name="quarantine")
    r.add_get("/quarantine/{qid}", quarantine_entry, name="quarantine_entry")
    r.add_post("/quarantine/{qid}/release", quarantine_release, name="quarantine_release")
    r.add_post("/quarantine/{qid}/delete", quarantine_delete, name="quarantine_delete")
    r.add_get("/export/{what}", export, name="export")
    r.add_get("/audit", audit_page, name="audit")
    r.add_static("/static/", HERE / "static", name="static")
    return app


async def serve(deps: ConsoleDeps, host: str = "127.0.0.1", port: int = 0,
                prefix: str = "/console/") -> tuple[web.AppRunner, int]:
    """Run the console alone (tests, or before the admin listener exists): mounted at `prefix`
    of an otherwise empty application on host:port (loopback by default). Returns the runner
    (call `cleanup()`) and the port."""
    root = web.Application()
    root.add_subapp(prefix, build(deps))
    runner = web.AppRunner(root, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    if server is None:
        raise RuntimeError("console: the listener did not start")
    sockets = getattr(server, "sockets", None) or []
    return runner, int(sockets[0].getsockname()[1]) if sockets else port

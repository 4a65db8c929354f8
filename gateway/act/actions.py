"""What the gateway does for each verdict, and the planner that turns a decision into actions.

Purpose: `ActionsConfig` holds the per-verdict settings from the `actions:` section of a policy
file (banner, header-only, subject tag, copy to a security mailbox, quarantine, reject) and
`plan` applies them to one message: the (possibly bannered) bytes, extra header edits, extra
envelope recipients, and whether to quarantine or reject. The contract headers themselves come
from `gateway.act.headers`; this module adds nothing to them.

Untrusted input: the message (through `MessageView` and the raw bytes handed to the banner and
subject code) and the policy's reason strings; the `actions:` mapping is admin input validated
here, every problem collected as `file:line: key: problem; fix` (gateway/problems.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gateway.act.banner import TemplateError, Templates, insert_banner
from gateway.act.subject import subject_edits
from gateway.errors import AdminInputError
from gateway.model import Decision, HeaderEdit, Verdict
from gateway.parse import MessageView
from gateway.problems import Problems, key_fix
from gateway.replies import POLICY_REJECT

Where = Callable[[tuple[Any, ...]], str]
VERDICT_KEYS = ("caution", "suspicious", "high")
DEFAULT_REJECT_TEXT = "Message refused by the recipient's security policy"
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_REPORT_LINK = re.compile(r"^(mailto:[^\s<>\"]+|https://[^\s<>\"]+)$")
_PRINTABLE = re.compile(r"^[\x20-\x7e]+$")


@dataclass(frozen=True)
class VerdictActions:
    """Actions for one verdict. `header_only` wins over `banner` and `subject_tag`: it keeps the
    body and every signed header as received, so existing DKIM signatures stay valid."""

    banner: bool = False
    header_only: bool = False
    subject_tag: str | None = None
    copy_to: tuple[str, ...] = ()
    quarantine: bool = False
    reject: bool = False
    reject_text: str = DEFAULT_REJECT_TEXT


@dataclass(frozen=True)
class ActionsConfig:
    caution: VerdictActions = field(default_factory=VerdictActions)
    suspicious: VerdictActions = field(default_factory=lambda: VerdictActions(banner=True))
    high: VerdictActions = field(default_factory=lambda: VerdictActions(banner=True))
    report_link: str | None = None
    templates_dir: str | None = None
    templates: Templates = field(default_factory=Templates.load, compare=False, repr=False)

    def for_verdict(self, verdict: Verdict) -> VerdictActions | None:
        if verdict is Verdict.CLEAN:
            return None
        return getattr(self, verdict.word)  # type: ignore[no-any-return]


DEFAULT_ACTIONS = ActionsConfig()


@dataclass(frozen=True)
class ActionPlan:
    """What to do with one message after the contract headers are built.

    `raw` is the message to relay (banner inserted, or the very same bytes); apply `edits` with
    the contract edits in `gateway.act.headers.apply_edits`. `extra_rcpts` are added to the
    envelope. With `quarantine`, the message is stored and not delivered to the original
    recipients (only to `extra_rcpts`, if any). `reject` is a complete SMTP reply line
    ("550 5.7.1 ...") to give the client instead of relaying."""

    raw: bytes
    edits: tuple[HeaderEdit, ...] = ()
    extra_rcpts: tuple[str, ...] = ()
    quarantine: bool = False
    reject: str | None = None

    def summary(self, original: bytes) -> dict[str, object]:
        """What `serve` would carry out, for `scan --json`: the action, whether the body gets a
        banner, the header edits beyond the contract headers (subject tag), the extra recipients."""
        return {"action": "reject" if self.reject else "quarantine" if self.quarantine else "deliver",
                "reject": self.reject, "banner": self.raw != original,
                "header_edits": [{"name": e.name, "value": e.value} for e in self.edits],
                "copy_to": list(self.extra_rcpts)}


def plan(decision: Decision, view: MessageView, raw: bytes, actions: ActionsConfig) -> ActionPlan:
    """The actions for `decision`; never raises on a stranger's message (worst case: no banner)."""
    todo = actions.for_verdict(decision.verdict)
    if todo is None:
        return ActionPlan(raw=raw)
    if todo.reject:
        return ActionPlan(raw=raw, reject=str(POLICY_REJECT.format(text=todo.reject_text)))
    edits: tuple[HeaderEdit, ...] = ()
    out = raw
    if not todo.header_only:
        if todo.subject_tag:
            edits = subject_edits(raw, view, todo.subject_tag)
        if todo.banner:
            link = actions.report_link
            if link and "{message_id}" in link:  # the console's report page: /console/report?id={message_id}
                link = link.replace("{message_id}", quote((view.header("Message-ID") or "").strip()[:998], safe=""))
            banner = actions.templates.render(decision, link)
            out = insert_banner(raw, banner, max_depth=view.limits.max_mime_depth,
                                max_parts=view.limits.max_mime_parts)
    return ActionPlan(raw=out, edits=edits, extra_rcpts=todo.copy_to, quarantine=todo.quarantine)


# --------------------------------------------------------------------------- validation

class _Check:
    """Validates an `actions:` mapping, recording every problem in `problems` (gateway/problems.py,
    the collector of config, policies and reference data) and going on with the next key."""

    def __init__(self, where: Where, prefix: tuple[Any, ...], problems: Problems) -> None:
        self.where = where
        self.prefix = prefix
        self.problems = problems

    def fail(self, path: tuple[Any, ...], problem: str, fix: str) -> None:
        full = self.prefix + path
        key = ".".join(str(p) for p in full)
        self.problems.add(self.where(full), f"{key}: {problem}", fix)

    def mapping(self, path: tuple[Any, ...], value: Any, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        """The known keys of a mapping (null: none); a non-mapping and each unknown key are errors."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(path, f"expected a mapping, got {type(value).__name__}", "write it as 'key: value' lines")
            return {}
        for key in value:
            if key not in allowed:
                self.fail(path + (key,), "unknown key", key_fix(key, allowed, "use one of"))
        return {k: v for k, v in value.items() if k in allowed}

    def boolean(self, path: tuple[Any, ...], value: Any) -> bool | None:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {value!r}", "write true or false")
            return None
        return value

    def text(self, path: tuple[Any, ...], value: Any, limit: int, fix: str) -> str | None:
        if not isinstance(value, str) or not _PRINTABLE.match(value) or len(value) > limit:
            self.fail(path, f"expected printable ASCII text of at most {limit} characters, got {value!r}", fix)
            return None
        return value


_VERDICT_FIELDS = ("banner", "header_only", "subject_tag", "copy_to", "quarantine", "reject",
                   "reject_text")


def _verdict(c: _Check, key: str, value: Any, base: VerdictActions) -> VerdictActions:
    m = c.mapping((key,), value, _VERDICT_FIELDS)
    changes: dict[str, Any] = {}
    for name in ("banner", "header_only", "quarantine", "reject"):
        if name in m and (flag := c.boolean((key, name), m[name])) is not None:
            changes[name] = flag
    if "subject_tag" in m:
        tag = m["subject_tag"]
        changes["subject_tag"] = None if tag in (None, False, "") else c.text(
            (key, "subject_tag"), tag, 40, "write a short tag such as '[SUSPICIOUS]', or false")
    if "reject_text" in m and (text := c.text((key, "reject_text"), m["reject_text"], 200,
                                              "write one line of plain ASCII text")) is not None:
        changes["reject_text"] = text
    if "copy_to" in m:
        changes["copy_to"] = _copy_to(c, key, m["copy_to"])
    return replace(base, **changes)


def _copy_to(c: _Check, key: str, value: Any) -> tuple[str, ...]:
    addrs = [value] if isinstance(value, str) else value
    if not isinstance(addrs, list):
        c.fail((key, "copy_to"), "expected a list of addresses", "write e.g. copy_to: [security@example.org]")
        return ()
    good = []
    for i, a in enumerate(addrs):
        if not isinstance(a, str) or not _ADDRESS.match(a):
            c.fail((key, "copy_to", i), f"{a!r} is not a mailbox address",
                   "write a plain address like security@example.org")
        else:
            good.append(a)
    return tuple(good)


def _templates_dir(c: _Check, value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        c.fail(("templates_dir",), f"expected a directory path, got {value!r}", "quote the path")
        return None
    path = Path(value)
    if not path.is_absolute():
        source = c.where(c.prefix).rsplit(":", 1)[0]
        path = Path(source).parent / path
    if not path.is_dir():
        c.fail(("templates_dir",), f"directory {str(path)!r} does not exist",
               "create it with banner.txt and/or banner.html, or remove the key")
        return None
    return str(path)


def parse_actions(data: Mapping[str, Any], where: Where, *, prefix: tuple[Any, ...] = ("actions",),
                  base: ActionsConfig = DEFAULT_ACTIONS, problems: Problems | None = None) -> ActionsConfig:
    """Validate an `actions:` mapping; keys not given keep the values of `base`. Every problem is
    added to `problems`; without one, AdminInputError lists them all."""
    collect = problems if problems is not None else Problems()
    c = _Check(where, prefix, collect)
    m = c.mapping((), data, VERDICT_KEYS + ("report_link", "templates_dir"))
    per_verdict: dict[str, Any] = {key: _verdict(c, key, m[key], getattr(base, key))
                                   for key in VERDICT_KEYS if key in m}
    result = replace(base, **per_verdict)
    if "report_link" in m:
        link = m["report_link"]
        if link not in (None, False) and (not isinstance(link, str) or not _REPORT_LINK.match(link)):
            c.fail(("report_link",), f"{link!r} is not a mailto: or https:// link",
                   "write e.g. mailto:security@example.org or https://intranet/report")
        else:
            result = replace(result, report_link=link or None)
    directory = _templates_dir(c, m["templates_dir"]) if "templates_dir" in m else None
    if directory is not None:
        try:
            templates = Templates.load(directory)
        except TemplateError as exc:
            c.fail(("templates_dir",), str(exc), "fix the template file")
        else:
            result = replace(result, templates_dir=directory, templates=templates)
    if problems is None and collect.errors:
        raise AdminInputError(collect.report())
    return result

"""The security team's web console: campaigns, staff reports, policy editing, quarantine, exports.

Purpose: an aiohttp application the admin listener (gateway/admin/) mounts at `/console/`; it
can also run standalone (tests: `aiohttp.web.AppRunner` on 127.0.0.1). The contract with the
listener is `create_console(ConsoleDeps(...))`; everything the console needs from the running
gateway comes through `ConsoleDeps`, read per request (a reload swaps the runtime).
docs/console.md documents the pages, roles, configuration and security model.

Untrusted input: HTTP requests (authenticated before anything else; CSRF-checked when they
change state), and strangers' messages and metadata shown in pages (Jinja2 autoescape; message
HTML only sanitised, in a sandboxed, CSP-locked iframe).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

    from gateway.act.quarantine import QuarantineStore
    from gateway.config import Config
    from gateway.runtime import Runtime
    from gateway.store import Store

__all__ = ["ConsoleDeps", "create_console"]


@dataclass
class ConsoleDeps:
    """What the console needs from the running gateway.

    config      the running Config (its `console:` section: state_dir, indicators_dir, policy_dir,
                report_address, sessions, proxy header; `upstream` for releases and acknowledgements)
    runtime     returns the CURRENT Runtime (called per request: a reload swaps it)
    store       the history store (recent, search_history for hunts)
    quarantine  the QuarantineStore of `quarantine.dir`
    reload      reloads policies and reference data like SIGHUP; True when the new set is in force
    metrics     optional, unused by the console itself (the listener's registry)
    """

    config: Config
    runtime: Callable[[], Runtime]
    store: Store
    quarantine: QuarantineStore
    reload: Callable[[], Awaitable[bool]]
    metrics: Any = None


def create_console(deps: ConsoleDeps) -> web.Application:
    """The console as an aiohttp Application (mount it with `app.add_subapp("/console/", ...)`)."""
    from gateway.admin.console.app import build

    return build(deps)

"""Who is asking, and may they: sessions, the reverse proxy's user header, roles, CSRF, headers.

Purpose: one middleware in front of every console handler. It sets the security headers on every
response (strict Content-Security-Policy: no inline script, no remote source, no framing), finds
the user -- a session cookie from a password login, or the reverse proxy's authenticated-user
header when (and only when) the peer is in `console.trusted_proxies` --, refuses what the role
may not do (the permission matrix below), and refuses every state-changing request that lacks
the session's CSRF token or comes from another site (Origin / Sec-Fetch-Site). Sessions expire
after `console.session_idle` seconds unused and `console.session_max` seconds after login.

Untrusted input: request headers, cookies, forms (bounded by aiohttp's client_max_size).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.admin.console.db import ROLES, ConsoleDB, LoginLimits, Session, address_key
from gateway.config import ConsoleConfig

log = logging.getLogger("gateway.console")

try:  # aiohttp >= 3.13: typed request storage (plain strings warn there, and work everywhere)
    from aiohttp.web import RequestKey

    IDENTITY: Any = RequestKey("console_identity", object)
    SET_SESSION: Any = RequestKey("console_set_session", str)
except ImportError:  # pragma: no cover - older aiohttp
    IDENTITY, SET_SESSION = "console_identity", "console_set_session"

COOKIE = "approach_console"
LOGIN_COOKIE = "approach_console_login"

# The permission matrix (docs/console.md). `reporter` is what a member of staff gets who is
# authenticated by the reverse proxy but has no console account: the report page only.
PERMISSIONS: dict[str, frozenset[str]] = {
    "report": frozenset({"reporter", "viewer", "analyst", "admin"}),  # confirm a staff report
    "view": frozenset({"viewer", "analyst", "admin"}),  # campaigns, triage, quarantine, rules, exports
    "triage": frozenset({"analyst", "admin"}),  # mark a report approach / not an approach
    "indicator": frozenset({"analyst", "admin"}),  # campaign or report -> indicator file, hunt
    "quarantine": frozenset({"analyst", "admin"}),  # release, delete
    "try": frozenset({"analyst", "admin"}),  # lint an edit, try a message, evaluate an edit
    "policy": frozenset({"admin"}),  # save a policy file (reloads the gateway)
    "audit": frozenset({"admin"}),  # read the audit log
}
if not all(r in ROLES for roles in PERMISSIONS.values() for r in roles):
    raise RuntimeError("console: PERMISSIONS names a role that is not in ROLES")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; frame-src 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make Chromium send Origin: null
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Identity:
    user: str
    role: str
    via: str
    csrf: str

    def may(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]


def peer_trusted(request: web.Request, cfg: ConsoleConfig) -> bool:
    try:
        addr = ipaddress.ip_address((request.remote or "").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return any(addr in net for net in cfg.trusted_proxies)


def client_address(request: web.Request, cfg: ConsoleConfig) -> str:
    """The login throttle's address key: the peer, or behind a reverse proxy in `trusted_proxies`
    the last address of its X-Forwarded-For (the one the proxy itself saw; earlier ones are the
    client's to write). IPv6 as its /64 (db.address_key)."""
    peer = request.remote or "-"
    if peer_trusted(request, cfg):
        forwarded = request.headers.get("X-Forwarded-For", "").rsplit(",", 1)[-1].strip()
        try:
            ipaddress.ip_address(forwarded)
        except ValueError:
            forwarded = ""
        peer = forwarded or peer
    return address_key(peer)


def login_limits(cfg: ConsoleConfig) -> LoginLimits:
    return LoginLimits(account=cfg.login_failures, address=cfg.login_failures_per_address, window=cfg.login_window,
                       lockout=cfg.login_lockout, lockout_max=cfg.login_lockout_max)


def same_site(request: web.Request, cfg: ConsoleConfig | None = None) -> bool:
    """False for a request another site's page made (CSRF): Sec-Fetch-Site or Origin say so.
    Behind a reverse proxy in `trusted_proxies`, its X-Forwarded-Host names the console's host."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is not None:
        expected = f"{request.scheme}://{request.host}"
        forwarded = request.headers.get("X-Forwarded-Host") if cfg is not None and peer_trusted(request, cfg) \
            else None
        if origin != expected and not (forwarded and origin.split("://", 1)[-1] == forwarded):
            return False
    return True


def cookie_path(request: web.Request) -> str:
    """The console's mount point (cookies are sent to the console only)."""
    return str(request.app.router["home"].url_for()).rstrip("/") or "/"


def over_https(request: web.Request, cfg: ConsoleConfig) -> bool:
    """The browser reached the console over HTTPS: TLS on this connection, or a reverse proxy in
    `trusted_proxies` says so with `X-Forwarded-Proto: https` (from anyone else the header is the client's own
    words: atk45 #9); of a list, in one line or several, the last value, the one the proxy itself added (as
    X-Forwarded-For's; review46b #6)."""
    return request.secure or (peer_trusted(request, cfg) and ",".join(request.headers.getall(
        "X-Forwarded-Proto", [])).rsplit(",", 1)[-1].strip().lower() == "https")


def set_console_cookie(response: web.StreamResponse, request: web.Request, cfg: ConsoleConfig, name: str,
                       token: str, max_age: int | None = None) -> None:
    """The session cookie or the login form's: HttpOnly, SameSite=Strict, the console's path, Secure over HTTPS
    (atk45 #9: the login form's had no Secure at all)."""
    response.set_cookie(name, token, path=cookie_path(request), httponly=True, samesite="Strict",
                        secure=over_https(request, cfg), max_age=max_age)


def set_session_cookie(response: web.StreamResponse, request: web.Request, cfg: ConsoleConfig, token: str) -> None:
    set_console_cookie(response, request, cfg, COOKIE, token)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def read_form(request: web.Request) -> Any:
    """The request's form; 400 when a stranger's body cannot be read as one (invalid UTF-8 in a multipart field, a
    multipart without a boundary, an unknown charset: atk45 #8, each a 500 without the security headers and a
    traceback in the log)."""
    try:
        return await request.post()
    except (ValueError, LookupError) as exc:
        raise web.HTTPBadRequest(text=f"malformed form ({type(exc).__name__}); send it again from the page") from None


# one request pipeline: session, proxy header, CSRF, role and audit in the order a reviewer reads them (C901)
def middleware(db: ConsoleDB, cfg: ConsoleConfig,  # noqa: C901
               public: frozenset[str], uploads: dict[str, str] | None = None,
               max_upload: int = 0) -> Callable[..., Awaitable[web.StreamResponse]]:
    """`uploads`: route -> the permission whose holders may send it a body of up to `max_upload` bytes (aiohttp reads
    every body with the root application's limit, 1 MiB, whatever a sub-application sets: atk45 #10); every other
    body, a stranger's, and one from a user the route refuses (a reporter: docreview45 #11) keep that limit."""
    uploads = uploads or {}
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await _guarded(request, handler)
        except web.HTTPException as exc:
            headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
            response = web.Response(status=exc.status, reason=exc.reason, text=exc.text or exc.reason,
                                    headers=headers, content_type="text/plain")
        except Exception:  # a fault of ours: logged, answered with the same headers as every page (atk45 #8)
            log.exception("console: %s %s failed", request.method, request.path)
            response = web.Response(status=500, text="internal error: see the gateway log", content_type="text/plain")
        token = request.get(SET_SESSION)
        if token:  # a session opened for a proxy-authenticated user
            set_session_cookie(response, request, cfg, token)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.name or ""
        identity = await _identify(request)
        request[IDENTITY] = identity
        if route in public:
            if request.method not in SAFE_METHODS and not same_site(request, cfg):
                raise web.HTTPForbidden(text="cross-site request refused")
            return await handler(request)
        if identity is None:
            if request.method in SAFE_METHODS:
                login = request.app.router["login"].url_for().with_query(next=request.rel_url.path_qs)
                raise web.HTTPSeeOther(login)
            raise web.HTTPUnauthorized(text="log in first")
        if route in uploads and max_upload and identity.may(uploads[route]):
            request = request.clone(client_max_size=max_upload)  # (before the CSRF check reads the form)
        if request.method not in SAFE_METHODS:
            token = request.headers.get("X-CSRF-Token", "")
            if not token and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                token = str((await read_form(request)).get("csrf", ""))
            if not same_site(request, cfg) or not hmac.compare_digest(token.encode(), identity.csrf.encode()):
                await asyncio.to_thread(db.audit, identity.user, identity.role, "csrf.refused", request.path)
                raise web.HTTPForbidden(text="missing or wrong CSRF token, or a cross-site request: reload the page")
        return await handler(request)

    async def _identify(request: web.Request) -> Identity | None:
        token = request.cookies.get(COOKIE, "")
        session: Session | None = None
        if token:
            session = await asyncio.to_thread(db.session, token, cfg.session_idle, cfg.session_max)
        header = cfg.proxy_user_header
        proxied = request.headers.get(header, "").strip() if header else ""
        if proxied and peer_trusted(request, cfg):
            if session is not None and session.via == "proxy" and session.user == proxied:
                return Identity(session.user, session.role, "proxy", session.csrf)
            try:
                ConsoleDB.check_name(proxied)
            except ValueError:
                return None
            role = await asyncio.to_thread(db.role_of, proxied) or "reporter"
            # expired ones, everyone's, as a password login does (atk45 #5: behind a proxy nobody logs in with a
            # password, and each request without the cookie left a row)
            await asyncio.to_thread(db.purge_sessions, cfg.session_idle, cfg.session_max)
            new_token, fresh = await asyncio.to_thread(db.new_session, proxied, role, "proxy")
            request[SET_SESSION] = new_token
            return Identity(proxied, role, "proxy", fresh.csrf)
        if session is not None and session.via == "password":
            return Identity(session.user, session.role, "password", session.csrf)
        return None

    return guard


def require(request: web.Request, permission: str) -> Identity:
    identity: Identity | None = request.get(IDENTITY)
    if identity is None:
        raise web.HTTPUnauthorized(text="log in first")
    if not identity.may(permission):
        raise web.HTTPForbidden(text=f"your role ({identity.role}) may not do this ({permission})")
    return identity


def new_login_token() -> str:
    return secrets.token_urlsafe(24)

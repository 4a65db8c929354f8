"""Redis store: one state store shared by several gateway instances (behind a load balancer).

Purpose: the `Store` protocol on Redis (or Valkey: same protocol) with redis-py's asyncio
client. Every write is ONE Lua script call (atomic: exact counts under any concurrency, from any
number of gateways), every lookup one command or one script call; retention is key expiry
(EXPIREAT = min(last activity, now) + retention_days, moved forward by each write), so nothing
needs a purge job. Every operation runs under `timeout`; a timeout, a refused or dropped
connection, or any Redis error raises `StoreUnavailable` within it (one immediate reconnect is
tried for a connection the server closed, no backoff), counts in `failures`, and later calls
reconnect by themselves. docs/store.md has the key layout, the
round trips and the sizing.

Untrusted input: addresses, names, observables and campaign keys derived from strangers'
messages. They travel as bulk strings (binary-safe: no protocol injection), become parts of key
names only after a fixed namespace (`<prefix>x:`, `<prefix>c:`, ...), and are cut to MAX_FIELD.
Not for Redis Cluster (the scripts build key names; one primary, optionally behind Sentinel).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.store import (
    DECISION,
    MAX_REACH_MESSAGES,
    MAX_REACH_SAMPLE,
    MAX_RECENT,
    MAX_RECENT_EXAMINE,
    HistoryHit,
    MessageMeta,
    PairStats,
    RdapRecord,
    Reach,
    ReachQuery,
    SenderHistory,
    StoreUnavailable,
    cap,
    cap_keys,
    hunt_match,
    indexed_keys,
    local_recipients,
    pairs_of,
    reach_query,
    verdicts_at_least,
)

T = TypeVar("T")
DAY = 86400
REACH_SLACK = 24  # campaign index entries kept per key beyond MAX_REACH_MESSAGES (excluded ids)
PAGE = 500  # messages per round trip in search_history
PURGE_BATCH = 1000
MAX_CONNECTIONS = 32  # per gateway process; a caller past this waits (within `timeout`)
SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel")


# --------------------------------------------------------------------------- URLs


class RedisUrlError(ValueError):
    """A store.url that cannot work. `problem` and `fix` are separate for config.py's message."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}; {fix}")
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True)
class RedisTarget:
    """Where the store lives: a plain URL (redis://, rediss://, unix://) or a Sentinel set."""

    url: str  # the URL as written (may hold a password: never log it, use `display`)
    display: str  # the URL with any password replaced by ***
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: bool = False
    sentinel_password: str | None = None

    @property
    def is_sentinel(self) -> bool:
        return bool(self.sentinels)


def redact_url(url: str) -> str:
    """The URL with any password (in the user part or a `password=` option) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:  # unparseable (a broken [IPv6]): hide anything between :// and the last @
        head, sep, rest = url.partition("://")
        return head + sep + ("***@" + rest.rpartition("@")[2] if "@" in rest else rest)
    if parts.password is None and "password" not in parts.query:
        return url
    netloc = parts.netloc
    if parts.password is not None:
        user, _, hosts = netloc.rpartition("@")
        netloc = (user.split(":", 1)[0] + ":***@" if ":" in user else "***@") + hosts
    query = "&".join(("{}=***".format(kv.split("=", 1)[0]) if "password" in kv.split("=", 1)[0] else kv)
                     for kv in parts.query.split("&")) if parts.query else ""
    return parts._replace(netloc=netloc, query=query).geturl()


def _hostport(text: str, default_port: int) -> tuple[str, int]:
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise RedisUrlError(f"sentinel address {text!r} is not [IPv6]:PORT", "write e.g. [::1]:26379")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise RedisUrlError(f"sentinel address {text!r} is not [IPv6]:PORT", "write e.g. [::1]:26379")
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise RedisUrlError(f"sentinel address {text!r} has no host", "write HOST:PORT, e.g. 10.0.0.5:26379")
    if port_text and not port_text.isdigit():
        raise RedisUrlError(f"sentinel address {text!r} has a bad port", "write HOST:PORT, e.g. 10.0.0.5:26379")
    port = int(port_text) if port_text else default_port
    if not 1 <= port <= 65535:
        raise RedisUrlError(f"port {port} is out of range", "use a port from 1 to 65535")
    return host, port


def parse_redis_url(url: str) -> RedisTarget:  # noqa: C901 - one branch per URL form redis-py accepts (redis, rediss, unix, sentinel, valkey) and its options
    """Check a store.url and say how to connect. Raises RedisUrlError (problem; fix).

    redis://[user:password@]host[:port][/db]       rediss:// the same over TLS
    unix://[user:password@]/path/to/redis.sock[?db=N]
    redis+sentinel://[user:password@]host[:port][,host2[:port]...]/service[/db][?sentinel_password=...]
    rediss+sentinel:// the same, TLS to the primary. Sentinel's port defaults to 26379; user and
    password are the primary's, sentinel_password the sentinels' own (if they require one).
    """
    if not isinstance(url, str) or not url.strip():
        raise RedisUrlError("is empty", "write e.g. redis://127.0.0.1:6379/0")
    display = redact_url(url)
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise RedisUrlError(f"{display!r} is not a Redis URL",
                            "write redis://HOST:PORT/DB, rediss://..., unix:///PATH.sock or "
                            "redis+sentinel://HOST:26379,HOST2:26379/SERVICE/DB")
    if "sentinel" not in scheme:
        if scheme != "unix":
            try:
                parts = urlsplit(url)
                host, port = parts.hostname, parts.port
            except ValueError:
                raise RedisUrlError(f"{display!r} has a bad host or port",
                                    "write e.g. redis://127.0.0.1:6379/0 or redis://[::1]:6379/0") from None
            if not host:
                raise RedisUrlError(f"{display!r} has no host", "write e.g. redis://127.0.0.1:6379/0")
            if port is not None and not 1 <= port <= 65535:
                raise RedisUrlError(f"{display!r} has a bad port", "use a port from 1 to 65535")
            if parts.path not in ("", "/") and not parts.path[1:].isdigit():
                raise RedisUrlError(f"{display!r}: the path {parts.path!r} is not a database number",
                                    "write redis://HOST:PORT/DB with DB a number, e.g. /0")
        try:
            from redis.asyncio.connection import parse_url

            opts = parse_url(url)
        except (ValueError, TypeError) as exc:
            raise RedisUrlError(f"{display!r}: {exc}", "see docs/store.md for the URL forms") from None
        if scheme == "unix" and not str(opts.get("path") or "").startswith("/"):
            raise RedisUrlError(f"{display!r} has no absolute socket path",
                                "write unix:///run/redis/redis-server.sock")
        return RedisTarget(url=url, display=display, db=int(opts.get("db") or 0))

    # redis+sentinel://[user:pw@]h1:p1,h2:p2/service[/db][?sentinel_password=...]
    netloc, _, tail = rest.partition("/")
    tail, _, query = tail.partition("?")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        hosts, userinfo = netloc, ""
    username = password = None
    if userinfo:
        user, colon, pw = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if colon else None
    if not hosts:
        raise RedisUrlError(f"{display!r} names no sentinel",
                            "write redis+sentinel://HOST:26379,HOST2:26379/SERVICE/DB")
    sentinels = tuple(_hostport(h.strip(), 26379) for h in hosts.split(","))
    segments = [p for p in tail.split("/") if p]
    if not segments:
        raise RedisUrlError(f"{display!r} names no service (the Sentinel master name)",
                            "write redis+sentinel://HOST:26379/mymaster/0")
    if len(segments) > 2 or (len(segments) == 2 and not segments[1].isdigit()):
        raise RedisUrlError(f"{display!r}: after the sentinels come /SERVICE and an optional /DB number",
                            "write redis+sentinel://HOST:26379/mymaster/0")
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = set(params) - {"sentinel_password", "db"}
    if unknown:
        raise RedisUrlError(f"{display!r}: unknown option {sorted(unknown)[0]!r}",
                            "only sentinel_password= and db= are understood after '?'")
    db_text = segments[1] if len(segments) == 2 else params.get("db", "0")
    if not db_text.isdigit():
        raise RedisUrlError(f"{display!r}: db {db_text!r} is not a number", "write a database number, e.g. /0")
    return RedisTarget(url=url, display=display, sentinels=sentinels, service=unquote(segments[0]),
                       db=int(db_text), username=username, password=password,
                       ssl=scheme.startswith("rediss"), sentinel_password=params.get("sentinel_password") or None)


# --------------------------------------------------------------------------- scripts
# Times travel as strings (Lua would print numbers with 14 digits); stored as %.17g (exact).
# A pair value and an aggregate are "first last count outbound".

_LUA_COMMON = """
local P, now, keep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local cutoff = now - keep
local function num(x) return string.format('%.17g', x) end
local function expiry(t) return math.floor(math.min(t, now) + keep) + 1 end
local function merge(old, w, out)
  if not old then return num(w) .. ' ' .. num(w) .. ' 1 ' .. out, w end
  local f, l, c, o = string.match(old, '^(%S+) (%S+) (%d+) (%d+)$')
  f = math.min(tonumber(f), w)
  l = math.max(tonumber(l), w)
  return num(f) .. ' ' .. num(l) .. ' ' .. string.format('%d', tonumber(c) + 1) .. ' '
    .. string.format('%d', tonumber(o) + out), l
end
"""

# ARGV: prefix now keep message_json when ncamp camp_key... npairs (local external domain when out)...
WRITE = _LUA_COMMON + """
local CAP = tonumber(ARGV[4])
local i = 5
local msg, mwhen = ARGV[i], ARGV[i + 1]
local ncamp = tonumber(ARGV[i + 2])
i = i + 3
if msg ~= '' and tonumber(mwhen) >= cutoff then
  local id = redis.call('INCR', P .. 'seq')
  local mk = P .. 'm:' .. id
  redis.call('SET', mk, msg, 'EXAT', expiry(tonumber(mwhen)))
  redis.call('ZADD', P .. 't', mwhen, id)
  redis.call('ZREMRANGEBYSCORE', P .. 't', '-inf', '(' .. num(cutoff))
  for k = i, i + ncamp - 1 do
    local ck = P .. 'c:' .. ARGV[k]
    redis.call('ZADD', ck, mwhen, id)
    redis.call('ZREMRANGEBYRANK', ck, 1, -(CAP + 1))  -- the newest CAP, and the earliest (campaign_first_seen)
    local newest = redis.call('ZRANGE', ck, -1, -1, 'WITHSCORES')
    redis.call('EXPIREAT', ck, expiry(tonumber(newest[2])))
  end
end
i = i + ncamp
local npairs = tonumber(ARGV[i])
i = i + 1
local written = 0
for _ = 1, npairs do
  local loc, ext, dom, w, out = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), ARGV[i + 4]
  i = i + 5
  if w >= cutoff then
    local xk = P .. 'x:' .. ext
    local old = redis.call('HMGET', xk, loc, '')
    local v = merge(old[1], w, tonumber(out))
    local agg, last = merge(old[2], w, tonumber(out))
    redis.call('HSET', xk, loc, v, '', agg)
    redis.call('EXPIREAT', xk, expiry(last))
    local dk = P .. 'd:' .. dom
    local dv, dlast = merge(redis.call('GET', dk), w, tonumber(out))
    redis.call('SET', dk, dv, 'EXAT', expiry(dlast))
    written = written + 1
  end
end
return written
"""

# ARGV: prefix since exclude max_examine sample_n per_key key...
# A message value is HEAD "\n" BODY, HEAD = JSON [sender, message_id, [local recipients]]: this
# script decodes only the heads (JSON never holds a raw newline). Each key's list is read newest
# first in pages of 128 (at most per_key entries: MAX_REACH_MESSAGES + REACH_SLACK, or fewer when a
# `campaign_reach_many` query asks, `reach_query`) and the lists are merged, newest first, until
# max_examine messages were counted: the work is bounded by keys x per_key entries read and
# max_examine messages fetched. The sample is the first sample_n distinct recipients met (the
# most recent); the caller sorts it.
REACH = """
local P, since, exclude = ARGV[1], ARGV[2], ARGV[3]
local maxn, sample_n, per_key = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local STEP = 128
local keys, rows, pos, read, heads = {}, {}, {}, {}, {}
local function fill(li)
  if read[li] >= per_key then rows[li] = {} pos[li] = 1 heads[li] = nil return end
  rows[li] = redis.call('ZREVRANGEBYSCORE', keys[li], '+inf', since, 'WITHSCORES', 'LIMIT', read[li],
                        math.min(STEP, per_key - read[li]))
  read[li] = read[li] + #rows[li] / 2
  pos[li] = 1
  heads[li] = rows[li][2] and tonumber(rows[li][2]) or nil
end
for k = 7, #ARGV do
  keys[#keys + 1] = P .. 'c:' .. ARGV[k]
  read[#keys] = 0
  fill(#keys)
end
local done, rseen, sseen, sample = {}, {}, {}, {}
local nr, ns, n, first, last, truncated = 0, 0, 0, '0', '0', 0
while true do
  local best = nil
  for li = 1, #keys do
    if heads[li] and (best == nil or heads[li] > heads[best]) then best = li end
  end
  if best == nil then break end
  local r, p = rows[best], pos[best]
  local id, score = r[p], r[p + 1]
  if p + 2 <= #r then
    pos[best] = p + 2
    heads[best] = tonumber(r[p + 3])
  elseif #r == 2 * STEP then
    fill(best)
  else
    heads[best] = nil
  end
  if not done[id] then
    done[id] = true
    local raw = redis.call('GET', P .. 'm:' .. id)
    if raw then
      local head = cjson.decode(string.sub(raw, 1, string.find(raw, '\\n', 1, true) - 1))
      if exclude == '' or head[2] ~= exclude then
        if n >= maxn then truncated = 1 break end
        n = n + 1
        if n == 1 then last = score end
        first = score
        if not sseen[head[1]] then sseen[head[1]] = true ns = ns + 1 end
        for _, rc in ipairs(head[3]) do
          if not rseen[rc] then
            rseen[rc] = true
            nr = nr + 1
            if #sample < sample_n then sample[#sample + 1] = rc end
          end
        end
      end
    end
  end
end
local out = {nr, ns, n, first, last, truncated}
for _, rc in ipairs(sample) do out[#out + 1] = rc end
return out
"""

# ARGV: prefix min_score offset count -> score, message json ('' if expired), ...
PAGE_LUA = """
local rows = redis.call('ZRANGEBYSCORE', ARGV[1] .. 't', ARGV[2], '+inf', 'WITHSCORES', 'LIMIT',
                        tonumber(ARGV[3]), tonumber(ARGV[4]))
local out = {}
for j = 1, #rows, 2 do
  out[#out + 1] = rows[j + 1]
  out[#out + 1] = redis.call('GET', ARGV[1] .. 'm:' .. rows[j]) or ''
end
return out
"""

# ARGV: prefix max_score min_score offset count -> score, message json ('' if expired), ... newest first
REV_PAGE_LUA = """
local rows = redis.call('ZREVRANGEBYSCORE', ARGV[1] .. 't', ARGV[2], ARGV[3], 'WITHSCORES', 'LIMIT',
                        tonumber(ARGV[4]), tonumber(ARGV[5]))
local out = {}
for j = 1, #rows, 2 do
  out[#out + 1] = rows[j + 1]
  out[#out + 1] = redis.call('GET', ARGV[1] .. 'm:' .. rows[j]) or ''
end
return out
"""

# ARGV: prefix cutoff batch -> number of messages removed
PURGE = """
local ids = redis.call('ZRANGEBYSCORE', ARGV[1] .. 't', '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('DEL', ARGV[1] .. 'm:' .. id) end
if #ids > 0 then redis.call('ZREM', ARGV[1] .. 't', unpack(ids)) end
return #ids
"""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _t(x: float) -> str:
    return repr(float(x))


def _reach_row(row: list[Any]) -> Reach:
    nr, ns, n, first, last, truncated = row[:6]
    if not n:
        return Reach()
    return Reach(int(nr), tuple(sorted(_decode(r) for r in row[6:])), int(ns), int(n), float(first),
                 float(last), bool(truncated))


def _stats(raw: bytes | None, cutoff: float) -> PairStats | None:
    if raw is None:
        return None
    f, ls, c, o = raw.split(b" ")
    last = float(ls)
    if last < cutoff:  # older than retention: as if purged (the key outlives it by at most a day)
        return None
    return PairStats(float(f), last, int(c), int(o))


def _meta_of(raw: bytes) -> MessageMeta:
    """A stored message value back as MessageMeta (campaign keys sorted; none in older values)."""
    head, _, body = raw.partition(b"\n")
    sender, mid, mine = json.loads(head)
    fields = json.loads(body)
    when, direction, name, verdict, score, rules, sigs, obs, rcpts = fields[:9]
    keys = fields[9] if len(fields) > 9 else []
    return MessageMeta(when=float(when), direction=direction, sender=sender,
                       recipients=tuple(mine if rcpts is None else rcpts), message_id=mid, display_name=name,
                       verdict=verdict, score=float(score), rule_ids=tuple(rules), signals=tuple(sigs),
                       observables=tuple(obs), campaign_keys=tuple(sorted(keys)))


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


# --------------------------------------------------------------------------- the store


class RedisStore:
    """The `Store` protocol on Redis. Attributes for metrics: `failures` (operations that raised
    StoreUnavailable) and `last_error` (the last such reason, no secrets)."""

    def __init__(self, url: str, retention_days: int = 400, *, prefix: str = "approach:",
                 timeout: float = 0.25) -> None:
        self.target = parse_redis_url(url)
        self.retention_days = retention_days
        self.prefix = prefix
        self.timeout = timeout
        self.failures = 0
        self.last_error = ""
        self._client: Any = None
        self._sentinel: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[str, Any] = {}

    @property
    def keep(self) -> int:
        return self.retention_days * DAY

    def __repr__(self) -> str:
        return f"RedisStore({self.target.display!r}, prefix={self.prefix!r})"

    # ------------------------------------------------------------ connection

    def _connect(self) -> Any:
        # One immediate retry, no backoff: a pooled connection the server has closed (restart,
        # idle timeout) costs one reconnect, not a failure. All of it stays inside `timeout`.
        common: dict[str, Any] = dict(socket_timeout=self.timeout, socket_connect_timeout=self.timeout,
                                      retry=Retry(NoBackoff(), 1), health_check_interval=0,
                                      protocol=2)  # RESP2: the same replies from redis-py 5 to 8
        t = self.target
        if not t.is_sentinel:
            pool = aioredis.BlockingConnectionPool.from_url(t.url, max_connections=MAX_CONNECTIONS,
                                                            timeout=self.timeout, **common)
            return aioredis.Redis(connection_pool=pool)
        from redis.asyncio.sentinel import Sentinel

        sentinel_kwargs = dict(common, password=t.sentinel_password)
        sentinel = self._sentinel = Sentinel(list(t.sentinels), sentinel_kwargs=sentinel_kwargs, **common)
        return sentinel.master_for(t.service, db=t.db, username=t.username, password=t.password,
                                   ssl=t.ssl, max_connections=MAX_CONNECTIONS, **common)

    def _current(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # first use, or a new event loop (CLI commands and tests run several): a client's
            # connections belong to the loop that opened them; the old ones are dropped.
            self._client = self._connect()
            self._loop = loop
            self._scripts = {name: self._client.register_script(src) for name, src in
                             (("write", WRITE), ("reach", REACH), ("page", PAGE_LUA),
                                                       ("rpage", REV_PAGE_LUA), ("purge", PURGE))}
        return self._client

    async def _do(self, what: str, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run one operation under `timeout`; every failure becomes StoreUnavailable at once."""
        try:
            # A connection interrupted mid-reply (timeout, cancel) is closed by redis-py and opened
            # again when next used: the pool is never left holding half a reply, and the other
            # operations in flight are not disturbed.
            async with asyncio.timeout(self.timeout):
                return await fn(self._current())
        except (TimeoutError, RedisError, OSError) as exc:
            self.failures += 1
            timed_out = isinstance(exc, (TimeoutError, RedisTimeoutError))
            reason = (f"no answer within store.timeout ({self.timeout:g} s)" if timed_out
                      else f"{type(exc).__name__}: {exc}")
            self.last_error = f"{what}: {reason}"
            raise StoreUnavailable(f"redis store {self.target.display}: {what}: {reason}") from exc

    def _script(self, name: str, args: list[Any], client: Any) -> Awaitable[Any]:
        return self._scripts[name](args=args)  # type: ignore[no-any-return]

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"

    async def _write(self, what: str, args: list[Any]) -> int:
        base = [self.prefix, _t(time.time()), self.keep, MAX_REACH_MESSAGES + REACH_SLACK]
        return int(await self._do(what, lambda c: self._scripts["write"](args=base + args)))

    # ------------------------------------------------------------ protocol

    async def record_message(self, meta: MessageMeta, local_domains: Iterable[str]) -> None:
        meta = meta.capped()
        local = tuple(local_domains)
        when = meta.when if math.isfinite(meta.when) else time.time()
        mine = local_recipients(meta, local)
        head = [meta.sender, meta.message_id, list(mine)]
        keys = list(indexed_keys(meta))
        # the 10th element (the campaign keys, for `recent`) is absent from values written before it
        body = [when, meta.direction, meta.display_name, meta.verdict,
                meta.score if math.isfinite(meta.score) else 0.0, list(meta.rule_ids), list(meta.signals),
                list(meta.observables), None if mine == meta.recipients else list(meta.recipients), keys]
        value = _json(head) + "\n" + _json(body)
        args: list[Any] = [value, _t(when), len(keys)]
        args += keys
        args += self._pair_args([(lo, ex, when, out) for lo, ex, out in pairs_of(meta, local)])
        await self._write("record_message", args)

    @staticmethod
    def _pair_args(pairs: list[tuple[str, str, float, bool]]) -> list[Any]:
        out: list[Any] = []
        items = [(cap(lo.lower()), cap(ex.lower()), w, o) for lo, ex, w, o in pairs]
        items = [(lo, ex, w, o) for lo, ex, w, o in items if lo and ex and math.isfinite(w)]
        out.append(len(items))
        for lo, ex, w, o in items:
            out += [lo, ex, ex.rsplit("@", 1)[-1], _t(w), int(o)]
        return out

    async def learn_pair(self, local: str, external: str, when: float, outbound: bool = True) -> None:
        await self._write("learn_pair", ["", "0", 0] + self._pair_args([(local, external, when, outbound)]))

    async def learn_pairs(self, pairs: Iterable[tuple[str, str, float]]) -> int:
        """Bulk form of `learn_pair` (outbound): one script call per batch `learn` passes."""
        items = [(lo, ex, w, True) for lo, ex, w in pairs]
        await self._write("learn_pairs", ["", "0", 0] + self._pair_args(items))
        return len(items)

    def _cutoff(self) -> float:
        return time.time() - self.keep

    async def seen_pair(self, sender: str, rcpt: str) -> PairStats | None:
        key, local = self._key("x", cap(sender.lower())), cap(rcpt.lower())
        if not local:
            return None
        raw = await self._do("seen_pair", lambda c: c.hget(key, local))
        return _stats(raw, self._cutoff())

    async def seen_sender_org(self, sender_or_domain: str) -> PairStats | None:
        who = cap(sender_or_domain.lower())
        if "@" in who:
            key = self._key("x", who)
            raw = await self._do("seen_sender_org", lambda c: c.hget(key, ""))
        else:
            key = self._key("d", who)
            raw = await self._do("seen_sender_org", lambda c: c.get(key))
        return _stats(raw, self._cutoff())

    async def rdap_get(self, domain: str) -> RdapRecord | None:
        name = cap(domain.lower())
        raw = await self._do("rdap_get", lambda c: c.get(self._key("r", name)))
        if raw is None:
            return None
        registered, fetched = raw.split(b" ")
        if float(fetched) < self._cutoff():
            return None
        return RdapRecord(name, float(registered) if registered else None, float(fetched))

    async def rdap_put(self, record: RdapRecord) -> None:
        name = cap(record.domain.lower())
        now = time.time()
        if not math.isfinite(record.fetched) or record.fetched < now - self.keep:
            return  # already past retention: not kept (as purge would drop it)
        value = f"{_t(record.registered) if record.registered is not None else ''} {_t(record.fetched)}"
        until = int(min(record.fetched, now) + self.keep) + 1
        await self._do("rdap_put", lambda c: c.set(self._key("r", name), value, exat=until))

    async def search_history(self, needles: Iterable[str], limit: int = 1000) -> list[HistoryHit]:
        """Oldest first, PAGE messages per round trip (each under `timeout`)."""
        wanted = [n.lower() for n in needles if n]
        if not wanted or limit <= 0:
            return []
        out: list[HistoryHit] = []
        low, offset = "-inf", 0
        while len(out) < limit:
            args: list[Any] = [self.prefix, low, offset, PAGE]
            rows = await self._do("search_history", partial(self._script, "page", args))
            for i in range(0, len(rows), 2):
                if not rows[i + 1] or len(out) >= limit:
                    continue
                head, _, body = rows[i + 1].partition(b"\n")
                sender, _mid, mine = json.loads(head)
                when, direction, name, verdict, score, rules, _sig, obs, rcpts = json.loads(body)[:9]
                rcpts = mine if rcpts is None else rcpts
                hit = hunt_match(sender, name, rcpts, obs, wanted) if direction != DECISION else None
                if hit is not None:
                    out.append(HistoryHit(when, direction, sender, tuple(rcpts), verdict, score,
                                          tuple(rules), hit[0], hit[1]))
            if len(rows) < 2 * PAGE:
                break
            last = rows[-2].decode()
            same = sum(1 for i in range(0, len(rows), 2) if rows[i].decode() == last)
            offset = offset + same if last == low else same
            low = last
        return out

    async def recent(self, since: float, limit: int = 500, min_verdict: str = "") -> list[MessageMeta]:
        """Newest first, PAGE messages per round trip (each under `timeout`), filtered here."""
        allowed = verdicts_at_least(min_verdict)
        limit = min(limit, MAX_RECENT)
        if limit <= 0:
            return []
        since = max(since, time.time() - self.keep) if math.isfinite(since) else time.time() - self.keep
        out: list[MessageMeta] = []
        high, offset, examined = "+inf", 0, 0
        while len(out) < limit and examined < MAX_RECENT_EXAMINE:
            count = min(PAGE, MAX_RECENT_EXAMINE - examined)
            args: list[Any] = [self.prefix, high, _t(since), offset, count]
            rows = await self._do("recent", partial(self._script, "rpage", args))
            examined += len(rows) // 2
            for i in range(0, len(rows), 2):
                if rows[i + 1] and len(out) < limit:
                    meta = _meta_of(rows[i + 1])
                    if meta.direction == "inbound" and (allowed is None or meta.verdict in allowed):
                        out.append(meta)
            if len(rows) < 2 * count:
                break
            last = rows[-2].decode()
            same = sum(1 for i in range(0, len(rows), 2) if rows[i].decode() == last)
            offset = offset + same if last == high else same
            high = last
        return out

    def _reach_args(self, keys: Iterable[str], since: float, exclude_message_id: str,
                    per_key: int = 0) -> list[Any] | None:
        wanted = list(cap_keys(keys))
        if not wanted:
            return None
        since = max(since, time.time() - self.keep) if math.isfinite(since) else time.time() - self.keep
        return [self.prefix, _t(since), cap(exclude_message_id),
                MAX_REACH_MESSAGES, MAX_REACH_SAMPLE, per_key or MAX_REACH_MESSAGES + REACH_SLACK] + wanted

    async def campaign_reach(self, keys: Iterable[str], since: float, exclude_message_id: str = "") -> Reach:
        args = self._reach_args(keys, since, exclude_message_id)
        if args is None:
            return Reach()
        return _reach_row(await self._do("campaign_reach", lambda c: self._scripts["reach"](args=args)))

    async def campaign_reach_many(self, queries: Sequence[ReachQuery]) -> list[Reach]:
        asked = [self._reach_args(keys, since, "", per_key) for keys, since, per_key in map(reach_query, queries)]
        todo = [a for a in asked if a is not None]
        if not todo:
            return [Reach() for _ in asked]

        async def run(c: Any) -> list[Any]:
            # plain EVALSHA in the pipeline: redis-py's Script objects would add a SCRIPT EXISTS
            # round trip to every pipeline; the script is loaded only when the server lacks it
            script = self._scripts["reach"]
            for attempt in (1, 2):
                pipe = c.pipeline(transaction=False)
                for args in todo:
                    pipe.evalsha(script.sha, 0, *args)
                out = list(await pipe.execute(raise_on_error=False))
                if attempt == 1 and any(isinstance(r, NoScriptError) for r in out):
                    script.sha = await c.script_load(script.script)
                    continue
                for r in out:
                    if isinstance(r, Exception):
                        raise r
                return out
            raise AssertionError("unreachable")
        rows = iter(await self._do("campaign_reach", run))
        return [Reach() if a is None else _reach_row(next(rows)) for a in asked]

    async def campaign_first_seen(self, keys: Iterable[str]) -> float:
        wanted = list(cap_keys(keys))
        if not wanted:
            return 0.0

        async def run(c: Any) -> list[Any]:
            pipe = c.pipeline(transaction=False)
            for key in wanted:  # each key's index keeps its earliest entry beside the newest (WRITE)
                pipe.zrange(self._key("c", key), 0, 0, withscores=True)
            return list(await pipe.execute())
        rows = await self._do("campaign_first_seen", run)
        return min((float(r[0][1]) for r in rows if r), default=0.0)

    async def sender_history(self, sender: str, rcpts: Sequence[str], domain: str = "") -> SenderHistory:
        who = cap(sender.lower())
        locals_ = [cap(r.lower()) for r in rcpts]
        dom = cap(domain.lower())
        key = self._key("x", who) if "@" in who else self._key("d", who)

        async def run(c: Any) -> list[Any]:
            pipe = c.pipeline(transaction=False)
            if "@" in who:
                pipe.hmget(key, [r or "\0" for r in locals_] + [""])
            else:  # a bare domain: no pairs to ask for
                pipe.get(key)
            if dom:
                pipe.get(self._key("d", dom))
            return list(await pipe.execute())
        out = await self._do("sender_history", run)
        cutoff = self._cutoff()
        if "@" in who:
            *pairs, org = out[0]
            pair_stats = tuple(_stats(raw, cutoff) if r else None for raw, r in zip(pairs, locals_, strict=True))
        else:
            pair_stats, org = tuple(None for _ in locals_), out[0]
        return SenderHistory(pair_stats, _stats(org, cutoff), _stats(out[1], cutoff) if dom else None)

    async def purge(self, now: float | None = None) -> int:
        """Trim the time index (and delete its messages) below now - retention, in batches.
        Everything else expires by itself; lookups ignore entries older than retention."""
        cutoff = _t((now or time.time()) - self.keep)
        removed = 0
        while True:
            n = int(await self._do("purge", lambda c: self._scripts["purge"](
                args=[self.prefix, cutoff, PURGE_BATCH])))
            removed += n
            if n < PURGE_BATCH:
                return removed

    async def ping(self) -> bool:
        """One round trip (for health checks)."""
        return bool(await self._do("ping", lambda c: c.ping()))

    async def close(self) -> None:
        client, self._client = self._client, None
        sentinel, self._sentinel = self._sentinel, None
        if client is None:
            return
        try:
            same_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            same_loop = False
        if not same_loop:
            return  # its loop is gone, and its sockets with it
        clients = [client] + (list(sentinel.sentinels) if sentinel is not None else [])
        for c in clients:
            try:
                async with asyncio.timeout(self.timeout):
                    await c.aclose()
            except (TimeoutError, RedisError, OSError):
                pass  # closing a dead connection: nothing to save

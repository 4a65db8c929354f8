"""store.url forms for the Redis backend, and the config errors a person reads when one is wrong."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, parse_config
from gateway.store.redis import RedisUrlError, parse_redis_url

BASE = """listen: 127.0.0.1:2525
upstream: {host: 127.0.0.1, port: 10026}
hostname: gw.example.org
local_domains: [example.org]
"""


@pytest.mark.parametrize("url, db", [
    ("redis://127.0.0.1:6379/0", 0),
    ("redis://redis.internal", 0),
    ("redis://user:pw@[::1]:6380/3", 3),
    ("rediss://cache.example.org:6380/1", 1),
    ("unix:///run/redis/redis-server.sock", 0),
    ("unix:///run/redis/redis-server.sock?db=4", 4),
])
def test_plain_urls(url: str, db: int) -> None:
    t = parse_redis_url(url)
    assert not t.is_sentinel and t.url == url and t.db == db


def test_sentinel_url_with_several_sentinels() -> None:
    t = parse_redis_url("redis+sentinel://10.0.0.5:26379,sentinel-b,[2001:db8::7]:26380/mymaster/2")
    assert t.is_sentinel and t.service == "mymaster" and t.db == 2 and not t.ssl
    assert t.sentinels == (("10.0.0.5", 26379), ("sentinel-b", 26379), ("2001:db8::7", 26380))
    assert (t.username, t.password, t.sentinel_password) == (None, None, None)


def test_sentinel_url_credentials_tls_and_default_db() -> None:
    t = parse_redis_url("rediss+sentinel://gw:p%40ss@h1:26379/cache?sentinel_password=s3")
    assert (t.service, t.db, t.ssl, t.username, t.password, t.sentinel_password) == \
        ("cache", 0, True, "gw", "p@ss", "s3")
    assert "p%40ss" not in t.display and "s3" not in t.display and "***" in t.display
    assert parse_redis_url("redis+sentinel://h1/cache?db=5").db == 5


@pytest.mark.parametrize("url, words", [
    ("", "is empty"),
    ("http://127.0.0.1:6379", "not a Redis URL"),
    ("127.0.0.1:6379", "not a Redis URL"),
    ("redis://", "no host"),
    ("redis://127.0.0.1:99999/0", "bad host or port"),
    ("redis://127.0.0.1:6379/x", "redis://"),
    ("unix://relative.sock", "absolute socket path"),
    ("redis+sentinel:///mymaster", "names no sentinel"),
    ("redis+sentinel://h1:26379", "names no service"),
    ("redis+sentinel://h1:26379/", "names no service"),
    ("redis+sentinel://h1:port/mymaster", "bad port"),
    ("redis+sentinel://h1:0/mymaster", "out of range"),
    ("redis+sentinel://h1/mymaster/zero", "/SERVICE and an optional /DB"),
    ("redis+sentinel://h1/mymaster/0/extra", "/SERVICE and an optional /DB"),
    ("redis+sentinel://h1/mymaster?password=x", "unknown option"),
    ("redis+sentinel://[::1/mymaster", "IPv6"),
])
def test_bad_urls_say_what_and_how_to_fix(url: str, words: str) -> None:
    with pytest.raises(RedisUrlError) as exc:
        parse_redis_url(url)
    assert words in str(exc.value) and exc.value.fix


def test_passwords_never_reach_an_error_message() -> None:
    with pytest.raises(RedisUrlError) as exc:
        parse_redis_url("redis://:hunter2@127.0.0.1:99999/0")
    assert "hunter2" not in str(exc.value)


@pytest.mark.parametrize("store, line, key, words", [
    ("store:\n  backend: redis\n", 5, "store", "backend redis needs a url"),
    ("store:\n  backend: redis\n  url: http://x\n", 7, "store.url", "not a Redis URL"),
    ("store:\n  backend: redis\n  url: redis+sentinel://h1\n", 7, "store.url", "names no service"),
    ("store:\n  backend: redis\n  url: redis://h\n  timeout: 0\n", 8, "store.timeout", "expected a number"),
    ("store:\n  backend: redis\n  url: redis://h\n  prefix: 'a b'\n", 8, "store.prefix", "printable word"),
    ("store:\n  backend: redis\n  url: redis://h\n  ttl: 3\n", 8, "store.ttl", "unknown key"),
])
def test_config_errors_name_file_line_key_and_fix(store: str, line: int, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(BASE + store, "gw.yml")
    msg = str(exc.value)
    assert msg.startswith(f"gw.yml:{line}: {key}: "), msg
    assert words in msg and ";" in msg


def test_config_accepts_every_url_form() -> None:
    for url in ("redis://127.0.0.1:6379/0", "rediss://r.example.org:6380/0", "unix:///run/redis.sock",
                "redis+sentinel://10.0.0.5:26379,10.0.0.6:26379/mymaster/0"):
        c = parse_config(BASE + f"store: {{backend: redis, url: '{url}', prefix: 'gw:', timeout: 0.5}}\n", "gw.yml")
        assert (c.store.url, c.store.prefix, c.store.timeout) == (url, "gw:", 0.5)

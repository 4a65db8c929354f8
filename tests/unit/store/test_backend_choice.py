"""`store_from_config` picks the backend the config names (no I/O at that point)."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError
from gateway.store import store_from_config
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SqliteStore
from tests.support.messages import config


def test_store_from_config_picks_backend(tmp_path):
    assert isinstance(store_from_config(config("store: {backend: memory}\n")), MemoryStore)
    s = store_from_config(config(f"store: {{path: {tmp_path / 'x.sqlite3'}, retention_days: 9}}\n"))
    assert isinstance(s, SqliteStore) and s.retention_days == 9


def test_store_from_config_gives_redis_without_connecting():
    # port 1 on loopback: nothing listens there, and nothing is asked until the first operation
    s = store_from_config(config("store: {backend: redis, url: 'redis://:secret@127.0.0.1:1/2', prefix: 'gw1:',"
                                 " timeout: 0.5, retention_days: 30}\n"))
    assert isinstance(s, RedisStore)
    assert (s.prefix, s.timeout, s.retention_days, s.target.db) == ("gw1:", 0.5, 30, 2)
    assert "secret" not in repr(s) and "secret" not in s.target.display


def test_redis_defaults():
    c = config("store: {backend: redis, url: 'redis://127.0.0.1'}\n").store
    assert (c.prefix, c.timeout) == ("approach:", 0.25)


def test_a_bad_redis_url_stops_start_up():
    with pytest.raises(ConfigError, match=r"store.url: .*not a Redis URL; write redis://"):
        config("store: {backend: redis, url: 'http://127.0.0.1:6379'}\n")

"""`Runtime.warm_up`: the built-in messages of gateway/warmup.py take the paths real mail takes,
every check runs on them without an error, the store is read but never written, the runtime is
left as it was (online, its resolver and statistics), and an unresponsive store cannot hold up
the start beyond the warm-up's budget."""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway import warmup
from gateway.checks import RunStats
from gateway.model import Client, Envelope
from gateway.parse import MessageView
from gateway.runtime import Runtime
from gateway.smtp.service import Gateway
from gateway.store.memory import MemoryStore
from gateway.store.sqlite import SqliteStore
from tests.conftest import ROOT, make_config
from tests.support.messages import config

ENV = Envelope(mail_from="w@example.net", rcpt_tos=("someone@example.org",), client=Client(ip="192.0.2.1"),
               queue_id="t")


def test_the_messages_cover_the_shapes_of_real_mail() -> None:
    views = [MessageView.parse(raw) for raw in warmup.messages()]
    assert len(views) == len(warmup.BUILDERS) >= 9
    assert all(b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"") for raw in warmup.messages())
    leaves = [part for v in views for part, _depth in v.leaf_parts]
    types = {part.get_content_type() for part in leaves}
    assert {"text/plain", "text/html", "application/pdf"} <= types
    assert any(v.header("List-Id") for v in views)
    assert any(v.header("In-Reply-To") for v in views)
    charsets = {(part.get_content_charset() or "").lower() for part in leaves}
    assert {"utf-8", "iso-8859-1"} <= charsets
    assert any(any(ord(c) > 0x3000 for c in v.body_text) for v in views)  # CJK text
    assert any(len(v.body_text) > 3000 for v in views)  # a long body
    assert any("\n> " in v.body_text and "\n> >> " in v.body_text for v in views)  # quoted twice over
    assert sum(bool(v.header("List-Id")) and bool(v.header("In-Reply-To")) for v in views) >= 1  # a list thread


def test_every_check_runs_on_every_message_without_an_error() -> None:
    async def run() -> tuple[RunStats, set[str]]:
        runtime = Runtime(config(), offline=True, store=MemoryStore())  # no history file in the checkout
        names: set[str] = set()
        for raw in warmup.messages():
            result = await runtime.analyse(raw, ENV)
            names |= {s.name for s in result.signals}
        return runtime.stats, names
    stats, names = asyncio.run(run())
    assert stats.errors == {} and stats.timeouts == {} and stats.incomplete == 0
    # the approach and the relayed persona take the claim, ask, offer and channel paths
    assert {"claim.institutional_role", "content.offchannel_mention", "context.mailing_list",
            "context.reply"} <= names


def test_warm_up_reads_the_store_writes_nothing_and_restores_the_runtime(tmp_path: Path) -> None:
    class Counting(SqliteStore):
        reads = 0

        async def sender_history(self, *args: Any, **kwargs: Any) -> Any:
            Counting.reads += 1
            return await super().sender_history(*args, **kwargs)

    async def run() -> None:
        store = Counting(tmp_path / "store.sqlite3")
        sentinel = object()
        runtime = Runtime(config(), offline=False, resolver=sentinel, store=store)
        stats = runtime.stats
        assert not runtime.warmed_up
        await runtime.warm_up()
        assert runtime.warmed_up
        assert Counting.reads >= len(warmup.BUILDERS)  # the store's read paths were taken
        assert await store.recent(0.0) == []  # and nothing was recorded
        assert await store.seen_sender_org("example.com") is None
        assert (runtime.offline, runtime.resolver, runtime.stats) == (False, sentinel, stats)
        assert stats.errors == {} and stats.incomplete == 0
        await store.close()
    asyncio.run(run())


def test_an_unresponsive_store_stops_the_warm_up_at_its_budget(caplog: pytest.LogCaptureFixture) -> None:
    class Hanging(MemoryStore):
        async def sender_history(self, *args: Any, **kwargs: Any) -> Any:
            await asyncio.Event().wait()  # never answers

    async def run() -> Runtime:
        runtime = Runtime(config(), offline=True, store=Hanging())  # analysis_timeout 20 s
        await runtime.warm_up(budget=0.2)
        return runtime
    with caplog.at_level(logging.WARNING, logger="gateway.runtime"):
        runtime = asyncio.run(run())
    assert not runtime.warmed_up
    assert "warm-up: stopped after 0.2 s" in caplog.text
    assert runtime.offline and runtime.resolver is None and runtime.stats.incomplete == 0


async def test_a_reload_swaps_in_a_runtime_that_is_already_warmed_up(tmp_path: Path) -> None:
    gw = Gateway(make_config(9, tmp_path), watch_interval=None)
    old = gw.runtime
    assert not old.warmed_up  # warm_up runs in start(), which this test does not call
    assert await gw.reload_async()
    assert gw.runtime is not old and gw.runtime.warmed_up


async def test_warm_up_store_reads_are_not_counted_in_the_admin_metrics(tmp_path: Path) -> None:
    """The store's call counts and errors an admin watches are the mail's: warming up (at start
    and on each reload) reads the store, but through the store itself, not the metered wrapper."""
    from gateway.store.observed import ObservedStore
    from tests.support.http import value

    gw = Gateway(make_config(9, tmp_path), watch_interval=None)
    assert isinstance(gw.runtime.store, ObservedStore)
    await gw.runtime.warm_up()
    assert gw.runtime.warmed_up
    assert await gw.reload_async() and gw.runtime.warmed_up
    assert isinstance(gw.runtime.store, ObservedStore)  # the running runtime is still metered
    text = gw.metrics.exposition().decode()
    assert value(text, "approach_gateway_store_seconds_count") == 0
    assert value(text, "approach_gateway_store_errors_total") == 0
    await gw.runtime.store.close()


def test_the_prose_for_the_regex_sets_ships_with_python() -> None:
    # pydoc_data is in Debian's libpython3.X-stdlib: on the machines we support, warming the sets
    # is never a silent no-op
    from pydoc_data.topics import topics

    chunks = list(warmup.prose())
    whole = len("\n".join(topics.values()))
    assert sum(map(len, chunks)) == min(whole, warmup.PROSE_CHARS) > 400_000  # all of it
    assert all(0 < len(c) <= warmup.PROSE_CHUNK for c in chunks)
    assert sum(c.count(" the ") for c in chunks) > 1000  # English prose, not code or markup


def test_warm_up_feeds_the_prose_to_the_regex_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.runtime as runtime_module

    fed: list[str] = []
    monkeypatch.setattr(runtime_module, "warm_sets", fed.append)
    runtime = Runtime(config(), offline=True, store=MemoryStore())
    asyncio.run(runtime.warm_up())
    assert runtime.warmed_up
    assert fed == list(warmup.prose()) + list(warmup.licences()) + list(warmup.system_docs())


def test_warm_up_imports_the_codecs_of_the_common_charsets_ahead() -> None:
    """Python imports a codec's module on the first lookup of its name: without the warm-up's
    lookups the first us-ascii part after start imported encodings/ascii.py inside its analysis.
    In a fresh interpreter, every codec module of `warmup.CHARSETS` is loaded once the warm-up is
    done, and encodings.ascii (the most declared charset) was not loaded before it."""
    modules = sorted({codecs.lookup(label).incrementalencoder.__module__ for label in warmup.CHARSETS})
    assert "encodings.ascii" in modules
    code = ("import asyncio, sys\n"
            "from gateway.runtime import Runtime\n"
            "from gateway.store.memory import MemoryStore\n"
            "from tests.support.messages import config\n"
            f"modules = {modules!r}\n"
            "runtime = Runtime(config(), offline=True, store=MemoryStore())\n"
            "before = [m for m in modules if m in sys.modules]\n"
            "asyncio.run(runtime.warm_up())\n"
            "print(runtime.warmed_up, 'encodings.ascii' in before, [m for m in modules if m not in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.stdout.split() == ["True", "False", "[]"], done.stdout + done.stderr


def test_the_licences_are_read_once_each_in_pieces_and_bounded(tmp_path: Path) -> None:
    (tmp_path / "B").write_text("you may " * 500)  # 4,000 characters
    (tmp_path / "A").write_text("if you " * 100)
    (tmp_path / "A-link").symlink_to(tmp_path / "A")  # Debian's GPL -> GPL-3: read once
    (tmp_path / "dir").mkdir()
    chunks = list(warmup.licences(tmp_path, limit=10_000, chunk=1_000))
    assert "".join(chunks) == "if you " * 100 + "you may " * 500
    assert all(0 < len(c) <= 1_000 for c in chunks)
    assert "".join(warmup.licences(tmp_path, limit=1_000)) == ("if you " * 100 + "you may " * 500)[:1_000]
    assert list(warmup.licences(tmp_path / "missing")) == []


def test_the_licences_ship_with_debian() -> None:
    # base-files is Essential on Debian, the system we support: warming with them is no no-op there
    text = "".join(warmup.licences())
    assert 100_000 < len(text) <= warmup.LICENCE_CHARS
    assert text.count(" you ") > 300  # written to a reader, as mail is (~400)


def test_the_system_docs_are_read_bounded_once_each_and_never_fail(tmp_path: Path) -> None:
    import os

    def package(name: str, data: bytes) -> Path:
        (tmp_path / name).mkdir()
        (tmp_path / name / "copyright").write_bytes(data)
        return tmp_path / name / "copyright"

    package("b", b"Permission is hereby granted " * 1_000)  # 29,000 bytes: only its first 3,000 read
    package("a", b"Copyright: 2009 Ren\xe9e <r@example.org>\n")  # Latin-1, not UTF-8
    (tmp_path / "a-dev").symlink_to(tmp_path / "a")  # Debian's -dev -> library folder: read once
    (tmp_path / "c").mkdir()  # no copyright file
    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "d" / "copyright")  # never opened for reading: it would block
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "copyright").mkdir()
    package("f", b"if you " * 100)
    first_b = ("Permission is hereby granted " * 1_000)[:3_000]
    chunks = list(warmup.system_docs(tmp_path, chunk=1_000))
    assert "".join(chunks) == "Copyright: 2009 Ren\ufffde <r@example.org>\n" + first_b + "if you " * 100
    assert all(0 < len(c) <= 1_000 for c in chunks)
    assert "".join(warmup.system_docs(tmp_path, limit=2_000)) == ("Copyright: 2009 Ren\ufffde <r@example.org>\n"
                                                                  + first_b)[:2_000]
    assert "".join(warmup.system_docs(tmp_path, per_file=10)) == "Copyright:" + "Permission" + "if you if "
    assert "".join(warmup.system_docs(tmp_path, files=2)) == "Copyright: 2009 Ren\ufffde <r@example.org>\n"
    assert list(warmup.system_docs(tmp_path / "missing")) == []
    (tmp_path / "plain").write_text("x")
    assert list(warmup.system_docs(tmp_path / "plain")) == []  # not a folder


def test_the_system_docs_ship_with_debian() -> None:
    # every Debian package installs /usr/share/doc/<package>/copyright, kept even in trimmed images
    text = "".join(warmup.system_docs())
    assert 100_000 < len(text) <= warmup.SYSTEM_DOC_CHARS
    assert text.count("Copyright") > 100 and text.count(" the ") > 300


def test_warm_up_looks_up_the_common_domains_ahead_with_the_checks_own_answers() -> None:
    from gateway.checks.sender import Lookalikes
    from gateway.domains import registered_domain

    runtime = Runtime(config(), offline=True, store=MemoryStore())
    shared = runtime.shared.get(Lookalikes)  # the sender and link checks' one index
    assert not shared._memo
    asyncio.run(runtime.warm_up())
    assert runtime.warmed_up
    fresh = Lookalikes(runtime.config, runtime.data)
    memo = shared._memo
    for domain in warmup.COMMON_DOMAINS:
        assert registered_domain(domain) in memo
        assert memo[registered_domain(domain)] == fresh._find(registered_domain(domain))
    # the list holds domains for the search's whole path, not only the listed ones it stops at
    assert any(not runtime.data.is_freemail(d) and runtime.data.org_owning(d) is None
               for d in warmup.COMMON_DOMAINS)


def test_the_seen_domains_are_the_senders_most_frequent_first_bounded_and_sane() -> None:
    senders = ["a@Lists.Quarterly.test", "b@lists.quarterly.test.", "c@b.test", "d@b.test", "e@b.test",
               "no-at-sign", "f@", "g@bad name.test", "h@ctl\x00.test", "i@" + "x" * 254, "j@a.test"]
    assert warmup.seen_domains(senders) == ["b.test", "lists.quarterly.test", "a.test"]
    assert warmup.seen_domains(senders, limit=2) == ["b.test", "lists.quarterly.test"]
    assert warmup.seen_domains([]) == []


def _recorded(*senders: str) -> MemoryStore:
    import time

    from gateway.store import MessageMeta

    store = MemoryStore()
    for k, sender in enumerate(senders):
        meta = MessageMeta(when=time.time() - k, direction="inbound", sender=sender, recipients=("sam@example.org",),
                           message_id=f"<m{k}@x>")
        asyncio.run(store.record_message(meta, ("example.org",)))
    return store


def test_warm_up_looks_up_the_domains_of_the_mail_the_store_remembers() -> None:
    # what the tenth message after start had over the first (benchmarks/first_message.py, callgrind
    # first against tenth): the look-alike search of the list domain its predecessors came from
    from gateway.checks.sender import Lookalikes

    store = _recorded("ilug-admin@lists.quarterly-review.test", "someone@mail.quarterly-review.test",
                      "x@other-correspondent.test")
    runtime = Runtime(config(), offline=True, store=store)
    asyncio.run(runtime.warm_up())
    assert runtime.warmed_up
    memo = runtime.shared.get(Lookalikes)._memo
    fresh = Lookalikes(runtime.config, runtime.data)
    for reg in ("quarterly-review.test", "other-correspondent.test"):
        assert reg in memo and memo[reg] == fresh._find(reg)
    assert asyncio.run(store.recent(0.0)) and len(store.entries) == 3  # read, nothing written
    empty = Runtime(config(), offline=True, store=MemoryStore())
    asyncio.run(empty.warm_up())  # not from the built-in messages or the common domains
    assert empty.warmed_up and "quarterly-review.test" not in empty.shared.get(Lookalikes)._memo


def test_a_store_outage_leaves_out_only_the_seen_domains(caplog: pytest.LogCaptureFixture) -> None:
    from gateway.store import StoreUnavailable

    class Down(MemoryStore):
        async def recent(self, *args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailable("down")

    runtime = Runtime(config(), offline=True, store=Down())
    with caplog.at_level(logging.INFO, logger="gateway.runtime"):
        asyncio.run(runtime.warm_up())
    assert runtime.warmed_up
    assert "senders' domains are not looked up ahead" in caplog.text and "Traceback" not in caplog.text

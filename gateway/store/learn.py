"""`learn`: import known correspondents from an organisation's sent mail (mbox or Maildir).

Purpose: first contact is only meaningful when the store knows who the organisation already
writes to. Every message sent BY a `local_domains` address teaches the store that its outside
recipients (To, Cc, Bcc) are known correspondents of that user -- and so of the organisation.
Only headers are read; nothing of the bodies is kept.

Untrusted input: the mailbox files (the organisation's own mail, but possibly malformed): parsed
header-only with the stdlib, bad messages skipped and counted.
"""

from __future__ import annotations

import asyncio
import mailbox
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from gateway.parse import addresses, from_identity, raw_text
from gateway.store import MessageMeta, Store
from gateway.store.record import automatic, with_sent_keys

BATCH = 500
# sent messages recorded at once: at most the Redis store's connections per process (redis.py
# MAX_CONNECTIONS), so that none waits for a connection against store.timeout
CONCURRENT = 32


@dataclass
class LearnStats:
    messages: int = 0
    sent_by_local: int = 0
    pairs: int = 0
    skipped: int = 0


def _is_maildir(path: Path) -> bool:
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


def iter_messages(path: Path) -> Iterator[Message]:
    """Header-only messages of an mbox file, a Maildir, or a folder of either (recursively)."""
    parser = BytesHeaderParser()
    if _is_maildir(path):
        for sub in ("cur", "new"):
            for f in sorted((path / sub).iterdir()):
                if f.is_file():
                    with f.open("rb") as fh:
                        yield parser.parse(fh)
        return
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.name not in ("tmp",):
                yield from iter_messages(child)
        return
    box = mailbox.mbox(str(path), factory=None, create=False)
    try:
        for key in box.iterkeys():
            with box.get_file(key) as fh:
                yield parser.parse(fh)  # type: ignore[arg-type]
    finally:
        box.close()


def sent_pairs(msg: Message, local_domains: Iterable[str]) -> list[tuple[str, str, float]]:
    """(local sender, outside recipient, when) for a message sent by a local address (none for an
    automatic one: `gateway.store.record.automatic`)."""
    local = {d.lower() for d in local_domains}
    sender = from_identity([raw_text(v) for v in msg.get_all("From", [])]).address
    if "@" not in sender or sender.rsplit("@", 1)[1] not in local:
        return []
    if automatic(msg.get):
        return []  # an automatic answer (RFC 3834) is not the organisation writing back
    try:
        when = parsedate_to_datetime(str(msg.get("Date", ""))).timestamp()
    except (TypeError, ValueError, IndexError):
        when = time.time()
    fields = [raw_text(v) for h in ("To", "Cc", "Bcc") for v in msg.get_all(h, [])]
    rcpts = {a for a in addresses(fields) if "@" in a}
    return [(sender, r, when) for r in sorted(rcpts) if r.rsplit("@", 1)[1] not in local]


def sent_meta(msg: Message, pairs: list[tuple[str, str, float]], local_domains: Iterable[str]) -> MessageMeta | None:
    """The message (with `pairs`, its `sent_pairs`) as serve remembers an outbound message
    (`with_sent_keys`: its ID per outside recipient, for the first MAX_SENT_RECIPIENTS, so that a
    reply to it is known as one), when it has a Message-ID; `record_message` keeps the pairs of
    its first MAX_ITEMS recipients (`MessageMeta.capped`), `learn` the others in bulk."""
    mid = raw_text(msg.get("Message-ID", "") or "").strip()
    if not pairs or not mid:
        return None
    meta = with_sent_keys(MessageMeta(when=pairs[0][2], direction="outbound", sender=pairs[0][0],
                                      recipients=tuple(ext for _, ext, _ in pairs), message_id=mid), local_domains)
    return meta if meta.campaign_keys else None


async def learn(store: Store, paths: Iterable[Path], local_domains: Iterable[str]) -> LearnStats:
    """Read the mailboxes (in a worker thread) and record every outbound pair in the store: a
    message with a Message-ID as a message (`sent_meta`: its pairs and its ID), the others' pairs
    (and a message's pairs past those its record keeps) in bulk."""
    stats = LearnStats()
    local = tuple(local_domains)

    def collect(path: Path) -> tuple[list[tuple[str, str, float]], list[MessageMeta]]:
        found: list[tuple[str, str, float]] = []
        metas: list[MessageMeta] = []
        for msg in iter_messages(path):
            stats.messages += 1
            try:
                pairs = sent_pairs(msg, local)
                meta = sent_meta(msg, pairs, local)
            except Exception:  # noqa: BLE001 - one malformed message must not stop the import
                stats.skipped += 1
                continue
            if pairs:
                stats.sent_by_local += 1
                stats.pairs += len(pairs)
                if meta is not None:
                    metas.append(meta)
                    found.extend(pairs[len(meta.capped().recipients):])  # those the record does not keep
                else:
                    found.extend(pairs)
        return found, metas

    for path in paths:
        pairs, metas = await asyncio.to_thread(collect, path)
        for i in range(0, len(metas), CONCURRENT):  # SQLite commits them in groups; Redis within its pool
            await asyncio.gather(*(store.record_message(m, local) for m in metas[i:i + CONCURRENT]))
        bulk = getattr(store, "learn_pairs", None)
        for i in range(0, len(pairs), BATCH):
            chunk = pairs[i:i + BATCH]
            if bulk is not None:
                await bulk(chunk)
            else:
                for local_addr, external, when in chunk:
                    await store.learn_pair(local_addr, external, when, True)
    return stats

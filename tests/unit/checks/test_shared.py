"""Shared state (`Shared`, `uses`, `ctx.shared`): prepared state several checks read is built
once per runtime, before any message, reached through the context, rebuilt on reload, and a
kind no check declared is refused by the runtime's state."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace

import pytest

from gateway.checks import Check, CheckContext, CheckError, Shared, SharedState, signal
from gateway.checks.links import LinkCheck
from gateway.checks.sender import Lookalikes, SenderCheck
from gateway.config import Config
from gateway.domains import Domains
from gateway.model import Client, Envelope, Signal
from gateway.parse import MessageView
from gateway.refdata import ReferenceData
from gateway.runtime import Runtime
from gateway.store.memory import MemoryStore
from tests.support.messages import config, message, names, one, run


def test_the_sender_and_link_checks_read_the_runtimes_one_index() -> None:
    runtime = Runtime(config(), offline=True, store=MemoryStore())
    users = [c for c in runtime.checks if Lookalikes in c.uses]
    assert {type(c) for c in users} == {SenderCheck, LinkCheck}
    assert len([s for s in runtime.shared if isinstance(s, Lookalikes)]) == 1  # built once, not once per check
    index = runtime.shared.get(Lookalikes)
    searched: list[str] = []
    search = index._search

    def counted(reg: str, label: str) -> Signal | None:  # the real search, counted
        searched.append(reg)
        return search(reg, label)

    index._search = counted  # type: ignore[method-assign]
    raw = message("A <a@policy-forum.test>", "The draft: https://docs.g00gle.com/d/1x",
                  headers={"Reply-To": "a@g00gle.com"})
    result = asyncio.run(runtime.analyse(raw, Envelope("a@policy-forum.test", ("d@example.org",), Client())))
    # the reply-to domain and the link's host are one registered domain: both checks found the
    # look-alike, and it was searched for once
    sender = one(list(result.signals), "sender.lookalike_domain").evidence
    link = one(list(result.signals), "content.link_lookalike").evidence
    assert (sender["where"], sender["target"], link["target"]) == ("reply_to", "google.com", "google.com")
    assert searched.count("g00gle.com") == 1
    # a host only a link names is looked up in the same index
    raw = message("A <a@policy-forum.test>", "Sign in: https://login.micros0ft.com/x")
    result = asyncio.run(runtime.analyse(raw, Envelope("a@policy-forum.test", ("d@example.org",), Client())))
    assert one(list(result.signals), "content.link_lookalike").evidence["organisation"] == "Microsoft"
    assert "micros0ft.com" in searched and index._memo["micros0ft.com"] is not None
    assert runtime.shared.get(Lookalikes) is index


def test_a_reload_builds_new_shared_state_with_the_same_answers() -> None:
    runtime = Runtime(config(), offline=True, store=MemoryStore())
    old = runtime.shared.get(Lookalikes)
    new_runtime = runtime.rebuild()
    new = new_runtime.shared.get(Lookalikes)
    assert new is not old and not new._memo
    for domain in ("g00gle.com", "examp1e.org", "ibm-research-centre.com", "gmail.com", "policy-forum.test"):
        assert new.find(domain) == old.find(domain), domain
    # a changed configuration reaches the rebuilt index (our own domains are protected targets)
    changed = runtime.rebuild(replace(runtime.config, local_domains=("example.org", "policy-forum.test")))
    found = changed.shared.get(Lookalikes).find("po1icy-forum.test")
    assert found is not None and found.evidence["organisation"] == "local domain"
    assert old.find("po1icy-forum.test") is None


class Vowels(Shared):
    """A kind of shared state for the tests: built once, from the config."""

    built = 0

    def __init__(self, cfg: Config, data: ReferenceData) -> None:
        Vowels.built += 1
        self.ours = frozenset(cfg.local_domains)


class UsesVowels(Check):
    name = "uses_vowels"
    signals = (signal("test.ours", "the sender is ours", domain=str),)
    uses = (Vowels,)
    io = False

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        d = ctx.view.from_domain
        return [Signal("test.ours", {"domain": d})] if d in ctx.shared(Vowels).ours else []


class AlsoUsesVowels(UsesVowels):
    name = "also_uses_vowels"


class ForgetsToDeclare(UsesVowels):
    name = "forgets"
    uses = ()


def test_a_kind_two_checks_declare_is_built_once_when_the_runtime_is() -> None:
    Vowels.built = 0
    runtime = Runtime(config(), checks=[UsesVowels(), AlsoUsesVowels()], offline=True, store=MemoryStore())
    assert Vowels.built == 1 and len(runtime.shared) == 1
    asyncio.run(runtime.signals(message("A <a@example.org>"), Envelope("", (), Client())))
    assert Vowels.built == 1


def test_a_kind_nobody_declared_is_a_check_error_not_a_lazy_build() -> None:
    sig, _ = run([ForgetsToDeclare()], message("A <a@example.org>"))
    assert one(sig, "check.error").evidence == {"check": "forgets", "error": "CheckError"}
    state = SharedState.for_checks(config(), ReferenceData(), [UsesVowels()])
    with pytest.raises(CheckError, match="uses"):
        state.get(Lookalikes)


def test_a_context_made_outside_a_runtime_builds_what_it_is_asked_for() -> None:
    cfg = config()
    ctx = CheckContext(view=MessageView.parse(message("A <a@example.org>")), envelope=Envelope("", (), Client()),
                       config=cfg, data=ReferenceData(), domains=Domains(cfg.local_domains))
    out = asyncio.run(UsesVowels().run(ctx))
    assert names(list(out)) == {"test.ours"}
    assert ctx.shared(Vowels) is ctx.shared(Vowels)

"""The engine skips a rule whose condition cannot hold without signals the message lacks
(`false_without`): verdict, score and hits must be those of testing every rule."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.checks import signal_specs
from gateway.model import Client, Envelope, Signal
from gateway.parse import MessageView
from gateway.policy import load_policies
from gateway.policy.conditions import AllOf, AnyOf, AtLeast, FieldCond, Not, SignalCond, false_without
from gateway.policy.engine import PolicySet
from tests.support.messages import message

ROOT = Path(__file__).resolve().parents[3]
POLICIES = load_policies([str(ROOT / "policies")])
SPECS = signal_specs()
NAMES = sorted({r.name for r in POLICIES.signal_refs if r.name in SPECS} | {"sender.freemail", "pretext.summary"})
VIEW = MessageView.parse(message("Ann Example <ann@mail.example>", "Hello, could we talk about your research?"))
ENV = Envelope("ann@mail.example", ("d.prof@example.ac.uk",), Client(ip="192.0.2.1"))
VALUES = {str: st.sampled_from(["", "x", "gmail.com", "Ministry of Unification", "honorarium", "body", "persona"]),
          int: st.integers(0, 12), float: st.floats(0, 200), bool: st.booleans()}


def every_rule(policies: PolicySet) -> PolicySet:
    """The same policies with the shortcut off: every rule tested."""
    plain = PolicySet(**{f: getattr(policies, f) for f in policies.__dataclass_fields__})
    plain.__dict__["_triggers"] = (None,) * len(plain.rules)
    return plain


EVERY = every_rule(POLICIES)


@st.composite
def signals(draw: st.DrawFn) -> list[Signal]:
    out = []
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=12)):
        spec = SPECS[name][0]
        out.append(Signal(name, {k: draw(VALUES[t]) for k, t in spec.evidence.items() if draw(st.booleans())}))
    return out


def test_every_shipped_rule_has_a_shortcut() -> None:
    assert all(t is not None for t in POLICIES._triggers)


@settings(max_examples=400, deadline=None)
@given(signals())
def test_the_same_decision_as_testing_every_rule(sigs: list[Signal]) -> None:
    assert POLICIES.evaluate(sigs, VIEW, ENV) == EVERY.evaluate(sigs, VIEW, ENV)


def test_the_rules_of_the_evaluation_set_fire_the_same() -> None:
    fired = 0
    for name in NAMES:
        sigs = [Signal(name, {}), Signal("sender.freemail", {"domain": "gmail.com"})]
        want = EVERY.evaluate(sigs, VIEW, ENV)
        assert POLICIES.evaluate(sigs, VIEW, ENV) == want
        fired += bool(want.hits)
    assert fired > 5


def test_what_makes_a_condition_false() -> None:
    a, b = SignalCond("a.x", False), SignalCond("b.", True)
    field = FieldCond("subject", ())
    assert false_without(AllOf([a, field])) == {("a.x", False)}
    assert false_without(AllOf([field, a])) is None  # the field is read first: not skipped
    assert false_without(AnyOf([a, b])) == {("a.x", False), ("b.", True)}
    assert false_without(AnyOf([a, field])) is None
    assert false_without(Not(a)) is None
    assert false_without(AtLeast(1, [a, b])) == {("a.x", False), ("b.", True)}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*NAMES, "content.offchannel_phone", "content.offchannel_", "content.offchannel",
                                 "spf.fail", "unknown.signal", "sender."]), max_size=15))
def test_the_rules_tested_are_those_any_present_keeps(names: list[str]) -> None:
    """`_candidates` (the per-policy-set index of triggers) picks, in order, exactly the rules the
    per-rule test `any_present` picks, prefix triggers included."""
    from gateway.policy.conditions import MessageContext, any_present

    ctx = MessageContext([Signal(n, {}) for n in names], VIEW, ENV, None, POLICIES.groups_of)
    want = [i for i, t in enumerate(POLICIES._triggers) if t is None or any_present(t, ctx)]
    assert POLICIES._candidates(ctx.by_name) == want
    assert EVERY._candidates(ctx.by_name) == list(range(len(EVERY.rules)))

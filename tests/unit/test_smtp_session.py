"""gateway/smtp/session.py and GatewaySMTP.reset_transaction: one reset leaves nothing of a mail
transaction behind, whatever fields the state grows (tests/integration/test_serve_transaction_reset.py
drives the same over a socket)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import pytest
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session

from gateway.smtp.server import GatewaySMTP
from gateway.smtp.session import GatewaySession, Transaction

# What GatewaySession adds to aiosmtpd's Session, and why each lives as long as it does. A new
# attribute must be added here after deciding: per transaction -> a field of Transaction instead.
SESSION_STATE = {
    "tx": "the transaction itself (replaced whole at every reset)",
    "xforward": "set between transactions, for the next one; cleared when a transaction ends",
}


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def smtp_with_session(loop: asyncio.AbstractEventLoop) -> GatewaySMTP:
    """The protocol object as far as the reset needs it (no listener, no config)."""
    smtp = GatewaySMTP.__new__(GatewaySMTP)
    smtp.session = GatewaySession(loop)
    smtp.envelope = smtp._create_envelope()
    return smtp


def fill(smtp: GatewaySMTP) -> object:
    """Put a marker in every field of the transaction's state (the envelope's and ours)."""
    marker = object()
    assert smtp.session is not None and smtp.envelope is not None
    for f in dataclasses.fields(Transaction):
        setattr(smtp.session.tx, f.name, marker)
    for name in vars(smtp.envelope):
        setattr(smtp.envelope, name, marker)
    return marker


def assert_fresh(smtp: GatewaySMTP, marker: object) -> None:
    assert smtp.session is not None and smtp.envelope is not None
    fresh = Transaction()
    for f in dataclasses.fields(Transaction):
        assert getattr(smtp.session.tx, f.name) is not marker, f"Transaction.{f.name} survives the reset"
        assert getattr(smtp.session.tx, f.name) == getattr(fresh, f.name), f.name
    assert vars(smtp.envelope) == vars(SmtpEnvelope()), "the envelope survives the reset"


def test_reset_transaction_leaves_nothing_of_any_field(loop: asyncio.AbstractEventLoop) -> None:
    smtp = smtp_with_session(loop)
    marker = fill(smtp)
    smtp.reset_transaction()
    assert_fresh(smtp, marker)


def test_end_of_transaction_resets_it_and_forgets_xforward(loop: asyncio.AbstractEventLoop) -> None:
    """aiosmtpd's own reset (after DATA; RSET, HELO, EHLO and STARTTLS through _set_rset_state)."""
    smtp = smtp_with_session(loop)
    assert smtp.session is not None
    smtp.session.xforward = {"ADDR": "192.0.2.1"}
    marker = fill(smtp)
    smtp._set_rset_state()  # type: ignore[no-untyped-call]  # aiosmtpd's, unannotated
    assert_fresh(smtp, marker)
    assert smtp.session.xforward == {}


def test_reset_at_mail_keeps_the_xforward_given_for_it(loop: asyncio.AbstractEventLoop) -> None:
    smtp = smtp_with_session(loop)
    assert smtp.session is not None
    smtp.session.xforward = {"ADDR": "192.0.2.1"}
    smtp.reset_transaction()
    assert smtp.session.xforward == {"ADDR": "192.0.2.1"}


def test_transaction_state_is_declared_not_added() -> None:
    """Slots: no attribute can be added to a Transaction on the fly (and so escape the reset)."""
    tx = Transaction()
    with pytest.raises(AttributeError):
        tx.recipients = 3  # type: ignore[attr-defined]


def test_session_state_beyond_aiosmtpd_is_accounted_for(loop: asyncio.AbstractEventLoop) -> None:
    added = set(vars(GatewaySession(loop))) - set(vars(Session(loop)))
    assert added == set(SESSION_STATE), "decide the lifetime of the new session attribute (see SESSION_STATE)"


def test_the_session_hook_makes_a_gateway_session(loop: asyncio.AbstractEventLoop) -> None:
    smtp = GatewaySMTP.__new__(GatewaySMTP)
    smtp.loop = loop
    session = smtp._create_session()
    assert isinstance(session, GatewaySession) and session.tx == Transaction() and session.xforward == {}
    session.peer = ("192.0.2.7", 2525)  # type: ignore[assignment]  # aiosmtpd's annotation says str
    assert session.peer_ip == "192.0.2.7"

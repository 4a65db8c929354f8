"""The shipped pretext policy on signal combinations (no message needed)."""

from __future__ import annotations

from gateway.model import Signal
from gateway.policy import load_policies
from tests.conftest import ROOT


def _hits(*names: str) -> set[str]:
    policies = load_policies([str(ROOT / "policies")])
    return {h.rule_id for h in policies.evaluate([Signal(n) for n in names]).hits}


def test_a_from_address_its_own_domain_does_not_authenticate_is_an_untrusted_identity() -> None:
    """Kimsuky spoofs p=none domains (FBI/NSA/State advisory, May 2024): DMARC fails with any
    policy, outside a list and without ARC, and the stranger asks for an interview."""
    spoof = ("dmarc.fail", "spf.fail", "ask.interview", "sender.first_contact_org")
    assert "unbacked-claim-with-an-ask" in _hits(*spoof)
    assert "unbacked-claim-with-an-ask" not in _hits(*spoof, "context.mailing_list")  # lists break DKIM
    assert "unbacked-claim-with-an-ask" not in _hits(*spoof, "arc.pass")  # forwarded, vouched for
    assert "unbacked-claim-with-an-ask" not in _hits("dmarc.pass", "ask.interview", "sender.first_contact_org")

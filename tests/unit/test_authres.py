

def test_dmarc_policy_from_the_receivers_comment_or_action() -> None:
    """OpenDMARC and Gmail write the policy in a comment, Microsoft as action=: both are read
    when policy.dmarc is absent, so a trusted border's 'p=reject' failure is recognised."""
    from gateway.authres import parse_authres

    def policy(value: str) -> str:
        parsed = parse_authres(value)
        assert parsed is not None
        return next(r.props.get("policy.dmarc", "") for r in parsed.results if r.method == "dmarc")

    assert policy("mx.example.org; dmarc=fail (p=REJECT sp=REJECT dis=NONE) header.from=brand.example") == "reject"
    assert policy("mx.example.org; dmarc=fail action=oreject header.from=brand.example") == "reject"
    assert policy("mx.example.org; dmarc=fail (p=quarantine dis=quarantine) header.from=b.example") == "quarantine"
    assert policy("mx.example.org; dmarc=fail policy.dmarc=none (p=reject) header.from=b.example") == "none"

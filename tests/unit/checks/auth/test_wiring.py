from __future__ import annotations

from gateway.checks.auth import AuthCheck
from gateway.dns import Resolver
from gateway.policy import load_policies
from gateway.runtime import Runtime
from tests.conftest import ROOT, make_config


def test_runtime_runs_auth_and_creates_the_shared_resolver(tmp_path):
    config = make_config(1, tmp_path, 'dns: {nameservers: ["127.0.0.1:5353"], timeout: 0.5}')
    online = Runtime(config)
    assert any(isinstance(c, AuthCheck) for c in online.checks)
    assert isinstance(online.resolver, Resolver) and online.resolver.nameservers == (("127.0.0.1", 5353),)
    assert Runtime(config, offline=True).resolver is None


def test_shipped_auth_policy_loads_and_scores_dmarc_reject_failure_at_caution_level():
    from gateway.model import Signal, Verdict
    policies = load_policies([str(ROOT / "policies")])
    decision = policies.evaluate([Signal("dmarc.fail"), Signal("dmarc.fail_reject_policy"), Signal("spf.fail")])
    assert [h.rule_id for h in decision.hits] == ["dmarc-fail-reject"]
    assert decision.verdict == Verdict.CAUTION
    forwarded = policies.evaluate([Signal("dmarc.fail_reject_policy"), Signal("arc.pass"),
                                   Signal("arc.trusted_pass", {"sealer": "google.com"})])
    assert [h.rule_id for h in forwarded.hits] == ["dmarc-fail-reject-arc"]
    assert forwarded.verdict == Verdict.CLEAN
    assert "google.com forwarded it" in forwarded.hits[0].reason
    # a chain alone vouches for nothing: anyone can seal their own forgery (review33c #1)
    sealed = policies.evaluate([Signal("dmarc.fail_reject_policy"), Signal("arc.pass")])
    assert [h.rule_id for h in sealed.hits] == ["dmarc-fail-reject"]


def test_auth_worker_threads_belong_to_the_runtime_and_survive_a_reload(tmp_path):
    """No module-level pools: the runtime owns dkimpy's worker threads, a rebuilt runtime (SIGHUP)
    shares them, so a message in flight on the old one never meets a shut-down pool, and closing
    the runtime shuts them down."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import gateway.checks.auth.keys as keys

    assert not [n for n, v in vars(keys).items() if isinstance(v, ThreadPoolExecutor)
                or (isinstance(v, dict) and n.startswith("_") and not n.startswith("__"))]
    config = make_config(1, tmp_path)
    rt = Runtime(config, offline=True)
    again = rt.rebuild()
    assert again.auth_pools is rt.auth_pools and again.big is rt.big
    used = asyncio.run(rt.auth_pools.run(lambda: __import__("threading").current_thread().name))
    assert used.startswith("auth-small")
    assert asyncio.run(rt.auth_pools.run(len, b"x" * (keys.BULK_BYTES + 1), size=keys.BULK_BYTES + 1)) > 0
    asyncio.run(again.close())
    assert rt.auth_pools.small._shutdown and rt.auth_pools.bulk._shutdown and rt.big._shutdown

"""Pretext policies: YAML rules over signals -> score -> verdict.

Purpose: weights and thresholds live here, in admin-edited YAML, never in checks (STYLE.md).
This module is the stable entry point (`load_policies`, `PolicySet.evaluate`); the language
itself lives in `gateway.policy.engine`.

Untrusted input: signals and the message view (stranger's data) are only matched, never executed;
policy files are admin input validated with file:line errors.
"""

from __future__ import annotations

from gateway.policy.engine import PolicyError, PolicySet, load_policies

__all__ = ["PolicyError", "PolicySet", "load_policies"]

"""The banner over real mail (../shared/corpora): no exception, output parses, non-text parts
byte-identical, headers untouched. Set APPROACH_CORPORA to the corpora folder when running from
a checkout that is not next to `shared/`."""

from __future__ import annotations

import email.policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from gateway.act.banner import HTML_MARKER, insert_banner
from gateway.parse import normalize_newlines
from tests.support.corpora import corpora_dir
from tests.unit.act.test_banner import BANNER

ROOT = corpora_dir()
SAMPLE_EVERY = 8


def _sample() -> list[Path]:
    if ROOT is None:
        return []
    files = sorted((ROOT / "ham" / "spamassassin").glob("*/*")) + \
        sorted((ROOT / "phish" / "phishing_pot").glob("*.eml"))
    return files[::SAMPLE_EVERY]


def test_banner_over_real_mail() -> None:
    files = _sample()
    if not files:
        pytest.skip("corpora not found at ../shared/corpora (or $APPROACH_CORPORA)")
    changed = 0
    for path in files:
        raw = normalize_newlines(path.read_bytes())
        out = insert_banner(raw, BANNER)  # must not raise
        changed += out != raw
        before = BytesParser(policy=email.policy.compat32).parsebytes(raw)
        after = BytesParser(policy=email.policy.compat32).parsebytes(out)
        assert after.items() == before.items(), path
        old = [p for p in before.walk() if not p.is_multipart()]
        new = [p for p in after.walk() if not p.is_multipart()]
        assert len(old) == len(new), path
        for o, n in zip(old, new, strict=True):
            assert n.items() == o.items(), path
            if o.get_content_maintype() != "text" or o.get_filename():
                assert n.get_payload() == o.get_payload(), path
        if out != raw:
            for part in BytesParser(policy=email.policy.default).parsebytes(out).walk():
                if part.get_content_type() == "text/html" and not part.get_filename():
                    assert part.get_content().count(HTML_MARKER) <= 1, path
    print(f"banner corpus: {len(files)} messages, {changed} with a banner")
    assert changed > len(files) * 0.8  # real mail is mostly bannerable; a regression shows here

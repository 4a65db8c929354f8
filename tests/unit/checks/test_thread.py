from __future__ import annotations

import pytest

from gateway.checks.thread import ThreadCheck
from tests.support.messages import message, names, one, run


@pytest.mark.parametrize(("subject", "prefix"), [("Re: our conversation in Vienna", "Re"), ("RE: follow-up", "RE"),
                                               ("AW: Ihr Vortrag", "AW"), ("Sv: invitation", "Sv"),
                                               ("Re[2]: paper", "Re"), ("  re:the draft", "re")])
def test_reply_prefix_without_threading_headers(subject: str, prefix: str) -> None:
    sig, _ = run([ThreadCheck()], message("Li Wei <li.wei.research@gmail.com>", subject=subject))
    assert one(sig, "thread.reply_without_thread").evidence == {"prefix": prefix}


@pytest.mark.parametrize("headers", [{"In-Reply-To": "<a@b>"}, {"References": "<a@b> <c@d>"}])
def test_a_real_reply_carries_its_thread(headers: dict[str, str]) -> None:
    sig, _ = run([ThreadCheck()], message("Li Wei <li.wei@gmail.com>", subject="Re: paper", headers=headers))
    assert "thread.reply_without_thread" not in names(sig)


@pytest.mark.parametrize("subject", ["Fwd: paper", "FW: agenda", "WG: Einladung", "Research on Re: entry",
                                     "Request: your views", "Reply needed", "Hello"])
def test_forwards_and_ordinary_subjects_do_not_count(subject: str) -> None:
    sig, _ = run([ThreadCheck()], message("Li Wei <li.wei@gmail.com>", subject=subject))
    assert "thread.reply_without_thread" not in names(sig)


def test_internal_mail_is_left_alone() -> None:
    sig, _ = run([ThreadCheck()], message("Col <col@example.org>", subject="Re: lunch"))
    assert sig == []

"""The context check: list and bulk mail, replies in a thread."""

from __future__ import annotations

from gateway.checks.context import ContextCheck
from gateway.runtime import Runtime
from tests.support.messages import config, message, names, one, run


def test_list_headers_google_groups_and_precedence() -> None:
    sig, _ = run([ContextCheck()], message("A <a@uni.example>", headers={"List-Id": "<usrp-users.lists.example>"}))
    assert one(sig, "context.mailing_list").evidence == {"kind": "list", "list": "<usrp-users.lists.example>"}
    sig, _ = run([ContextCheck()], message("A <a@uni.example>"), mail_from="grp+bncBC@googlegroups.com")
    assert one(sig, "context.mailing_list").evidence["kind"] == "google-groups"
    sig, _ = run([ContextCheck()], message("A <a@uni.example>", headers={"Precedence": "bulk"}))
    assert one(sig, "context.mailing_list").evidence["kind"] == "bulk"
    sig, _ = run([ContextCheck()], message("A <a@uni.example>", headers={"Precedence": "first-class"}))
    assert "context.mailing_list" not in names(sig)


def test_reply_fields_are_counted_not_trusted() -> None:
    sig, _ = run([ContextCheck()], message("A <a@uni.example>", subject="Re: the draft",
                                           headers={"In-Reply-To": "<1@example.org>",
                                                    "References": "<0@example.org> <1@example.org>"}))
    assert one(sig, "context.reply").evidence == {"references": 2, "subject_reply": True}
    sig, _ = run([ContextCheck()], message("A <a@uni.example>", subject="Re: hello"))
    assert "context.reply" not in names(sig)  # a "Re:" alone answers nothing


def test_the_runtime_discovers_the_new_check_without_registration() -> None:
    """Adding a check is one module: the runtime finds it, lint and the docs know its signals."""
    from gateway.checks import known_signals

    assert any(isinstance(c, ContextCheck) for c in Runtime(config(), offline=True, store=None).checks)
    assert {"context.mailing_list", "context.reply"} <= known_signals()

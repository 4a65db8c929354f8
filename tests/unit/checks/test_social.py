from __future__ import annotations

from pathlib import Path

from gateway.checks.content import ContentCheck
from gateway.checks.identity import IdentityCheck
from gateway.checks.social import SocialUnwrapCheck
from tests.support.messages import message, names, one, run

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def test_linkedin_message_is_unwrapped_into_a_persona():
    raw = (CORPUS / "approach/004-linkedin-harbourline-personal-email.eml").read_bytes()
    sig, facts = run([SocialUnwrapCheck(), IdentityCheck(), ContentCheck()], raw)
    persona = facts["persona"]
    assert persona.network == "linkedin" and persona.name == "Kevin Zhao"
    assert persona.headline == "Talent Acquisition Director at Harbourline Consulting Group"
    assert persona.text.startswith("Hi James") and "Reply:" not in persona.text
    assert one(sig, "social.persona_message").evidence["persona"] == "Kevin Zhao"
    # the inner message is what content checks read
    assert one(sig, "content.personal_contact_request").evidence["source"] == "persona"


def test_persona_off_channel_handle_is_found():
    raw = (CORPUS / "approach/041-linkedin-brightwater-whatsapp.eml").read_bytes()
    sig, _ = run([SocialUnwrapCheck(), ContentCheck()], raw)
    assert one(sig, "content.offchannel_whatsapp").evidence["source"] == "persona"


def test_linkedins_own_notifications_are_left_alone():
    for name in ("legit/018-linkedin-jobs-notification.eml", "legit/004-linkedin-connection-invite.eml",
                 "legit/054-linkedin-search-appearances.eml"):
        sig, facts = run([SocialUnwrapCheck()], (CORPUS / name).read_bytes())
        assert sig == [] and "persona" not in facts, name


def test_notification_lookalike_from_elsewhere_is_signalled():
    raw = message("LinkedIn <messages-noreply@linkedln-mail.test>",
                  "Kevin Zhao sent you a new message\n\nKevin Zhao\nDirector\n\nHi!\n\nReply: https://x.test/")
    sig, facts = run([SocialUnwrapCheck()], raw)
    assert one(sig, "social.fake_notification").evidence["from_domain"] == "linkedln-mail.test"
    assert "persona" not in facts
    assert "social.persona_message" not in names(sig)


def test_linkedin_notification_is_unwrapped_whatever_its_authentication():
    """Unwrapping does not wait for DNS: a notification failing DMARC is still unwrapped (its
    persona is checked) and the policy's fake-notification rule combines it with dmarc.fail."""
    raw = (CORPUS / "approach/004-linkedin-harbourline-personal-email.eml").read_bytes()
    sig, facts = run([SocialUnwrapCheck()], raw)
    assert one(sig, "social.persona_message") and facts["persona"].name


def test_every_notification_domain_belongs_to_its_network_in_the_organisation_list():
    """A network's own notification domain (academia-mail.com for Academia.edu) is that
    organisation's domain in gateway/data/organisations.yml, or its real notifications would be
    an organisation's name from a domain it does not own."""
    from gateway.checks.social import NETWORKS
    from gateway.config import load_config
    from gateway.refdata import ReferenceData
    from tests.conftest import ROOT

    data = ReferenceData.load(load_config(ROOT / "tests" / "evalset" / "gateway.yml"))
    for net in NETWORKS:
        owners = {data.org_owning(d).name for d in net.domains if data.org_owning(d) is not None}
        assert len(owners) <= 1, (net.name, owners)
        if owners:
            assert all(data.org_owning(d) is not None for d in net.domains), net.name


def test_the_persona_is_found_in_other_wordings_of_a_notification():
    """Issue 11: unwrapping must not depend on one exact wording. The inbox-style line ("You have
    a new message from NAME", German and French), a question asked on a research network and a
    direct message from a bare handle all carry a persona whose words are read."""
    cases = [
        ("LinkedIn <messages-noreply@linkedin.com>",
         "You have a new message from Kevin Zhao\n\nKevin Zhao\nDirector, Harbourline Consulting\n\n"
         "\"Hi Peter, I'd value your views on export controls; we pay an honorarium.\"\n\nReply: https://x.test/\n",
         "Kevin Zhao", "Director, Harbourline Consulting"),
        ("XING <mailrobot@mail.xing.com>",
         "Neue Nachricht von Kevin Zhao\n\nKevin Zhao\nDirector, Harbourline Consulting\n\n"
         "\"Hallo Peter, ich würde gern Ihre Einschätzung hören.\"\n\nAntworten\n",
         "Kevin Zhao", "Director, Harbourline Consulting"),
        ("ResearchGate <no-reply@researchgatemail.net>",
         "Dr. Li Wen asked you a question about your research\n\n\"Dear Dr Novak, could you share the full "
         "dataset of your unpublished work?\"\n\nAnswer now\n", "Dr. Li Wen", ""),
        ("X <notify@x.com>", "New Direct Message from @kzhao_policy:\n\n\"Hi, could we talk on Signal? I work "
         "for a consultancy.\"\n", "@kzhao_policy", ""),
        # the recipient's name first, the headline right under the opener, the message not quoted
        ("Kevin Zhao via LinkedIn <inmail-hit-reply@linkedin.com>",
         "Peter, you have a new message from Kevin Zhao\nCEO at Harbourline Search | Beijing\n\nDear Peter,\n\n"
         "One of our clients pays well for short analysis of UK policy.\n\nReply: https://x.test/\n",
         "Kevin Zhao", "CEO at Harbourline Search | Beijing"),
    ]
    for sender, body, name, headline in cases:
        sig, facts = run([SocialUnwrapCheck()], message(sender, body))
        persona = facts.get("persona")
        assert persona is not None and (persona.name, persona.headline) == (name, headline), sender
        assert persona.text.startswith(("Hi", "Hallo", "Dear")), sender
        assert one(sig, "social.persona_message").evidence["persona"] == name
    # the network's own line about a message is not a persona ("You have 3 new notifications")
    sig, facts = run([SocialUnwrapCheck()], message("LinkedIn <notifications-noreply@linkedin.com>",
                                                    "You have 3 new notifications\n\nSee all: https://x.test/\n"))
    assert sig == [] and "persona" not in facts


def test_a_wrapped_line_of_the_persona_that_starts_with_a_footer_word_is_still_the_message():
    """The notification's links ("Reply: https://...", "Help", "Accept  Ignore") end the persona's text; a line of
    the message itself that wraps onto "help ...", "manage ..." or "reply ..." does not."""
    body = ("Kevin Zhao sent you a new message\n\nKevin Zhao\nTalent Partner at Harbourline Strategies\n\n"
            "\"Hi James, sorry to hear about the restructuring. We\nhelp experienced public servants move into "
            "consulting\nwork with international clients (remote, well paid).\nReply when you can with a good time "
            "for a call.\"\n\nReply: https://x.test/\n\nHelp: https://x.test/help\n")
    _sig, facts = run([SocialUnwrapCheck()], message("LinkedIn <messages-noreply@linkedin.com>", body))
    text = facts["persona"].text
    assert "well paid" in text and "good time for a call" in text
    assert "Reply:" not in text and "x.test" not in text
    for label in ("Reply", "Accept    Ignore", "Help", "Manage your notifications"):
        _sig, facts = run([SocialUnwrapCheck()], message(
            "LinkedIn <messages-noreply@linkedin.com>",
            "Kevin Zhao sent you a new message\n\nKevin Zhao\nDirector\n\n\"Hi James, could we talk next week "
            f"about the export rules?\"\n\n{label}\nThis email was intended for James.\n"))
        assert facts["persona"].text.endswith("export rules?"), label


def test_a_quotation_is_found_in_one_pass_as_the_pattern_found_it():
    """attack32 #3: the relayed message's quotation was found by `[\"“„«]([^\"”“»]{20,4000})[\"”»]`, which backtracked
    through up to 4,000 characters from every "«" or "„" (its text may hold them): 20,000 "«" in a forged
    notification cost 1.5-2 s of CPU on the event loop. `quotation` finds what the pattern found, in one pass."""
    import random
    import re

    from gateway.checks.social import quotation
    pattern = re.compile(r"[\"“„«]([^\"”“»]{20,4000})[\"”»]")
    rnd = random.Random(32)
    marks = "\"“”„«»"
    found = 0
    for _ in range(4000):
        size, share = rnd.choice([(40, 0.5), (120, 0.1), (400, 0.05), (9000, 0.0015)])
        text = "".join(rnd.choice(marks) if rnd.random() < share else rnd.choice("ab ") for _ in range(size))
        expected = pattern.search(text)
        assert quotation(text) == (expected.group(1) if expected else None), text
        found += expected is not None
    assert found > 1000  # (the draw makes both answers often)
    assert quotation("«" * 20_000) is None
    assert quotation("«" * 30 + "»") == "«" * 29 and quotation("„" + "x" * 4001 + "“") is None


def test_a_notification_of_opening_quotation_marks_is_read_as_before():
    """attack32 #3's message: the persona and its text (no quotation in it: all of it) as the pattern read them."""
    text = "Kevin Zhao\nSenior Partner at Example Consulting\n\n" + "«" * 20_000 + "\n"
    _, facts = run([SocialUnwrapCheck()], message("Kevin Zhao via LinkedIn <messages-noreply@linkedin.com>", text))
    persona = facts["persona"]
    assert persona.name == "Kevin Zhao" and persona.headline == "Senior Partner at Example Consulting"
    assert set(persona.text) == {"«"}


def test_a_notifications_opener_is_found_as_the_pattern_with_any_name_found_it():
    """sweep33: "message" and a run of odd blanks (U+2003, U+00A0: a plain part's blank runs read as one are spaces
    and tabs) were read once per length of name, 50-75 ms a search of 3,000 characters. The name before blanks no
    longer ends in one; every match, span and name as the pattern with the old name found them."""
    import random
    import re

    from gateway.checks import social
    old_name = r"(?P<{}>@?[^\W\d_][^\n]{{1,78}}?)"
    new_name = social._NAME_BEFORE_BLANKS.format("name")
    assert new_name in social._OPENERS.pattern
    old = re.compile(social._OPENERS.pattern.replace(new_name, old_name.format("name")), re.I | re.M)
    rnd = random.Random(33)
    pieces = [" ", "\t", "\n", "\u2003", "\u00a0", "A", "Kevin", "Zhao", "sent you", "a message", "message from",
              "new ", "has", "(@kz)", ":", "Michael, ", "InMail", "You have 2 new messages from ", "x", "\u00e9"]
    found = 0
    for _ in range(40_000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(0, 14)))
        a, b = old.search(text), social._OPENERS.search(text)
        assert (a and (a.span(), a.groupdict())) == (b and (b.span(), b.groupdict())), text
        found += a is not None
    assert found > 4_000

"""Who claims to be whom: roles and organisations parsed without a list, compared with the channel."""

from __future__ import annotations

import re

import pytest

from gateway.checks import CheckContext
from gateway.checks import claims as claims_module
from gateway.checks.claims import Claim, ClaimsCheck
from gateway.checks.social import Persona
from gateway.textsafe import fold_lookalikes
from tests.support.messages import message, names, one, run


def claims(raw: bytes) -> list[dict[str, object]]:
    sig, _ = run([ClaimsCheck()], raw)
    return [dict(s.evidence) for s in sig if s.name == "claim.institutional_role"]


def test_reporter_with_an_unlisted_newspaper_from_freemail() -> None:
    raw = message("Dana Kerr <dana.kerr.news@gmail.com>",
                  "Dear Dr Prof,\n\nI am a reporter with the Northern Daily Ledger and I am writing a piece on "
                  "export controls.\n\nBest regards,\nDana Kerr")
    sig, _ = run([ClaimsCheck()], raw)
    ev = one(sig, "claim.unbacked").evidence
    assert (ev["role"], ev["organisation"], ev["kind"], ev["channel"], ev["listed"]) == (
        "journalist", "Northern Daily Ledger", "news", "freemail", False)
    assert ev["claim"] == "reporter at Northern Daily Ledger"


def test_signature_that_is_just_an_organisation_and_an_acronym_title() -> None:
    raw = message("A. Whitlock <aw.policy@outlook.com>",
                  "Could you share your views?\n\nBest regards,\nAaron Whitlock\nDirector of Research\n"
                  "Institute for Maritime Strategy")
    found = claims(raw)
    assert any(c["organisation"] == "Institute for Maritime Strategy" and c["kind"] == "think_tank" for c in found)
    sig, _ = run([ClaimsCheck()], raw)
    assert one(sig, "claim.unbacked").evidence["channel"] == "freemail"


def test_government_department_written_out_from_a_non_government_domain() -> None:
    raw = message("R. Kaine <r.kaine@eurasia-affairs.net>",
                  "I am a senior adviser in the Bureau of European Affairs at the U.S. Department of State.\n")
    ev = one(run([ClaimsCheck()], raw)[0], "claim.unbacked").evidence
    assert ev["kind"] == "government" and ev["channel"] == "domain"
    ok = message("R. Kaine <r.kaine@state.gov>",
                 "I am a senior adviser in the Bureau of European Affairs at the U.S. Department of State.\n")
    assert "claim.unbacked" not in names(run([ClaimsCheck()], ok)[0])


def test_university_claim_from_its_academic_domain_is_backed_and_from_elsewhere_is_not() -> None:
    text = "I am a lecturer at Stanford University working on export controls.\n"
    assert "claim.unbacked" not in names(run([ClaimsCheck()], message("L <l@stanford.edu>", text))[0])
    assert "claim.unbacked" in names(run([ClaimsCheck()], message("L <l@stanford-fellows.org>", text))[0])


def test_students_freelancers_and_the_retired_are_not_staff_claims() -> None:
    for text in ("I am a PhD student at the University of Leeds and would like to ask about supervision.\n",
                 "I am a freelance journalist writing for The Economist.\n",
                 "I am a retired professor of the University of Manchester.\n"):
        sig, _ = run([ClaimsCheck()], message("S <s.someone@gmail.com>", text))
        assert "claim.unbacked" not in names(sig), text


def test_a_role_that_implies_an_employer_without_naming_one() -> None:
    raw = message("기자 김지훈 <jh.press@naver.com>", "I am a reporter covering the election.\n")
    sig, _ = run([ClaimsCheck()], raw)
    assert one(sig, "claim.unbacked").evidence["role"] == "journalist"


def test_listed_organisation_from_its_own_domain_is_backed() -> None:
    raw = message("T. Grant <t.grant@reuters.com>", "I am a correspondent with Reuters in London.\n")
    sig, _ = run([ClaimsCheck()], raw)
    assert one(sig, "claim.backed").evidence["organisation"] == "Reuters"
    assert "claim.unbacked" not in names(sig)


def test_relayed_persona_headline_is_a_claim_the_network_cannot_back() -> None:
    body = ("Kevin Zhao sent you a new message\n\nKevin Zhao\nTalent Director at Harbourline Consulting Group\n\n"
            "\"Hi, would you like a paid advisory role?\"\n\nReply: https://www.linkedin.com/x\n")
    sig, _ = run([ClaimsCheck()], message("Kevin Zhao via LinkedIn <messages-noreply@linkedin.com>", body))
    ev = one(sig, "claim.unbacked").evidence
    assert ev["channel"] == "social" and ev["organisation"] == "Harbourline Consulting Group"


def test_an_organisation_name_alone_in_a_display_name_from_its_domain_is_not_a_claim() -> None:
    raw = message("Journal of Applied Thinking <editorial@jat-press.co.uk>", "Call for papers.\n")
    sig, _ = run([ClaimsCheck()], raw)
    assert not names(sig) & {"claim.unbacked", "claim.domain_unrelated"}


def test_a_government_body_signing_from_a_non_government_domain() -> None:
    """No role word, just the body: "Research Office for the Ministry of Unification" signed from a
    domain no government uses (the 2023 US/ROK advisory on Kimsuky). From a government domain it is
    nothing; a company's name alone from its own domain stays a brand, not a claim."""
    body = "Please complete the questionnaire.\n\nRespectfully,\nKim Do\nPolicy Office of the Ministry of Trade\n"
    ev = one(run([ClaimsCheck()], message("Kim Do <kd@trade-policy-office.org>", body))[0], "claim.unbacked").evidence
    assert (ev["kind"], ev["channel"], ev["where"]) == ("government", "domain", "signature")
    assert "claim.unbacked" not in names(run([ClaimsCheck()], message("Kim Do <kd@trade.gov.uk>", body))[0])
    brand = "Hello.\n\nBest regards,\nKim Do\nNorthgate Trade Consulting\n"
    assert "claim.unbacked" not in names(run([ClaimsCheck()], message("Kim Do <kd@northgate.com>", brand))[0])


def test_newspaper_titles_in_other_languages_are_news_organisations() -> None:
    raw = message("C. Moreau <c.moreau.presse@gmail.com>", "Je suis journaliste.\n\nI am a journalist at Orient "
                  "Hebdo in Paris.\n")
    ev = one(run([ClaimsCheck()], raw)[0], "claim.unbacked").evidence
    assert (ev["organisation"], ev["kind"]) == ("Orient Hebdo", "news")


def test_more_ways_of_stating_a_role() -> None:
    """'As the programme director of X', 'I lead the Asia programme at X', 'I work in the Ministry',
    a signature 'Name | Role | Organisation' and a display name 'Person, Organisation' are claims;
    a team's mailbox ('Visa Services, Embassy of X') and 'Doe, John' are not a person's claim."""
    def unbacked(frm: str, body: str) -> dict[str, object] | None:
        sig, _ = run([ClaimsCheck()], message(frm, body))
        found = [dict(s.evidence) for s in sig if s.name == "claim.unbacked"]
        return found[0] if found else None
    free = "Ana <ana.w@protonmail.com>"
    ev = unbacked(free, "As the programme director of the Eurasia Futures Initiative, I would like to invite you.\n")
    assert ev is not None and ev["organisation"] == "Eurasia Futures Initiative"
    ev = unbacked(free, "I lead the Asia programme at the Institute for Regional Security.\n")
    assert ev is not None and ev["organisation"] == "Institute for Regional Security"
    ev = unbacked(free, "I work in the Ministry of Foreign Affairs as a desk officer.\n")
    assert ev is not None and ev["organisation"] == "Ministry of Foreign Affairs"
    ev = unbacked(free, "Hi,\n\nBest,\nAna Weiss | Research Associate | Hudson Centre for Asian Affairs\n")
    assert ev is not None and (ev["role"], ev["organisation"]) == ("researcher", "Hudson Centre for Asian Affairs")
    ev = unbacked('"Ana Weiss, Asia Times" <ana.w@protonmail.com>', "Could you comment?\n")
    assert ev is not None and ev["organisation"] == "Asia Times"
    assert unbacked('"Visa Services, Northern Trade Office" <visa@gmail.com>', "Your documents.\n") is None
    assert unbacked('"Doe, John" <john.doe@gmail.com>', "See you Sunday.\n") is None


def test_an_organisation_whose_name_starts_with_co_hyphen_is_not_a_fragment() -> None:
    """_clean_org drops fragments such as 'Inc. (New York City'; 'Co-operative ...' is a name."""
    raw = message("Ana <ana.w@protonmail.com>", "I am a senior policy adviser at the Co-operative Research Group.\n")
    ev = one(run([ClaimsCheck()], raw)[0], "claim.unbacked").evidence
    assert ev["organisation"] == "Co-operative Research Group"


def test_an_organisation_with_its_acronym_in_brackets() -> None:
    """'Fellow at Center for Strategic and International Studies (CSIS)' (the "Katie Jones"
    profile, AP 2019): the bracketed acronym is part of how the name is written, not a fragment, and
    the listed organisation is still recognised; a stray bracket at either end is dropped."""
    body = ("Katherine Jennings would like to join your LinkedIn network.\n\nKatherine Jennings\n"
            "Russia and Eurasia Fellow at Center for Strategic and International Studies (CSIS)\n"
            "41 mutual connections\n\nAccept: https://www.linkedin.com/x\n")
    sig, _ = run([ClaimsCheck()], message("Katherine Jennings via LinkedIn <invitations@linkedin.com>", body))
    ev = one(sig, "claim.unbacked").evidence
    assert ev["organisation"] == "Center for Strategic and International Studies (CSIS)" and ev["listed"] is True
    for headline in ("Senior Fellow, (RUSI)", "Senior Fellow at RUSI)"):  # a stray bracket is dropped
        sig, _ = run([ClaimsCheck()], message("A B via LinkedIn <invitations@linkedin.com>",
                                              body.replace("Katherine Jennings", "Ann Berg").replace(
                                                  "Russia and Eurasia Fellow at Center for Strategic and "
                                                  "International Studies (CSIS)", headline)))
        assert one(sig, "claim.unbacked").evidence["organisation"] == "RUSI", headline


# ---- mechanics: the squeeze and the intro prefilter change no answer

_SPACES = ["\n", " ", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000"]


def test_squeeze_is_the_regex_definition() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from gateway.checks import claims

    def reference(text: str) -> str:
        return re.sub(r"\s+", lambda m: "\n" if "\n" in m.group() else " ", text)

    @settings(max_examples=2000, deadline=None)
    @given(st.lists(st.sampled_from([*_SPACES, "a", "Bc.", "\x00", "é"]), max_size=40).map("".join))
    def check(text: str) -> None:
        assert claims._squeeze(text) == reference(text)
    check()
    assert claims._squeeze("  I am\n \n  a  reporter \t") == " I am\na reporter "


def test_intro_claims_skip_only_patterns_that_cannot_match() -> None:
    """Every intro pattern the prefilter rules out finds nothing in the text, over introductions
    written to match each pattern and over their near misses."""
    from gateway.checks import claims

    texts = ["I am a senior adviser in the Bureau of Arms Control at the U.S. Department of State.",
             "I'm   the programme director of the Asia Initiative.",
             "As the programme director of the X Initiative, I write.",
             "I lead the Asia programme at the Lowy Institute", "I work for Reuters in London",
             "writing on behalf of Chatham House", "We at Acme Corp", "i AM an editor with The Economist",
             "Hello,\nI am\n a correspondent for  BBC News", "nothing here at all", "I\u00a0am a reporter for CNN"]
    for text in texts:
        head = claims._squeeze(text)
        possible = claims._INTRO_PREFILTER.possible(head)
        for name, pattern in claims._INTRO.items():
            if name not in possible:
                assert pattern.search(head) is None, (name, text)
        assert (claims._ROLE_ONLY.search(text) is None) or claims._ROLE_ONLY_PREFILTER.possible(text)
    assert "strong" in claims._INTRO_PREFILTER.possible("I am a fellow at the Brookings Institution")
    assert claims._INTRO_PREFILTER.possible("nothing to see") <= {"as"}


def test_a_display_name_with_the_role_after_the_organisation() -> None:
    """'Name, Organisation - Role' and 'Name, Role, Organisation': the role is a field of its own, so
    the organisation is the name alone (and a listed one is recognised: Reuters)."""
    for display, org, listed in (("Ana Weiss, Asia Times - Correspondent", "Asia Times", False),
                                 ("Ana Weiss, Reuters - Reporter", "Reuters", True),
                                 ("Ana Weiss, Orient Policy Institute | Senior Fellow", "Orient Policy Institute",
                                  False),
                                 # "Name, Role, Organisation": two commas
                                 ("Ana Weiss, Senior Fellow, Orient Policy Institute", "Orient Policy Institute",
                                  False),
                                 ("Ana Weiss, Correspondent, Reuters", "Reuters", True)):
        found = claims(message(f"\"{display}\" <ana.weiss.news@gmail.com>", "Hello.\n"))
        assert [(c["organisation"], c["listed"]) for c in found if c["where"] == "display" and c["organisation"]] == [
            (org, listed)], display


def test_a_unit_of_a_listed_organisation_from_its_own_domain_is_backed_by_it() -> None:
    """'a recruiter at SRE' from google.com (real list mail): an unlisted team of a listed
    organisation, from that organisation's domain, is backed by it; from elsewhere it is not."""
    body = "Hi all,\n\nI am a technical recruiter at SRE and we are hiring engineers. Happy to chat.\n"
    sig = run([ClaimsCheck()], message("Pat Lee <pat@google.com>", body))[0]
    assert one(sig, "claim.backed").evidence["organisation"] == "Google"
    assert "claim.unbacked" not in names(sig)
    elsewhere = run([ClaimsCheck()], message("Pat Lee <pat@sre-talent.example>", body))[0]
    assert "claim.backed" not in names(elsewhere)


def _unbacked(body: str) -> dict[str, object] | None:
    sig, _ = run([ClaimsCheck()], message("Anna Berg <anna.berg.policy@gmail.com>", "Dear Dr Smith,\n\n" + body))
    found = [dict(s.evidence) for s in sig if s.name == "claim.unbacked"]
    return found[0] if found else None


def test_an_apposition_names_the_kind_of_organisation() -> None:
    # "X, a <kind>": a name with no organisation word reads as one, and the noun gives its kind
    for body, org, kind in (
            ("I work for Meridian Strategy, a consultancy in Singapore.\n\nAnna", "Meridian Strategy", "company"),
            ("I am contacting you on behalf of Orion Partners, a Brussels-based think tank.\n\nAnna",
             "Orion Partners", "think_tank"),
            ("Meridian Advisory is an international consulting firm working with Asian clients.\n\nAnna",
             "Meridian Advisory", "company"),
            ("The Eastbridge Institute is a research institute that studies security in East Asia.\n\nAnna",
             "Eastbridge Institute", "think_tank")):
        ev = _unbacked(body)
        assert ev is not None and (ev["organisation"], ev["kind"]) == (org, kind), body


def test_more_ways_of_saying_where_one_works() -> None:
    for body, org in (("My name is Anna Berg, senior analyst at Meridian Strategy Group.\n", "Meridian Strategy Group"),
                      ("My name is Anna Berg from the Eastbridge Institute.\n", "Eastbridge Institute"),
                      ("I am reaching out from the Eastbridge Institute in Seoul.\n", "Eastbridge Institute"),
                      ("I represent Eastbridge Research Institute in Seoul.\n", "Eastbridge Research Institute"),
                      ("I recently joined the Eastbridge Institute as a senior fellow.\n", "Eastbridge Institute"),
                      ("I am a reporter at Le Soir and would like your views.\n", "Le Soir")):
        ev = _unbacked(body)
        assert ev is not None and ev["organisation"] == org, body


def test_a_signature_role_with_of_and_an_acronym_after_a_comma() -> None:
    ev = _unbacked("Could you share your views?\n\nBest regards,\nAnna Berg\nDirector of Research, EISS\n")
    assert ev is not None and ev["organisation"] == "EISS"


def test_a_signature_role_at_an_organisation_then_a_city() -> None:
    # "Role at Organisation, City": the "at" separates the role, not the comma before the city (which
    # left "Senior Fellow at ..." as the role and "Berlin" as the organisation: no claim at all)
    for line, org in (("Senior Fellow at Institute for Security Studies, Berlin", "Institute for Security Studies"),
                      ("Director of Research at the Meridian Institute, Brussels", "Meridian Institute"),
                      ("Head of Unit at the Ministry of Defence - UK", "Ministry of Defence")):
        ev = _unbacked(f"Could you share your views?\n\nBest regards,\nAnna Berg\n{line}\n")
        assert ev is not None and str(ev["organisation"]).startswith(org), line


def test_an_independent_organisation_is_not_an_independent_writer() -> None:
    # the apposition's adjectives describe the body; the writer's own post is still a staff claim
    ev = _unbacked("Civic Ledger is a young independent news outlet.\n\nBest,\nAnna Berg\n"
                   "Associate Editor, Civic Ledger\n")
    assert ev is not None and ev["role"] == "journalist"


def test_what_an_apposition_does_not_make_an_organisation() -> None:
    for body in ("It is a small company, but we would like to hear from you.\n\nAnna",
                 "As discussed on the phone with your Director of Operations, here is the contract.\n\nAnna",
                 "Thanks for the talk.\n\nAnna Berg\nHead of Communications, a Hague-based think tank\n"):
        ev = _unbacked(body)
        assert ev is None or ev["organisation"] not in ("It", "Operations", "Head of Communications"), body


def test_a_salutation_is_not_the_writers_role() -> None:
    raw = message("Claire Moreau <c.moreau@orient-hebdo.test>",
                  "Cher Professeur,\n\nI am sorry to insist.\n\nMerci d'avance,\nClaire Moreau\nOrient Hebdo\n")
    assert [c["role"] for c in claims(raw) if c["organisation"] == "Orient Hebdo"] == [""]


def test_zero_width_characters_inside_the_organisation_do_not_hide_the_claim() -> None:
    """Zero-width characters and soft hyphens split a name for a matcher, not for a reader: the
    message view drops them once, so the claim reads as the listed organisation it shows."""
    plain = message("A. Whitlock <aw.policy@outlook.com>",
                    "Dear Dr Prof,\n\nI am a Senior Fellow at Chatham House and I am writing about a study.\n")
    expected = [(c["organisation"], c["listed"]) for c in claims(plain)]
    assert ("Chatham House", True) in expected
    for hidden in ("Chat\u200bham House", "Cha\u00adtham Hou\u2060se", "C\u200dhatham\ufeff House",
                   "Chat\u200cham House"):
        raw = message("A. Whitlock <aw.policy@outlook.com>",
                      f"Dear Dr Prof,\n\nI am a Senior Fellow at {hidden} and I am writing about a study.\n")
        assert [(c["organisation"], c["listed"]) for c in claims(raw)] == expected, hidden
    html = message("A. Whitlock <aw.policy@outlook.com>", "",
                   html="<p>I am a Senior Fellow at Chat&#8203;ham House and I am writing about a study.</p>")
    assert ("Chatham House", True) in [(c["organisation"], c["listed"]) for c in claims(html)]


def test_bidi_controls_and_look_alike_letters_inside_the_organisation_do_not_hide_the_claim() -> None:
    """Bidi controls reorder what a reader sees and add nothing to it: the view reads an override's
    text in the order shown ("Chat\u202emah\u202c" shows "Chatham") and drops the controls with
    the zero-width characters. Cyrillic and Greek letters that render as Latin ones inside a Latin word
    (a mixed-script word, UTS #39) are read as those letters by the organisation matcher, the one
    place names are matched, so the claim is the listed organisation it shows; a Russian word
    stays as it is."""
    plain = message("A. Whitlock <aw.policy@outlook.com>",
                    "Dear Dr Prof,\n\nI am a Senior Fellow at Chatham House and I am writing about a study.\n")
    expected = [(c["organisation"], c["listed"]) for c in claims(plain)]
    assert ("Chatham House", True) in expected
    for hidden in ("Chatham\u202c House", "Chat\u202emah\u202c House", "\u2066Chatham House\u2069",
                   "Chat\u200fham House", "Ch\u0430tham House", "\u0421hatham H\u043euse", "Chath\u03b1m House",
                   "Ch\u0430t\u202emah\u202c Hou\u0455e"):
        raw = message("A. Whitlock <aw.policy@outlook.com>",
                      f"Dear Dr Prof,\n\nI am a Senior Fellow at {hidden} and I am writing about a study.\n")
        # the evidence quotes the name as written (look-alikes and all), the listed organisation it is
        found = [(fold_lookalikes(c["organisation"]), c["listed"]) for c in claims(raw)]
        assert found == expected, hidden
    # a Russian word ("Сосед", all look-alikes) is not a mixed-script word: it stays
    assert fold_lookalikes("\u0421\u043e\u0441\u0435\u0434 Ch\u0430tham") == "\u0421\u043e\u0441\u0435\u0434 Chatham"


def test_the_other_names_students_give_themselves_are_not_staff_claims() -> None:
    for text in ("I am a PhD researcher at the University of Leeds and I am writing my thesis on sanctions.\n",
                 "I am a summer intern at the Institute for Maritime Strategy.\n",
                 "I am a postgraduate researcher at the University of Leeds.\n",
                 "I am a master's candidate at the Institute for Maritime Strategy.\n"):
        sig, _ = run([ClaimsCheck()], message("S <s.someone@gmail.com>", text))
        assert "claim.institutional_role" in names(sig), text
        assert "claim.unbacked" not in names(sig), text
    # a staff researcher there is still a claim free-mail cannot back
    staff = "I am a senior researcher at the Institute for Maritime Strategy.\n"
    assert "claim.unbacked" in names(run([ClaimsCheck()], message("S <s.someone@gmail.com>", staff))[0])


def test_a_university_department_from_its_universitys_domain_is_not_a_government_claim() -> None:
    """'Department of Electrical and Computer Engineering' or 'School of Government' reads like a
    government body; from a domain the academic list knows it is a university's department."""
    body = ("We are hiring a postdoc.\n\nBest regards,\nJohn Smith\nProfessor\n"
            "Department of Electrical and Computer Engineering\nNorth Carolina State University\n")
    sig = run([ClaimsCheck()], message("John Smith <jsmith@ncsu.edu>", body))[0]
    assert "claim.unbacked" not in names(sig)
    gov = "I am a senior adviser at the School of Government and Public Policy.\n"
    assert "claim.unbacked" not in names(run([ClaimsCheck()], message("A <a@kent.ac.uk>", gov))[0])
    # the same from a domain no academic list or government uses is still a mismatch
    assert "claim.unbacked" in names(run([ClaimsCheck()], message("A <a@sgpp-office.org>", gov))[0])
    # and a ministry from a university's domain is not one of its departments
    ministry = "I am a senior adviser at the Ministry of Foreign Affairs.\n"
    assert "claim.unbacked" in names(run([ClaimsCheck()], message("A <a@kent.ac.uk>", ministry))[0])


def test_a_sentence_on_a_signature_line_is_not_an_organisation() -> None:
    """Real list mail: 'Linux Foundation might benefit, Linux doesn't. Linux benefits' closing a
    message from gmail was read as a claimed organisation."""
    body = "I disagree.\n\nThanks,\nLinux Foundation might benefit, Linux doesn't. Linux benefits\n"
    assert claims(message("K <k.someone@gmail.com>", body)) == []
    assert claims(message("K <k.someone@gmail.com>", "Thanks,\nK. Someone\nLinux Foundation\n")) != []


def test_an_unlisted_university_from_its_own_academic_domain_is_backed() -> None:
    """The academic list gives kent.ac.uk to the University of Kent: its own mail, as a listed
    university's would be; from another domain it is not backed."""
    body = "I am a lecturer at the University of Kent and we are organising a workshop in May.\n"
    sig = run([ClaimsCheck()], message("L <l.someone@kent.ac.uk>", body))[0]
    assert one(sig, "claim.backed").evidence["organisation"] == "University of Kent"
    assert "claim.unbacked" not in names(sig)
    for frm in ("L <l.someone@kent-workshops.org>", "L <l.someone@gmail.com>"):
        assert "claim.backed" not in names(run([ClaimsCheck()], message(frm, body))[0]), frm


def test_each_claim_is_compared_with_the_channel_once_per_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backed-university path (`_own_academic`), the staff-claim loop and the third-party
    test ask for the same claims' channel verdicts: each is computed once, and the signals are
    the same as with a fresh computation every time."""
    body = ("I am a lecturer at the University of Kent and we are organising a workshop in May.\n\n"
            "Best regards,\nL. Someone\nSenior Lecturer, University of Kent\n")
    raw = message("L <l.someone@kent.ac.uk>", body)
    fresh = run([ClaimsCheck()], raw)[0]
    calls: list[int] = []
    real = claims_module.channel_verdict

    def counted(claim: Claim, ctx: CheckContext, persona: Persona | None) -> tuple[str, str]:
        calls.append(id(claim))
        return real(claim, ctx, persona)
    monkeypatch.setattr(claims_module, "channel_verdict", counted)
    sig = run([ClaimsCheck()], raw)[0]
    assert one(sig, "claim.backed").evidence["organisation"] == "University of Kent"
    assert [(s.name, s.evidence) for s in sig] == [(s.name, s.evidence) for s in fresh]
    assert calls and len(calls) == len(set(calls))


def test_a_centre_writing_from_a_universitys_domain_is_not_unrelated_to_it() -> None:
    body = "Best regards,\nAna Weiss\nProgramme Director\nCentre for Arctic Security Studies\n"
    assert "claim.domain_unrelated" not in names(run([ClaimsCheck()], message("A <a.weiss@kent.ac.uk>", body))[0])
    assert "claim.domain_unrelated" in names(run([ClaimsCheck()], message("A <a.weiss@polar-brief.org>", body))[0])


def test_a_listed_client_named_by_a_writer_whose_own_organisation_the_domain_backs() -> None:
    """A recruiter at an agency hiring for a listed company: the agency is the writer's employer
    (its domain carries its name), the company a third party -- not a claim the channel cannot back.
    Without the agency's name, or from free-mail, the company is the claim."""
    body = ("I am a senior recruiter at Northbridge Talent, and I am hiring for a role at Google in London.\n\n"
            "Best regards,\nJane Miller\nSenior Recruiter | Northbridge Talent\nTalent Partner, Google\n")
    assert "claim.unbacked" not in names(run([ClaimsCheck()], message("J <j@northbridgetalent.com>", body))[0])
    assert "claim.unbacked" in names(run([ClaimsCheck()], message("J <j.miller@gmail.com>", body))[0])
    alone = "Best regards,\nJane Miller\nTalent Partner, Google\n"
    assert "claim.unbacked" in names(run([ClaimsCheck()], message("J <j@northbridgetalent.com>", alone))[0])
    # a listed name inside the sending domain is a look-alike's disguise, not a third party
    lookalike = body.replace("Northbridge Talent", "Google Talent Northbridge")
    assert "claim.unbacked" in names(run([ClaimsCheck()], message("J <j@googletalent-northbridge.com>", lookalike))[0])


def test_a_body_named_after_the_government_it_studies_is_not_a_government_claim() -> None:
    """'Institute for Government' or a consultancy's 'Government Practice' from their own domains are
    a think tank and a company; a ministry or an embassy from a non-government domain is still a
    mismatch."""
    body = "Best regards,\nAna Weiss\nSenior Fellow\nInstitute for Government\n"
    sig = run([ClaimsCheck()], message("A <a.weiss@instituteforgovernment.org.uk>", body))[0]
    assert one(sig, "claim.institutional_role").evidence["kind"] == "think_tank"
    assert "claim.unbacked" not in names(sig)
    for org in ("Ministry of Foreign Affairs", "Embassy of Romania", "HM Government"):
        body = f"Best regards,\nAna Weiss\nSenior Adviser\n{org}\n"
        sig = run([ClaimsCheck()], message("A <a.weiss@instituteforgovernment.org.uk>", body))[0]
        assert one(sig, "claim.unbacked").evidence["kind"] == "government", org


def test_a_department_or_school_from_its_universitys_domain_is_backed_by_the_university() -> None:
    """A funded invitation signed by a school that does not name its university, from the
    university's domain: the academic list says whose domain it is, so the claim is backed by that
    university; from another domain it is a university claim no academic list backs."""
    body = ("I am organising a workshop in May.\n\nBest wishes,\nHelen Shaw\nLecturer in International Security\n"
            "School of Politics and International Relations\n")
    sig = run([ClaimsCheck()], message("H <h.shaw@kent.ac.uk>", body))[0]
    assert one(sig, "claim.backed").evidence["organisation"] == "University of Kent"
    elsewhere = run([ClaimsCheck()], message("H <h.shaw@kent-workshops.org>", body))[0]
    assert "claim.backed" not in names(elsewhere)
    assert "claim.unbacked" in names(elsewhere)
    # a centre on a university's domain is not contradicted by it, but not backed as the university either
    centre = body.replace("School of Politics and International Relations", "Centre for Arctic Security Studies")
    assert "claim.backed" not in names(run([ClaimsCheck()], message("H <h.shaw@kent.ac.uk>", centre))[0])


def test_a_listed_think_tank_named_beside_the_writers_own_outlet_is_still_a_claim() -> None:
    """Only a listed company can be the writer's client: a persona claiming a post at a listed think
    tank while writing from another outlet's domain is the approach, whatever else it names."""
    body = "Best regards,\nAna Weiss\nSenior Fellow, Atlantic Council\nEditor, Northbridge Review\n"
    assert "claim.unbacked" in names(run([ClaimsCheck()], message("A <a@northbridgereview.org>", body))[0])


def test_a_graduate_of_a_university_is_no_university() -> None:
    # the apposition's head noun is "graduate"; the university is inside its complement
    body = ("I hope this email finds you well. I am Reza Tavakoli, a graduate of Sharif University of "
            "Technology, and I would like to apply for the MSc.\n\nBest regards,\nReza Tavakoli\n")
    assert not [c for c in claims(message("R <reza.t@gmail.com>", body)) if c["organisation"] == "Reza Tavakoli"]
    # a head noun after adjectives still names the kind of body
    body = "Meridian Strategy, a Singapore-based consultancy, would like your views.\n"
    assert [c["kind"] for c in claims(message("M <m@gmail.com>", body))] == ["company"]


def test_an_introduction_wrapped_at_the_line_width_is_read_as_one_sentence() -> None:
    body = ("Dear Dr Grant,\n\nI hope you are well. My name is Li Wei and I am a senior research fellow in\n"
            "maritime security at the Institute for Maritime Strategy, where I lead our work on the Arctic.\n\n"
            "Best,\nLi Wei\n")
    sig = run([ClaimsCheck()], message("Li Wei <li.wei.ims@gmail.com>", body))[0]
    ev = one(sig, "claim.unbacked").evidence
    assert (ev["organisation"], ev["role"], ev["where"]) == ("Institute for Maritime Strategy", "researcher", "intro")
    # short lines (a signature) stay lines of their own
    assert claims_module.unwrap_prose("Li Wei\nSenior Fellow\nInstitute for Maritime Strategy") == (
        "Li Wei\nSenior Fellow\nInstitute for Maritime Strategy")
    long = "Looking forward to hearing from you, with best wishes from all of us in Leeds"
    assert claims_module.unwrap_prose(long + "\nLi Wei\nSenior Fellow") == long + " Li Wei\nSenior Fellow"


def test_a_signature_under_a_students_own_introduction_is_where_they_study() -> None:
    intro = ("Dear Dr Petrenko,\n\nMy name is Anna Sokolova; I am a second-year master's student at MGIMO in\n"
             "Moscow, writing a thesis on Arctic shipping governance. Could we talk?\n\n")
    sign = "Thank you for your time,\nAnna Sokolova\nMGIMO University, School of International Relations\n"
    sig = run([ClaimsCheck()], message("Anna <anna.sokolova.ir@yandex.ru>", intro + sign))[0]
    assert "claim.institutional_role" in names(sig)
    assert "claim.unbacked" not in names(sig)
    # the same signature with no such introduction is a claim free-mail cannot back
    plain = "Dear Dr Petrenko,\n\nCould we talk about Arctic shipping governance?\n\n" + sign
    assert "claim.unbacked" in names(run([ClaimsCheck()], message("Anna <anna.sokolova.ir@yandex.ru>", plain))[0])
    # nor does another organisation's student sentence change it
    other = intro.replace("at MGIMO in", "at HSE in") + sign
    assert "claim.unbacked" in names(run([ClaimsCheck()], message("Anna <anna.sokolova.ir@yandex.ru>", other))[0])


def test_a_journal_writing_through_a_reviewer_system_is_backed_by_it() -> None:
    """Review invitations come from ScholarOne (manuscriptcentral.com) and Editorial Manager
    (editorialmanager.com) in the journal's name: the platform's own domain, not an unrelated one."""
    body = ("Dear Dr Reyes,\n\nYou have been invited to review a manuscript for the journal.\n\nSincerely,\n"
            "Dr Anna Berg\nEditor, Journal of Strategic Studies\n")
    for sender in ("onbehalfof@manuscriptcentral.com", "em@editorialmanager.com"):
        got = names(run([ClaimsCheck()], message(f"Journal of Strategic Studies <{sender}>", body))[0])
        assert "claim.backed" in got and "claim.domain_unrelated" not in got, sender
    got = names(run([ClaimsCheck()], message("Journal of Strategic Studies <a@jss-review.net>", body))[0])
    assert "claim.backed" not in got


def test_a_team_name_beside_the_firm_the_domain_carries_is_not_unrelated() -> None:
    sign = "\n\nBest regards,\nAnanya Rao\nConsultant, Research & Advisory Hiring\n"
    firm = "Tarang Talent Pvt Ltd, Bengaluru\n"
    got = names(run([ClaimsCheck()], message("Ananya <ananya@tarangtalent.in>", "We are hiring." + sign + firm))[0])
    assert "claim.domain_unrelated" not in got
    # without the firm's own name, the team's name alone is still one the domain does not carry
    got = names(run([ClaimsCheck()], message("Ananya <ananya@tarangtalent.in>", "We are hiring an analyst." + sign))[0])
    assert "claim.domain_unrelated" in got


def test_a_department_from_a_listed_universitys_own_domain_is_one_of_its_departments() -> None:
    body = ("Dear Dr Okafor,\n\nWe would be delighted to invite you to give a keynote.\n\nBest regards,\n"
            "Prof. Ahmed Al Mansoori\nProfessor, Department of Computer Science\n"
            "Khalifa University of Science and Technology\n")
    got = names(run([ClaimsCheck()], message("Ahmed <ahmed.almansoori@ku.ac.ae>", body))[0])
    assert "claim.unbacked" not in got
    # a ministry's department from the same domain still is a claim the domain cannot back
    ministry = body.replace("Department of Computer Science", "Ministry of Defence").replace(
        "Khalifa University of Science and Technology\n", "")
    assert "claim.unbacked" in names(run([ClaimsCheck()], message("Ahmed <ahmed.almansoori@ku.ac.ae>", ministry))[0])


def test_the_role_a_recruiter_is_hiring_for_is_not_their_own() -> None:
    for text in ("Hi Ravi, I'm hiring a Senior Advisor, South Asia Policy for a global client.\n",
                 "I am recruiting a senior researcher for the Institute for Maritime Strategy.\n"):
        got = names(run([ClaimsCheck()], message("H <h.zhang.search@gmail.com>", text))[0])
        assert "claim.unbacked" not in got, text
    # the writer's own role is still read
    own = "I'm a senior adviser to the minister.\n"
    got = names(run([ClaimsCheck()], message("H <h.zhang.search@gmail.com>", own))[0])
    assert "claim.unbacked" in got


def test_a_listed_name_with_its_protocol_office_in_the_display_name_is_that_organisation() -> None:
    body = "Sehr geehrte Frau Haddad,\n\ndas Auswärtige Amt lädt Sie herzlich zu einer Weinprobe ein.\n"
    got = run([ClaimsCheck()], message("Auswärtiges Amt - Protokoll <protokoll@mfa-diplomaticevents.eu>", body))[0]
    ev = one(got, "claim.unbacked").evidence
    assert ev["listed"] is True and ev["kind"] == "government"
    # from the organisation's own domain it is backed
    got = run([ClaimsCheck()], message("Auswärtiges Amt - Protokoll <protokoll@diplo.de>", body))[0]
    assert "claim.unbacked" not in names(got)


def test_the_firm_the_domain_spells_out_named_on_a_line_of_its_own() -> None:
    """"Director, Public Policy Practice" above "Corvell Partners | 020 7946 0752" from corvellpartners.com: the
    practice is the firm's (the firm's line holds no role, so it is no claim of its own)."""
    body = ("Hi Marcus,\n\nA quick call before Friday would be ideal.\n\nBest,\nOliver\n\nOliver Brandt\n"
            "Director, Public Policy Practice\n")
    got = names(run([ClaimsCheck()], message("Oliver <o.brandt@corvellpartners.com>",
                                             body + "Corvell Partners | 020 7946 0752\n"))[0])
    assert "claim.domain_unrelated" not in got
    got = names(run([ClaimsCheck()], message("Oliver <o.brandt@corvellpartners.com>", body))[0])
    assert "claim.domain_unrelated" in got


def test_a_university_from_an_academic_domain_that_carries_its_acronym_is_backed() -> None:
    """swot gives Hankuk University of Foreign Studies the domain hufs.kr; its staff write from hufs.ac.kr, an
    academic registry's name carrying the university's acronym."""
    body = ("Dear Dr Okafor,\n\nWe would be honoured to invite you to speak at our forum.\n\nBest regards,\n"
            "Prof. Oh Seung-hee\nHankuk University of Foreign Studies\n")
    got = names(run([ClaimsCheck()], message("Oh Seung-hee <shoh@hufs.ac.kr>", body))[0])
    assert "claim.backed" in got
    got = names(run([ClaimsCheck()], message("Oh Seung-hee <shoh@hufs-forum.org>", body))[0])
    assert "claim.backed" not in got


def test_writing_for_an_office_holder_is_a_claim_of_an_official_place() -> None:
    """"On behalf of the former Ambassador, whose office I assist" from free-mail: the Phosphorus-linked personas
    of an ambassador's office (Check Point, 2022) and Kimsuky's assembly members' secretaries (US/ROK, 2023)."""
    for body, title in (
            ("I am writing on behalf of the former U.S. Ambassador, whose office I assist.",
             "writing for the former U.S. Ambassador"),
            ("Kind regards,\nDana Levi\nOffice of Senator Mark Hale\n", "writing for Senator"),
            ("As personal assistant to the Minister, I would like to ask for a short call.",
             "writing for the Minister")):
        raw = message("Dana Levi <dana.levi.office@gmail.com>", "Dear Mr Holloway,\n\n" + body)
        sig, _ = run([ClaimsCheck()], raw)
        ev = one(sig, "claim.unbacked").evidence
        assert (ev["role"], ev["channel"]) == ("official", "freemail"), body
        assert one(sig, "claim.institutional_role").evidence["title"] == title
    sig, _ = run([ClaimsCheck()], message("Dana Levi <dana.levi.office@gmail.com>",
                                          "Dear Tom,\n\nI met the former Ambassador at the dinner; he was charming."))
    assert "claim.unbacked" not in names(sig)


def test_a_department_above_the_organisation_its_domain_spells_is_a_unit() -> None:
    """"Department of Social Sciences and Humanities" over "Czech Science Foundation (GA ČR)" from gacr.cz: a unit
    of the funder the domain names by its bracketed acronym, not a ministry from a non-government domain. The
    department alone, or over an organisation the domain does not spell, stays a government claim it cannot back."""
    sign = "Kind regards,\n\nTereza Holubova\nDepartment of Social Sciences and Humanities\n"
    body = "Dear Dr Keller,\n\nOne of our expert panels has suggested you as a reviewer.\n\n"
    sig, _ = run([ClaimsCheck()], message("Tereza Holubova <tereza.holubova@gacr.cz>",
                                          body + sign + "Czech Science Foundation (GA ČR)\n"))
    assert "claim.unbacked" not in names(sig)
    for tail in ("", "Office of Research Grants (ORG)\n"):
        sig, _ = run([ClaimsCheck()], message("Tereza Holubova <tereza.holubova@gacr-review.net>", body + sign + tail))
        assert one(sig, "claim.unbacked").evidence["kind"] == "government", tail


def test_letters_re_matches_case_insensitively_to_ascii_ones_name_the_same_role() -> None:
    """Python's `re` matches 'ı', 'İ', 'ſ' and the Kelvin sign to i, s and k without case: the
    role read must be found in the tables too (attack42 #12: "recruıter" raised KeyError and the
    message lost its claims)."""
    for body, from_, role, kind in (
            ("I am a recruıter for a strategic consultancy.\n", "S <s.turner.talent@outlook.com>", "recruiter", None),
            ("I am a journalıst writing on export controls.\n", "S <s.press@gmail.com>", "journalist", None),
            ("I am a senior reſearcher at the Meridian Institute for Strategic Studies.\n", "S <s.r@gmail.com>",
             "researcher", "think_tank"),
            ("Could we speak this week?\n", "JOURNALİST Dana Kerr <dana.kerr.news@gmail.com>", "journalist", None),
            ("Could we speak this week?\n", "\u0436\u0443\u0440\u043d\u0430\u043b\u0438\u1c83\u0442 Dana Kerr "
             "<dana.kerr.news@gmail.com>", "journalist", None),  # a rounded Cyrillic es (review42 #4)
            ("I work at the Meridian Forum, a Brussels-based thınk tank, and would value your views.\n",
             "Dana Kerr <dana.kerr@gmail.com>", "", "think_tank")):
        sig, _ = run([ClaimsCheck()], message(from_, body))
        assert "check.error" not in names(sig), body
        ev = one(sig, "claim.unbacked").evidence
        assert ev["role"] == role and (kind is None or ev["kind"] == kind), (from_, body)


def test_a_claimed_title_keeps_its_acronyms_and_names() -> None:
    """A reason quoted a title lower-cased whole ("former u.s. ambassador", "ceo"); acronyms and names with inner
    capitals are kept as written, other words lower-cased, and no article is guessed (review47 #4)."""
    from gateway.checks.claims import said_role
    assert said_role("Former U.S. Ambassador") == "former U.S. ambassador"
    assert said_role("CEO") == "CEO" and said_role("BBC Reporter") == "BBC reporter"
    assert said_role("Talent Acquisition") == "talent acquisition" and said_role("") == "someone"

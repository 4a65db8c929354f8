"""Asks, offers and pressure: behaviour families, not single phrases."""

from __future__ import annotations

import asyncio
import time

from gateway.checks.pretext import PretextCheck
from gateway.checks.quoting import QuotingCheck
from gateway.store import MessageMeta
from gateway.store.memory import MemoryStore
from gateway.store.record import outbound_keys
from tests.support.messages import message, names, one, run


def sig(body: str, from_: str = "A Stranger <a.stranger@gmail.com>", headers: dict[str, str] | None = None) -> set[str]:
    store = _replied_to() if headers == REPLY else None
    return names(run([PretextCheck(), QuotingCheck()], message(from_, body, headers=headers), store=store)[0])


# a reply carries In-Reply-To or References (RFC 5322 3.6.4): only a reply quotes us, and only a reply
# to a message we sent (the store remembers it: `_replied_to`) or from someone we wrote to may quote us
REPLY = {"In-Reply-To": "<ours-1@example.org>"}


def _replied_to() -> MemoryStore:
    """A store that remembers our message REPLY answers, sent to the default sender."""
    store = MemoryStore()
    meta = MessageMeta(when=time.time() - 86400, direction="outbound", sender="d.prof@example.ac.uk",
                       recipients=("a.stranger@gmail.com",), message_id="<ours-1@example.org>",
                       campaign_keys=outbound_keys("<ours-1@example.org>", ["a.stranger@gmail.com"]))
    asyncio.run(store.record_message(meta, ("example.org", "example.ac.uk")))
    return store


def test_the_benign_opener_is_an_ask() -> None:
    assert "ask.views" in sig("We would be grateful for your views on the sanctions regime.")
    assert "ask.review" in sig("Would you be willing to read my draft and tell me what is missing?")
    assert "ask.contribution" in sig("Would you write around 1,500 words on Beijing's likely reaction?")
    assert "ask.event" in sig("We would be honoured if you could join us as a speaker at our roundtable.")
    assert {"ask.interview", "ask.questions_list"} <= sig(
        "Could you answer a few questions?\n\n1. Will the talks resume?\n2. What does London think?\n")
    assert "ask.interview" in sig("Would you be open to a short exchange? We would send three or four questions.")
    assert "ask.interview" in sig("I will email you 3-5 short questions next week.")
    assert "ask.interview" not in sig("There were three or four questions at the end of the talk.")


def test_offers_are_told_apart_from_money_mentioned_in_passing() -> None:
    assert "offer.money" in sig("We offer our usual honorarium of USD 500.")
    assert "offer.money" in sig("They will pay 1500-3000 USD for 6-10 pages.")
    assert "offer.money" not in sig("The invoice for £340 is attached.")
    assert "offer.money" not in sig("Registration costs £40 for members.")
    assert "offer.travel" in sig("The Centre covers flights, accommodation and meals.")
    assert "offer.partnership" in sig("We hope this is the start of a long-term partnership.")


def test_a_fee_named_to_the_recipient_is_an_offer() -> None:
    """The private-intelligence commission names its fee; a registration fee and a phone bill are no offer."""
    assert "offer.money" in sig("We would like to offer you a fee of CHF 12,000 for a confidential report.")
    # "our standard fee is" is mostly the sender's own price (review37 #3): a translator's quote, a conference's
    assert "offer.money" not in sig("Our standard fee is EUR 0.12 per word; your fee will be invoiced on delivery.")
    assert "offer.money" not in sig("The registration fee of EUR 300 covers lunch.")
    assert "offer.money" not in sig("Our standard registration fee is EUR 300.")
    assert "offer.money" not in sig("We offer paid calls with customers every week.")


def test_the_unpublished_and_the_sources_are_insider_asks() -> None:
    """What did not make it into print; not the writer's own search, nor a call centre's question."""
    assert "ask.insider" in sig("We would be especially interested in anything your mission has drafted but not "
                                "yet published.")
    assert "ask.insider" in sig("In particular anything you learned that did not make it into the published version.")
    assert "ask.insider" not in sig("Could you send the names of any people you spoke to at our call centre?")
    assert "ask.insider" not in sig("I was not able to find anything about it that has not been published.")
    assert "ask.insider" not in sig("Please do not send anything that is not yet published.")
    assert "pressure.secrecy" in sig("Discretion is assured on both sides.")
    assert "pressure.secrecy" not in sig("The committee used its discretion in awarding the prize.")
    assert "pressure.secrecy" not in sig("Awards are made at the complete discretion of the selection panel.")
    # review37 #2: the same words about the writer's own readers, attendees or customers are no insider ask
    for body in ("Could the unpublished reports you cite be made available to the reviewers?",
                 "We welcome anything that has not yet been published.",
                 "Please send a list of the people in your department who will attend the training.",
                 "Could you tell me which equipment I would have access to as a visiting student?"):
        assert "ask.insider" not in sig(body), body


def test_exiles_and_activists_numbers_whereabouts_and_anonymous_sources_are_insider_asks() -> None:
    """The "journalist" or event organiser who maps exiles, activists and sources (transnational
    repression): their numbers, a list of them, where they live, who was quoted anonymously. Asked for,
    and of such people: not the logistics of any event, office or family (review42 #1: 34 of 36 such
    sentences had raised the ask with the first version)."""
    for body in ("Could you send me the phone numbers of the other activists in your group?",
                 "I would be grateful for the contact details of the exiles who spoke at your event.",
                 "We still need the list of diaspora speakers and guests from your last two events by Wednesday.",
                 "Could you give me the whereabouts of the two dissidents?",
                 "Could you forward me the list of people who attended the vigil?",
                 "Can you tell me where the organisers of the protest are staying?",
                 "Could you put me in touch with some of the people you quoted anonymously?",
                 "Who were the anonymous sources in your article about the ministry?"):
        assert "ask.insider" in sig(body), body
    for body in ("Could you please send us the list of participants by Friday so we can print the badges?",
                 "Could you forward me their phone numbers so the driver can pick them up at the airport?",
                 "Please share their contact details with us so we can send the visa invitation letters.",
                 "Could you please provide the names of two referees with their contact details?",
                 "Could you let us know where they live now so we can update the alumni records?",
                 "If you know anyone suitable for the role, please forward me their contact details.",
                 "We need the list of registered participants for security clearance at the venue.",
                 "Can you let me know where she is staying so I can have the flowers sent to her hotel?",
                 "Here are the names of our speakers with their contact details, as promised.",
                 "Attached is the list of participants with their e-mail addresses.",
                 "I do not know where they live now.",
                 "We will share the draft programme and the list of confirmed participants in May.",
                 "I understand you must protect your sources.",
                 "I am writing a story on refugees. Could you send me the report?",
                 "Please do not share the phone numbers of the activists with anyone.",
                 # statements about such people, not asks (the documentation review of session 42)
                 "We need the latest numbers of refugees arriving each month.",
                 "I would like to know the locations of the refugee camps.",
                 "We all know the names of the activists who were arrested.",
                 "We want the names of the protesters released."):
        assert "ask.insider" not in sig(body), body


def test_pressure_and_flattery() -> None:
    assert "pressure.urgency" in sig("I would be grateful for your answers by Friday.")
    assert "pressure.secrecy" in sig("Please keep this between us and don't mention it to your colleagues.")
    assert "approach.flattery" in sig("I read your excellent article on export controls with great interest.")


def test_the_summary_names_what_is_asked_and_offered() -> None:
    sig_, _ = run([PretextCheck()], message("A <a@gmail.com>", "Your views on the reforms? We pay an honorarium."))
    ev = one(sig_, "pretext.summary").evidence
    assert ev == {"asks": "your views", "offers": "payment", "asking": "asks for your views",
                  "wants": "offers payment and asks for your views"}
    # one side empty: the phrase for a reason leaves it out instead of "asks for nothing"
    sig_, _ = run([PretextCheck()], message("A <a@gmail.com>", "We can offer an attractive salary package."))
    ev = one(sig_, "pretext.summary").evidence
    assert (ev["asks"], ev["wants"]) == ("nothing", "offers a salary package")


def test_the_summary_says_each_ask_in_english() -> None:
    """Asks that are things asked for read after "asks for"; asks to do something read after "asks you"
    ("asks for you to open a document" and "asks for you for a job" read in reasons before session 47). A
    reason's placeholder keeps 80 characters: whole asks are left out to fit, never cut mid-word, and the
    offer comes first in `wants` (review47 #1: 9 of 98 reasons about payment had lost the offer to the cut)."""
    body = ("We would value your views on the reforms. Please open the attached document and enable content. "
            "We pay an honorarium.")
    ev = one(run([PretextCheck()], message("A <a@gmail.com>", body))[0], "pretext.summary").evidence
    assert ev["asking"] == "asks for your views, and asks you to open a document or link and more"
    assert ev["wants"] == "offers payment and asks for your views and more"
    assert all(len(ev[k]) <= 80 for k in ("asking", "wants"))
    body = "We are recruiting for a senior analyst role and think you would be a great fit. Could you send your CV?"
    ev = one(run([PretextCheck()], message("A <a@gmail.com>", body))[0], "pretext.summary").evidence
    assert ev["asking"] == "asks for your CV, and asks you to consider a job"


def test_a_quoted_phrase_closes_its_brackets_within_its_width() -> None:
    from gateway.checks.pretext import closed
    assert closed("paid analyses (USD 3,000 per report") == "paid analyses (USD 3,000 per report)"
    assert closed("x" * 70 + " (USD 3,000 per report") == "x" * 70 + " (USD 3,0)"  # 80 with its bracket
    assert closed("[a (b") == "[a (b)]" and closed("plain") == "plain"


def test_internal_mail_is_not_read_for_pretexts() -> None:
    assert sig("Your views on the draft by Friday, please?", "Colleague <c@example.org>") == set()


def test_quoted_replies_are_not_the_strangers_words() -> None:
    body = ("Thanks, that works.\n\nOn Mon, 2 Nov 2026, Me <me@example.org> wrote:\n"
            "> We pay an honorarium for your views.")
    assert not sig(body, headers=REPLY) & {"offer.money", "ask.views"}


APPROACH = "We would be grateful for your views on the sanctions regime. We offer an honorarium of USD 500.\n"


def test_quoted_replies_to_our_side_by_name_or_address_are_cut() -> None:
    """An attribution or Outlook block naming a recipient (address, or name words of the To
    display name or address) or one of ours starts the quoted history: cut."""
    for mark in ("On Mon, 2 Nov 2026 at 18:05, Dana Prof <d.prof@example.ac.uk> wrote:\n",
                 "On Mon, Nov 2, 2026 at 6:05 PM Dana Prof wrote:\n",
                 "________________________________\nFrom: Prof, Dana\nSent: Monday, 2 November 2026 18:05\n",
                 "-----Original Message-----\nFrom: Someone <someone@example.org>\nSent: Monday\n"):
        cues = sig("Thanks, that works.\n\n" + mark + "\n" + APPROACH, headers=REPLY)
        assert not cues & {"offer.money", "ask.views"}, mark


def test_a_mark_that_names_nobody_of_ours_does_not_hide_the_approach() -> None:
    """A stranger's first message has no history with us: a rule under the greeting, a reminder
    over the sender's own 'earlier message', a 'colleague's' message passed on, or a flattering
    'On LinkedIn you wrote:' line are the approach's own framing (attack21: each left the whole
    approach unread)."""
    for framing in ("Dear Dana,\n__________\n\n",
                    "Dear Dana,\n-- Original Message --\n\n",
                    "Just following up on my message below.\n\nOn Mon, 30 Nov 2026 at 09:12, A Stranger "
                    "<a.stranger@gmail.com> wrote:\n\n",
                    "Following up below.\n\nFrom: \"A Stranger\" <a.stranger@gmail.com>\nSent: Monday\nTo: Dana\n\n",
                    "Passing on my colleague's note.\n\nOn Mon, 30 Nov 2026, Lee Wong <lee.wong@gmail.com> wrote:\n",
                    "Dear Dana,\nOn LinkedIn last month you wrote:\n\"Security matters.\" I agree.\n\n"):
        assert {"offer.money", "ask.views"} <= sig(framing + APPROACH), framing


def test_a_message_that_answers_nothing_quotes_only_itself() -> None:
    """Without In-Reply-To or References a message is no reply: what it quotes, '>' lines or under
    an attribution naming one of ours, is its own words (attack22: an approach with '>' before every
    line, or under a made-up attribution naming the recipient, was read as empty)."""
    quoted = "".join("> " + line + "\n" for line in APPROACH.splitlines())
    attributed = "Thanks, as promised.\n\nOn Mon, 2 Nov 2026 at 18:05, Dana Prof <d.prof@example.ac.uk> wrote:\n\n"
    for body in (quoted, ">> " + APPROACH, attributed + APPROACH, attributed + quoted):
        assert {"offer.money", "ask.views"} <= sig(body), body
        assert not sig(body, headers=REPLY) & {"offer.money", "ask.views"}, body


def test_a_made_up_reply_from_a_first_contact_quotes_only_itself() -> None:
    """attack23 Q1: the same with an In-Reply-To that names nothing we sent, from a sender we never
    wrote to (the store knows neither; or there is no store): read, not cut as quoted history."""
    quoted = "".join("> " + line + "\n" for line in APPROACH.splitlines())
    outlook = ("Following up below.\n\n________________________________\nFrom: Dana Prof <d.prof@example.ac.uk>\n"
               "Sent: Monday, 2 November 2026 09:12\nTo: A Stranger\n\n")
    made_up = {"In-Reply-To": "<CAF3xq9Yh2m@mail.gmail.com>"}
    for body in (quoted, outlook + APPROACH):
        for store in (MemoryStore(), None):
            cues = names(run([PretextCheck(), QuotingCheck()], message("A Stranger <a.stranger@gmail.com>", body,
                                                                        headers=made_up), store=store)[0])
            assert {"offer.money", "ask.views"} <= cues, (body, store)


def test_an_attached_draft_is_a_review_request() -> None:
    assert "ask.review" in sig("I've attached the draft - would you mind having a look and telling me what you think?")
    assert "ask.review" not in sig("The minutes are attached; the next meeting is on Monday.")


def test_payment_offered_in_other_words_and_languages() -> None:
    """A fee the recipient would receive, work that 'would be compensated', and the French and
    German pay words of the DGSI and BfV warnings are offers; a fee the recipient pays, or a
    payment confirmation, is not."""
    assert "offer.money" in sig("Consultants receive a fee of USD 400 for the questionnaire.")
    assert "offer.money" in sig("The engagement would be compensated on a consulting basis.")
    assert "offer.money" in sig("Nous vous proposons une collaboration généreusement rémunérée.")
    assert "offer.money" in sig("Für jeden Beitrag zahlen wir ein Honorar.")
    assert "ask.cv" in sig("Pourriez-vous m'adresser un CV à jour ?")
    for text in ("The registration fee is USD 400.", "You will receive a payment confirmation.",
                 "We will receive the payment next week."):
        assert "offer.money" not in sig(text), text


def test_the_benign_opener_in_other_words() -> None:
    """The asks and offers of the guidance in everyday paraphrase: each is recognised, and the
    writer's own travel arrangements are not an offer."""
    cases = {
        "Would you be available for a short interview next week?": "ask.interview",
        "Could we set up a time to talk?": "ask.meeting",
        "Please let me know your availability for a Zoom call.": "ask.meeting",
        "I would be grateful if you could take part in our roundtable in Istanbul.": "ask.event",
        "We would be delighted to have you as a panellist.": "ask.event",
        "We would be honoured to host you in Beijing for a week-long exchange programme.": "ask.event",
        "Would you join a closed-door dialogue with senior officials?": "ask.event",
        "We are looking for contributors to our upcoming edited volume.": "ask.contribution",
        "I'm putting together a special issue and would love a contribution from you.": "ask.contribution",
        "Would you consider joining our advisory board?": "ask.job",
        "Would you be interested in a short consultancy project?": "ask.job",
        "Your flights and hotel will be covered by the organisers.": "offer.travel",
        "Could you introduce me to someone in the Cabinet Office?": "ask.insider",
        "I would like to hear how you see the situation developing.": "ask.views",
    }
    for text, family in cases.items():
        assert family in sig(text), text
    assert "offer.travel" not in sig("I will be travelling; the hotel is booked.")


def test_a_follow_up_pressing_for_an_answer_is_pressure() -> None:
    for text in ("I am following up on my previous email about the roundtable.",
                 "Did you receive my email last week?", "I haven't heard back from you yet.",
                 "Just a gentle reminder about my invitation."):
        assert "pressure.urgency" in sig(text), text
    assert "pressure.urgency" not in sig("I will follow up with the venue about the catering.")


def test_words_ending_in_an_accented_letter_are_matched_whole() -> None:
    """RE2's \\b is ASCII: a word that ends in 'é' has no \\b after it, so 'rémunéré' (the
    masculine, the commonest form), 'résumé' and 'c.v.' never matched their families."""
    for text in ("Ce travail sera rémunéré.", "Il s'agit d'un poste rémunéré et discret.",
                 "Les honoraires: un travail rémunéré"):
        assert "offer.money" in sig(text), text
    for text in ("Could you send me your résumé?", "Pourriez-vous m'envoyer votre résumé ?",
                 "Please send your c.v. by Friday.", "Could you send me your résumé"):
        assert "ask.cv" in sig(text), text
    assert "offer.money" not in sig("La rémunérabilité du capital")  # not a pay word


def test_the_fellow_scientists_small_favour() -> None:
    """A translation, a summary or a paragraph to check is a review ask, an expert's opinion before
    publication asks for views, questions about unpublished work ask for what is not public, and
    praise of the recipient's work in a sentence of its own is flattery (AIVD and MI5/NPSA on
    approaches to scientists; Proofpoint on TA453)."""
    assert "ask.review" in sig("Would you kindly check the English summary we wrote of your method?")
    assert "ask.review" in sig("Could you look at the paragraph below and tell me how you would phrase it?")
    assert "ask.review" not in sig("I read the section on timers in the manual and it works now.")
    assert "ask.views" in sig("I would very much value the opinion of a specialist before publication.")
    assert "ask.views" in sig("Would you agree to read it and send me your remarks?")
    assert "ask.insider" in sig("We also have some questions about the unpublished extension you mentioned.")
    assert "ask.insider" not in sig("The unpublished extension is on my list for next year.")
    # asked for before it is out, or the writer's own news not out yet (a search firm's confidential
    # search, a student's thesis)
    assert "ask.insider" in sig("Could you share the committee's report before it is published?")
    assert "ask.insider" in sig("Would you send me the figures, even though they are not yet public?")
    assert "ask.insider" not in sig("As the incumbent has not yet announced her departure, the search is confidential.")
    assert "ask.insider" not in sig("The proposal draws on interviews from my thesis, which is not yet published.")
    # a commission is the verb (after "to", a modal or a subject, or "commissioning") or a commissioned piece, not
    # the body: a commission someone left, the European Commission, or a piece commissioned from the writer
    for body in ("I've left the commission and I'm trying to set up a small NGO.",
                 "The European Commission and a number of member states agreed.",
                 "The European Commission this week published a study on export controls.",
                 "The Commission you mentioned in your paper has since closed.",
                 "She joined the Commission a year ago as head of research.",
                 "The series was commissioned by BBC Sounds to make a case.",
                 "I spoke to Commission officials about the paper.",
                 "Thanks to Commission funding, the report is out."):
        assert "ask.contribution" not in sig(body), body
    for ask in ("We would like to commission you to write a short essay.",
                "We would like to commission a 1,500-word piece on sanctions.",
                "We wish to commission research on Chinese AI policy.",
                "We would like to commission some research on energy security.",
                "We'd like to commission two short pieces from you.",
                "We would like to  commission some new writing from you.",
                "We can offer you a paid commission for a 1,500-word op-ed.",
                "We want to commission work from you on Taiwan.",
                "We are commissioning a series of reports on export controls.",
                "This is a commissioned article for our spring issue."):
        assert "ask.contribution" in sig(ask), ask
    # a surprise kept from a named person is no secrecy from the organisation
    assert "pressure.secrecy" not in sig("Please don't tell Ben's fiancee the location, it's a surprise.")
    assert "pressure.secrecy" not in sig("Don't tell Sarah about the party!")
    assert "pressure.secrecy" in sig("Please don't tell your colleagues about our conversation.")
    assert "pressure.secrecy" in sig("Don't tell anyone at the ministry that we spoke.")
    assert "pressure.secrecy" in sig("Don't tell Sarah. Please keep this between us and away from your manager.")
    # a list of the staff is asked for, not a reading list for new staff
    assert "ask.insider" in sig("Could you send me a list of your colleagues in the sanctions team?")
    assert "ask.insider" not in sig("We're putting together a reading list on carbon markets for new staff.")
    assert "ask.insider" in sig("A list of the people in your department working on the space files would help.")
    assert "ask.insider" not in sig("A list of the people in your department who will attend would help.")
    assert "ask.insider" not in sig("A list of the people in the photo is on the back.")


def test_internal_material_asked_for_in_the_passive() -> None:
    """'If the internal briefing can be shared' asks for it as 'share the internal briefing' does; the material
    must be what the condition is about, and a refusal is none."""
    assert "ask.insider" in sig("If the draft position paper, or the internal briefing that went to ministers, "
                                "can be shared, I would treat it as strictly for our coordination team.")
    assert "ask.insider" in sig("Could the unpublished figures be shared with us before the meeting?")
    assert "ask.insider" in sig("The confidential minutes could be sent to me by Friday.")
    assert "ask.insider" not in sig("If you have questions about the confidential report, it can be sent to the "
                                    "committee.")
    assert "ask.insider" not in sig("If the internal report cannot be shared, we will wait.")
    assert "ask.insider" not in sig("Internal documents can be shared only through the secure portal.")


def test_partners_in_contact_and_a_visitors_access() -> None:
    """Which partners the recipient deals with, past a parenthesis; which of the host's equipment a visitor
    would use (Trusted Research guidance); not which facilities a visiting student may see in general."""
    assert "ask.insider" in sig("I would also be glad to learn which partners in the UK (ministries, the navy, "
                                "industry) you are in contact with on this topic.")
    assert "ask.insider" in sig("Could you tell me which equipment in your laboratory I would have access to?")
    assert "ask.insider" not in sig("Which facilities would I have access to as a visiting student?")
    assert "ask.insider" not in sig("You mentioned a paper on access to insulin which is not yet published.")
    # a meeting held off the record states its rules; a private conversation kept off the record is an ask
    assert "pressure.secrecy" not in sig("The Roundtable is invitation-only. Discussions are off the record.")
    assert "pressure.secrecy" in sig("Our conversation will stay off the record, of course.")
    assert "pressure.secrecy" in sig("Our conversation will stay off-the-record, of course.")  # hyphens too
    # however the meeting is named ("this session" in a webinar's registration)
    assert "pressure.secrecy" not in sig("Note: this session is off the record and will not be recorded.")
    assert "pressure.secrecy" not in sig("Each seminar is off the record.")
    assert "pressure.secrecy" in sig("This meeting is off the record, just the two of us.")  # (review41b #5)
    # the apostrophe read in the skeleton counts though the text as written says it only where it is taken back
    assert "pressure.secrecy" in sig("Discussions are off the record. Please don\u2019t tell your colleagues.")
    assert "pressure.secrecy" in sig("Don't tell Ben. Please don\u2019t tell your colleagues either.")
    # a messenger group is the move off email, not an event ask beside it
    assert "ask.event" not in sig("Please join our WhatsApp group for the wedding: chat.whatsapp.com/x")
    assert "ask.event" in sig("Please join our WhatsApp group. We would also like to invite you to our workshop.")
    assert "ask.event" in sig("We would like to invite you to join our dialogue on Arctic security.")
    # the recipient's CV is asked for; the writer's own is sent
    assert "ask.cv" in sig("Could you send me your updated CV by Friday?")
    assert "ask.cv" in sig("Je vous invite à nous adresser un CV.")
    assert "ask.cv" not in sig("I attach my CV and a two-page research proposal.")
    assert "ask.cv" not in sig("Please find attached my updated CV.")
    assert "ask.cv" in sig("I attach my CV; could you also send your CV so we can prepare the panel?")
    assert "approach.flattery" in sig("Your 2025 paper on silicon nitride ring resonators is excellent work.")
    assert "approach.flattery" in sig("Your work is really of the highest level.")
    assert "approach.flattery" not in sig("Your patch is excellent, applied.")


def test_the_unnamed_client_in_french_and_german() -> None:
    assert "approach.vague_client" in sig("Nous accompagnons des clients institutionnels asiatiques qui souhaitent "
                                          "mieux comprendre les politiques européennes.")
    assert "approach.vague_client" in sig("Unser Auftraggeber aus Shanghai möchte Sie kennenlernen.")
    assert "approach.vague_client" not in sig("Nous avons des clients.")


def test_an_expert_networks_compliance_reminder_is_not_an_ask_for_inside_information() -> None:
    """Expert networks tell the experts they pay not to share material non-public or confidential
    information: the sentence refuses the inside information; another sentence can still ask."""
    reminder = ("We would like to set up a one-hour paid call on steel safeguards. As always, please don't share "
                "material non-public information or confidential documents about your employer.\n")
    assert "ask.insider" not in sig(reminder)
    assert "ask.insider" not in sig(reminder.replace("please don't share", "you must never share"))
    asks = reminder + "Could you also send the internal documents on the consultation?\n"
    assert "ask.insider" in sig(asks)
    assert "ask.insider" in sig("Please share material non-public information about the consultation.\n")
    # a negation that refuses nothing: the ask stands
    assert "ask.insider" in sig("I have never met you, but could you send the internal documents on the "
                                "consultation?\n")
    assert "ask.insider" in sig("Please don't hesitate to share the internal documents on the consultation.\n")
    assert "ask.insider" not in sig("Please do not disclose or send internal documents on the consultation.\n")


def test_a_meetings_ground_rules_are_not_a_discretion_ask() -> None:
    """Track 2 dialogues and closed roundtables state their terms to every participant: attending in
    a personal capacity, off-the-record discussion, the Chatham House rule. That is not a stranger
    asking the recipient for discretion; an ask beside them still is."""
    for body in ("The dialogue brings together former officials for two days of off-the-record discussion. "
                 "Participants attend in a personal capacity.",
                 "You are invited in your personal capacity as an expert. The meeting is held under the "
                 "Chatham House rule.",
                 "Participants may speak on or off the record, as they prefer."):
        assert "pressure.secrecy" not in sig(body), body
    assert "pressure.secrecy" in sig("Participants attend in a personal capacity. Please keep this between us.")
    assert "pressure.secrecy" in sig("I am contacting you in your personal capacity, not as an official.")
    assert "pressure.secrecy" in sig("Our conversation would be off the record.")


def test_writing_as_if_already_known() -> None:
    """Star Blizzard's, COLDRIVER's and River of Phish's impersonated acquaintance (NCSC 2023, Google TAG 2024,
    Citizen Lab 2024): the words; whether the writer is really a stranger is the policy's (the store)."""
    for text in ("As promised, here is the op-ed on the eastern flank I mentioned.",
                 "Following our discussion at the roundtable, please find attached my notes.",
                 "Here is the draft we discussed last week."):
        assert "approach.claimed_acquaintance" in sig(text), text
    for text in ("We discussed this at length in the committee.", "Thank you for the promised report."):
        assert "approach.claimed_acquaintance" not in sig(text), text
    # the favour asked of the document it brings
    assert "ask.review" in sig("I'd be very grateful for your honest reaction before I send it to the editor.")
    assert "ask.review" in sig("Any corrections welcome before I circulate more widely.")
    assert "ask.review" not in sig("Thank you, I am grateful for your help with the visa.")


def test_a_consultancys_advert_pays_per_project_and_asks_for_the_cv() -> None:
    """The fake consultancy's job advert (Reuters and FDD 2025 on consultancies recruiting laid-off officials):
    pay per project is an offer of money, "reply with your CV" an ask for the CV; one's own CV is not."""
    for body in ("Fully remote, paid per project (typical engagements GBP 2,000-6,000).",
                 "Advisors are retained on a per-engagement basis."):
        assert "offer.money" in sig(body), body
    assert "offer.money" not in sig("The project is paid for by the ministry; each project runs for a year.")
    for body in ("If you are interested, simply reply with your CV and a short note.",
                 "Please email your CV to me by Friday."):
        assert "ask.cv" in sig(body), body
    assert "ask.cv" not in sig("I am happy to reply with my CV if useful.")


def test_who_works_on_what_is_an_ask_only_when_asked() -> None:
    """Asking who works on a file is an insider ask; a relative clause about the writer's own people is not."""
    for body in ("Could you tell me who works on the China desk these days?",
                 "I would like to know who sits in the sanctions unit."):
        assert "ask.insider" in sig(body), body
    assert "ask.insider" not in sig("Would you co-supervise one of my PhD students who works on community policing?")


def test_funding_is_an_offer_only_when_offered() -> None:
    """A grant, a fellowship or an investment offered ("we can offer a research grant", "funding is available",
    "fully funded"), not funding named as a topic or as the writer's own application."""
    for body in ("We can offer a research grant of EUR 20,000.", "Funding is available for two visitors.",
                 "This is a fully funded visiting fellowship.", "Our foundation would like to invest in your project.",
                 "You will receive a stipend of 2,000 a month.",
                 "This letter is to inform you about an investment plan intended in financing profitable businesses.",
                 "There is a genuine need for an investment of a substantial amount in your country.",
                 "You have been selected for a donation/investment worth $2 million."):
        assert "offer.funding" in sig(body), body
    for body in ("Topics: export controls, outbound investment screening and research-security regimes.",
                 "My piece is on nearshoring investment in northern Mexico.",
                 "I am applying for scholarships for my MA next year."):
        assert "offer.funding" not in sig(body), body


def test_pay_by_the_piece_needs_money_before_it() -> None:
    for body in ("The fee is GBP 1,200 per report.", "Payment: 1500-3000 USD per paper.", "We pay $200-250 per piece."):
        assert "offer.money" in sig(body), body
    assert "offer.money" not in sig("The institute will cover accommodation for one author per paper.")


def test_negated_travel_is_no_offer() -> None:
    """"Don't book a hotel!" from a friend who will put you up is no offer to arrange travel; an offer in
    another sentence still is."""
    assert "offer.travel" not in sig("If you come in September you must stay with us. Don't book a hotel!")
    assert "offer.travel" not in sig("There is no need to book flights yet.")
    assert "offer.travel" in sig("Don't book a hotel. We will cover your flights and accommodation.")
    assert "offer.travel" not in sig("Also if you book flights before end of January the Chennai fares are okay.")
    assert "offer.travel" not in sig("You'll need to arrange your own visa, I'm afraid.")
    assert "offer.travel" in sig("If you book flights before January, we will reimburse the tickets.")
    assert "offer.travel" in sig("We will book your hotel and flights.")
    assert "offer.travel" in sig("We will not only cover your flights but also pay an honorarium.")


def test_the_lures_of_devC_read_as_what_they_ask_and_offer() -> None:
    """Pay by the essay or the hour, tokens for advisors, a review asked as "I would value your comments", and
    the ask to run what the message brings (Microsoft on Moonstone Sleet 2024, Unit 42 on Contagious Interview
    2023, the 2023 US/ROK advisory on Kimsuky's macros)."""
    assert "offer.money" in sig("GBP 150 per essay, fully flexible, you can work from home.")
    assert "offer.job" in sig("We can offer an advisor token allocation.")
    assert "ask.review" in sig("I would value your comments before we circulate a revised version.")
    for body in ("As a first step please clone our repository and run the project locally.",
                 "Please enable macros to see the form.", "Download and install the client from the link."):
        assert "ask.document" in sig(body), body
    assert "ask.document" not in sig("We run the project with two partners in Nairobi.")


def test_the_lures_of_devD_read_as_what_they_ask() -> None:
    """Documents in the plural and "download it here" (NOBELIUM's USAID mailing, Microsoft 2021); enable
    the content (Talos on APT28's CyCon flyer, 2017) is an ask to run what the message brings, while a
    newsletter's "download and install" is only an ask to open something; the account-security notice
    (Certfa on Charming Kitten, 2018); a comment from the recipient's organisation, a draft here for review
    (Recorded Future on TA413, 2022)."""
    assert "ask.document" in sig("Donald Trump has published new documents on election fraud\nView documents: "
                                 "https://r20.example.net/tn.jsp")
    assert "ask.document" in sig("Partner organisations can download it here: https://example.net/b4")
    assert {"ask.run", "ask.document"} <= sig('You may need to click "Enable content" when opening it.')
    assert {"ask.run", "ask.document"} <= sig("Please clone our repository and run it locally.")
    assert "ask.run" not in sig("Download and install the new release from our site.")
    assert "ask.document" in sig("Download and install the new release from our site.")
    for body in ("Someone just used your password to try to sign in to your account.",
                 "We stopped this sign-in attempt. Secure your account now.",
                 "Your mailbox will be suspended unless you verify your account."):
        assert "ask.credentials" in sig(body), body
    assert "ask.credentials" not in sig("I changed my password on the shared drive, so log in again tomorrow.")
    assert "ask.interview" in sig("We would like to include a short comment from your organisation.")
    assert "ask.review" in sig("The draft section that mentions you is here for your review: https://x.example")


def test_a_sign_in_with_an_account_named_in_two_words_is_a_credential_ask() -> None:
    """Void Blizzard's summit invitation (Microsoft, May 2025): "sign in with your organisation's Microsoft account";
    "your mail account", "your usual account": a word of the list and an account service's name. An account
    mentioned without a sign-in, a service's own account (a conference system's), or three words away, is not."""
    for body in ("Please scan the code and sign in with your organisation's Microsoft account to confirm your place.",
                 "The viewer asks you to sign in with your mail account so that only invited readers see it.",
                 "Open the folder and log in with your university Microsoft account.",
                 "Sign in with your usual account.",
                 "Sign in with your Microsoft 365 account to open the folder.",  # review36c #4
                 "Log in with your Gmail account to view the document.",
                 "Please sign in with your government email to access the briefing."):
        assert "ask.credentials" in sig(body), body
    assert "ask.credentials" not in sig("Thank you for registering with your account manager last week.")
    for body in ("Please log in with your OpenReview account to accept the reviewing invitation.",  # review36b #8
                 "Visitors can sign in with your home institution eduroam account.",
                 "Submit via EasyChair: sign in with your EasyChair account."):
        assert "ask.credentials" not in sig(body), body
    assert "ask.credentials" not in sig("To unsubscribe, visit our update section, log in with your username and "
                                        "password, and uncheck the box.")  # a newsletter's footer (SpamAssassin ham)
    assert "ask.credentials" in sig("Log in with your work password to read it.")  # one of the list, as before
    assert "ask.credentials" not in sig("You can sign in with your very own shiny new account name tomorrow.")


def test_the_lures_of_devE_read_as_what_they_ask_and_offer() -> None:
    """A document behind a sign-in with the work account (NCSC-UK on Star Blizzard 2023, Proofpoint on TA453);
    a side-loaded app and Office's Korean button labels (DPRK Android lures; AhnLab on Kimsuky); material the
    writer knows is not public, the organisation's contacts, who inside decides (NPSA/MI5; the Mallory and
    Yanjun Xu cases); cash brought in person; discretion asked in the conditional; a meeting as minutes of
    your time; a round table in two words."""
    assert "ask.credentials" in sig("You will need to sign in with your work email to open it.")
    assert "ask.credentials" in sig("Please register with your organisation email.")
    assert "ask.credentials" not in sig("You can sign in to the portal from Monday.")
    assert "ask.run" in sig("It is not on the Play Store yet, so please allow installation from unknown sources.")
    assert "ask.run" in sig("파일이 열리지 않으면 '편집 사용'을 눌러 주십시오.")
    assert "ask.insider" in sig("Would you share the scenario materials you received? They are not public, I know.")
    assert "ask.insider" in sig("I would be glad to learn which partners in the UK you are in contact with.")
    assert "ask.insider" in sig("Who in government is most influential on the policy review?")
    assert "ask.insider" not in sig("The results are not public yet; we will publish them in May.")
    assert "offer.money" in sig("Ken will be in Singapore and can bring the payment in person.")
    assert "pressure.secrecy" in sig("I would be grateful if you did not mention it at work yet.")
    assert "pressure.secrecy" in sig("Our sponsors prefer to keep the programme low-key for now.")
    assert "ask.meeting" in sig("I would be very grateful for 30 minutes of your time, by phone or in person.")
    assert "ask.event" in sig("We would be delighted if you could attend our round table on trade.")


def test_a_hard_wrapped_line_is_one_sentence() -> None:
    """Plain-text mail is wrapped at 72-78 columns: the body's wrapped lines are read as the sentences they are
    (`claims.unwrap_prose`, as the claims read them), so a phrase split by the wrap still counts; a short line, a
    line ending a sentence, a blank line or a bullet still ends it."""
    wrapped = ("(It is not yet on the Play Store while we wait for review, so please allow\n"
               "installation from unknown sources.)")
    assert "ask.run" in sig(wrapped)
    assert "ask.run" not in sig("Please allow.\n\nInstallation from unknown sources is blocked here.")
    # a short line is a line of its own (a heading, a signature), not a wrapped one
    assert "ask.run" not in sig("Please allow\ninstallation from unknown sources only on the test phones.")


def test_the_lures_of_devF_read_as_what_they_ask_and_offer() -> None:
    """A provider's notice in other words (Iranian fake-support accounts; Charming Kitten); a draft to view with
    the work email; how a campaign organises and who decides (The New Yorker on Psy-Group and Black Cube, 2019);
    who on a team leads on a file; the trip covered and the payment for the last reports sent (the Delhi
    journalist's handler, 2020); a contract kept from the university office (FBI, "China: The Risk to
    Academia", 2019)."""
    for body in ("Action required: verify your Microsoft account.",
                 "For your security the account will be suspended on 22 June unless it is verified.",
                 "We have detected several failed attempts to access your Yahoo Mail account.",
                 "Your account was used to sign in from an unrecognised location.",
                 "The draft is on our editorial system; you can view it with your work email here."):
        assert "ask.credentials" in sig(body), body
    assert "ask.credentials" not in sig("Please confirm your attendance by Friday.")
    for body in ("I'm mostly interested in how you organise internally and who makes decisions.",
                 "Could we talk about how the campaign started and who the core people are?",
                 "Who in your team leads on the Iran file these days?"):
        assert "ask.insider" in sig(body), body
    assert "ask.insider" not in sig("Our team leads on the Iran file; we make decisions by consensus.")
    assert "offer.travel" in sig("We can meet in Vientiane in May; of course we cover the trip.")
    assert "offer.money" in sig("Payment for the last two reports has been sent.")
    assert "offer.money" not in sig("The report for the last two quarters has been sent to the board.")
    assert "pressure.secrecy" in sig("There is no need to go through your university office.")


def test_clickfix_and_a_meeting_the_recipient_is_told_about() -> None:
    """ClickFix: a fake check that has the reader paste a command into the Run dialog (Proofpoint, April 2025:
    TA427, TA450, TA422); "we met briefly at the Riga conference" as rapport before the lure (NCSC-UK on Star
    Blizzard, 2023; Google TAG on COLDRIVER, 2024)."""
    assert "ask.run" in sig("Follow the three steps shown (press Windows+R, paste the verification code with "
                            "Ctrl+V and press Enter).")
    assert "ask.run" in sig("Hold the Win key + R, then paste the code with CTRL + V.")
    assert "ask.run" not in sig("Press Enter to continue, then copy the summary into your notes.")
    assert "approach.claimed_acquaintance" in sig("We met briefly at the Riga conference last autumn.")
    assert "approach.claimed_acquaintance" in sig("I think we met years ago through Mark.")
    assert "approach.claimed_acquaintance" not in sig("We meet at the conference every year.")


def test_a_groups_money_plans_movements_and_people() -> None:
    """What a private-intelligence "documentary maker" or a community informant asks of a campaigner: who funds
    them, when the next actions are, where the ship is, which groups and friends are involved (The Sunday Times on
    Hakluyt, 2001; Politico on Black Cube, 2018; US DoJ, the Wang Shujun case, 2022-2024)."""
    for body in ("How do you decide on your targets, and who finances the campaign?",
                 "If you can tell me the dates of the next actions in advance, I can plan the shooting.",
                 "I would like to understand how the groups work together and what each of them is planning.",
                 "Could you tell me roughly when your ship will leave port?",
                 "Even an approximate position would help.",
                 "Could you send me a list of the groups and contact people you work with?",
                 "I would be glad to know which of your Hong Kong friends in the UK are likely to come.",
                 "Do you know who is organising, what is planned and who will speak?"):
        assert "ask.insider" in sig(body), body
    for body in ("Our campaign is financed by small donations; who funds it is on our website.",
                 "The dates of the next meetings are on the committee page.",
                 "We are planning a workshop in May and would love you to come.",
                 "The ship leaves port on Monday, as the press release says.",
                 "Which of your colleagues will attend the workshop?"):
        assert "ask.insider" not in sig(body), body
    assert "pressure.secrecy" in sig("Please keep this between the two of us.")
    assert "pressure.secrecy" in sig("Of course we will keep it among our circle.")


def test_pairing_a_messenger_account_is_a_sign_in_ask() -> None:
    """A QR code "to join the group" or "link Signal Desktop" pairs the sender's device with the account
    (Google Threat Intelligence on UNC5792/UNC4221, 2025; Microsoft on Star Blizzard's WhatsApp lure, 2025)."""
    for body in ("Join via the link, or scan the QR code in Signal on your phone.",
                 "Приєднатися можна за посиланням (або відскануйте QR-код у Signal на телефоні).",
                 "Please link Signal Desktop as described on this page first.",
                 "Scan the QR code with WhatsApp to join the group."):
        assert "ask.credentials" in sig(body), body
    assert "ask.credentials" not in sig("We can talk on Signal if you prefer; my number is below.")
    assert "ask.credentials" not in sig("Scan the QR code on the poster to see the programme.")


def test_a_fund_set_aside_for_causes_like_yours_is_offered_funding() -> None:
    """Black Cube's fake investors offered NGOs money from a fund (Politico, 2018)."""
    assert "offer.funding" in sig("We have recently set aside a fund for social-impact projects in Europe.")
    assert "offer.funding" not in sig("The government set up a fund for flood victims last year.")


def test_antivirus_off_named_programs_login_notices_and_paid_favours() -> None:
    """devJ's misses, each a behaviour with a cited source in the pattern's comment."""
    run_asks = ("Maybe your antivirus blocks it, it is normal with these files, you can switch it off for one minute.",
                "Please disable your antivirus before opening the archive.",
                "Open it with the viewer in the archive (DocViewer.exe), password: evin2025",
                "There is an installer in the same folder (TelegramDesktopSetup.exe) if yours is old.")
    for body in run_asks:
        assert "ask.run" in sig(body), body
    assert "ask.run" not in sig("The site is built with Node.js and React.")
    assert "ask.run" not in sig("I use some weird registry hacks and a hacked notepad.exe to get there.")
    assert "ask.run" not in sig("From the command line, use this syntax: Rundll32.exe advapi32.dll")
    assert "ask.run" not in sig("Our firewall was switched off during the outage, IT says.")
    for body in ("We detected a login to your Telegram account from a desktop session.",
                 "This session will be terminated in 24 hours."):
        assert "ask.credentials" in sig(body), body
    for body in ("Our members are trying to understand who from the department will be on the autumn trade mission.",
                 "What topics are on the internal agenda?",
                 "Please also give me the number of your colleague who works on the detainees file.",
                 "I am particularly interested in which funders support litigation.",
                 "You may also include information you have gathered in your work which was not published before."):
        assert "ask.insider" in sig(body), body
    assert "ask.insider" not in sig("The agenda for the workshop is attached.")
    assert "ask.insider" not in sig("Please include the data from the 2019 report, which was published in May.")
    for body in ("Compensation is generous and entirely at market rates or above.",
                 "I would of course pay you for your time as a consultant.",
                 "I am happy to compensate you for your trouble, of course.",
                 "This is a short, paid engagement - a one-hour phone consultation at 400-600 USD per hour."):
        assert "offer.money" in sig(body), body
    assert "offer.money" not in sig("My rate is 35 USD per hour, and I can start immediately.")
    assert "offer.money" not in sig("Paid consultation: one hour by phone with our client.")
    assert "offer.money" not in sig("Thank you for your time and your help with the report.")
    assert "offer.travel" in sig("The round-trip flight, hotel and a daily allowance are covered by the Congress.")
    assert "offer.travel" not in sig("The hotel is booked for the whole team.")
    assert "pressure.secrecy" in sig("It would stay between us.")
    assert "pressure.secrecy" in sig("Some of it is from phones of people inside so please do not forward it.")
    assert "approach.claimed_acquaintance" in sig("As I promised in Berlin, here is the footage.")
    assert "approach.claimed_acquaintance" in sig("We met briefly last week at the panel on Baltic security.")


def _bold(text: str) -> str:
    """`text` in bold mathematical letters (U+1D400...), as a stranger can paste it."""
    return "".join(chr(0x1D400 + ord(c) - 65) if c.isupper() else chr(0x1D41A + ord(c) - 97) if c.islower() else c
                   for c in text)


def test_a_reader_reads_the_cue_phrases_through_these_disguises() -> None:
    """attack42: each disguise hid the phrase from the families while a reader reads it as written
    plainly. #1 a line all in letters of no script (bold mathematical, full-width); #2 blanks: two
    spaces or a tab between the words, a braille blank beside each space, thin spaces as the line's
    word spaces; #6 a combining mark outside the diacritical blocks; #9 a Latin letter with a hook;
    #14 en dashes; #15 other apostrophes."""
    secrecy = "Please keep this between us."
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in secrecy)
    for body in (_bold(secrecy), fullwidth, "Hello Dana,\n" + _bold(secrecy) + "\nBest, Lee",
                 secrecy.replace(" ", "  "), secrecy.replace(" ", "\t"), secrecy.replace(" ", " \u2800"),
                 secrecy.replace(" ", "\u2009"), secrecy.replace(" ", "\u202f"),
                 "Please keep this betw\u0651een us.", "Please keep this bet\u0483ween us.",
                 "Please kee\U0001d167p this between us.",
                 "This conversation is off\u2013the\u2013record.", "This conversation is off\u2014the\u2014record.",
                 "Please don\u02bbt tell your colleagues.", "Please don\ua78ct tell your colleagues.",
                 "Please don`t tell your colleagues.",
                 # review42 #3: thin spaces in a line that has spaces too, a split in every word, trailing blanks
                 "Please keep\u2009this\u2009between\u2009us and reply soon when you can.",
                 "Plea\u200ase kee\u200ap thi\u200as bet\u200aween u\u200as.",
                 secrecy.replace(" ", "\u2009") + " \u00a0" * 30,
                 # review42 #6
                 "This conversation is off\u2043the\u2043record.", "Please don\u02eet tell your colleagues.",
                 "Please don\u0313t tell your colleagues."):
        assert "pressure.secrecy" in sig(body), repr(body)
    assert "offer.money" in sig("We offer an \u0266onorarium of USD 500.")
    # a split word stays one word: one narrow space in a line of spaced words is a split, not a space
    assert "pressure.secrecy" in sig("Please keep this be\u200atween us and reply soon.")

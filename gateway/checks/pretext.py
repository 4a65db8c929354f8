"""What a message asks for, what it offers, and how it presses: the pretext's moving parts.

Purpose: the typical first message of a covert approach asks for nothing secret -- "your views
on", a few interview questions with a deadline, "review my draft", a commissioned article, an
invitation to a roundtable or a webinar, a call -- and often offers something (an honorarium,
paid travel, a job, funding, a "long-term partnership"), flatters, hurries or asks for
discretion. The families below describe those behaviours as the public guidance and reports
describe them, in general words rather than any one message's: NPSA/MI5 "Think Before You Link"
(paid "insights", flattery, invitations abroad, discretion); Proofpoint on TA453 (benign
conversation starters, "review my draft", multi-persona threads) and TA427 (journalists' and
think tanks' interview questions with deadlines and honoraria); Microsoft on Mint Sandstorm
(podcast and webinar invitations), Star Blizzard (documents to review, WhatsApp groups) and
Sapphire Sleet (investors, recruiters); the 2023 US/ROK Kimsuky advisory (questionnaires,
honoraria); FBI "The Nevernight Connection" (paid papers, travel); ASIO's and BfV's warnings on
fake consultancies and recruiters. Each family emits one signal with the phrase it matched as
evidence; policies combine them with who is writing.

Untrusted input: the message text (a stranger's): at most `MAX_TEXT` characters, linear
patterns with bounded gaps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from gateway.checks import Check, CheckContext, signal
from gateway.checks.claims import QuotedHistory, own_words, unwrap_prose
from gateway.checks.origin import Origin, internal_sender
from gateway.checks.social import Persona
from gateway.model import Signal
from gateway.regex import Regex, RegexSet
from gateway.textsafe import cue_skeleton, one_space

MAX_TEXT = 20_000
_G = r"[^.!?\n]{0,40}?"  # a bounded gap inside one sentence
_G_SCREEN = r"[^.!?\n]*?"  # the same gap unbounded: what the families' set searches (see _COMPILED)
# internal material and its passing on, in the insider asks written in the passive (`ask.insider`)
_MATERIAL = r"\b(?:documents?|papers?|memos?|briefings?|reports?|minutes|drafts?|assessments?|figures|correspondence)\b"
_PASSED = r"(?:shared|sent|passed (?:on|along)?|forwarded|made available)"
# The end of a word that may end in a non-ASCII letter ("rémunéré", "résumé", "c.v."): RE2's \b is
# ASCII and finds no boundary after "é" or "."; this consumes the character after the word instead.
_END = r"(?:[^\pL\pN_]|$)"
# Asking for something: the recipient asked to send it on ("could you (simply) forward", "please send", "send me"),
# or the writer's need of it ("we still need", "I would be grateful for"), or to be told it
_ASK_FOR = (r"(?:\b(?:you(?: (?:could|can|would|might|will))?|please|kindly)(?: (?:simply|just|also|please|"
            r"kindly))? (?:send|forward|share|give|pass(?: on| along)?|provide|e-?mail|tell)\b|\b(?:send|forward|give|"
            r"pass|e-?mail|provide|tell) (?:me|us)\b|\bsend (?:it |them )?over\b|\blet (?:me|us) (?:have|know)\b|"
            r"\b(?:need|require|grateful for|appreciate|looking for|find out)\b)")
# whom a state that reaches across borders maps (the FBI's and Freedom House's descriptions of transnational
# repression: dissidents, activists, exiles, the diaspora, refugees, protesters, opposition figures, human rights
# defenders), named in the sentence; not anyone's ("their phone numbers so the driver can pick them up", "the list of
# participants for the badges", "where they live now for the alumni records": review42 #1)
_TARGET = (r"\b(?:activists?|dissidents?|exiles?|exiled|diaspora|refugees?|asylum[- ]seekers?|defectors?|"
           r"protesters?|demonstrators?|human rights defenders?|opposition (?:figures?|members?|activists?|"
           r"politicians?|groups?)|critics of the (?:government|regime|president|party)|(?:organi[sz]ers|leaders|"
           r"members) of the (?:protests?|demonstrations?|vigils?|rall(?:y|ies)|movement)|people who (?:attended|"
           r"joined|took part in|organi[sz]ed) the (?:protests?|demonstrations?|vigils?|rall(?:y|ies)))\b")
# what of them: their numbers, addresses, whereabouts, names or a list of them (not "numbers of refugees arriving each
# month", "the locations of the camps": review42 docs #2)
_ABOUT_THEM = (r"\b(?:(?:personal |private |home |mobile |direct )?(?:phone numbers?|mobile numbers?|"
               r"e-?mail addresses|e-?mails|addresses)|contact details|contact information|whereabouts|"
               r"names|identities|(?:guest|attendee|participants?) lists?|lists?)\b")
# "a few questions", "three or four questions", "3-5 short questions"
_NUM_Q = (r"(?:a few|a couple of|some|several|(?:two|three|four|five|\d)(?: or (?:three|four|five|six)|"
          r"\s*[-–]\s*\d)?) (?:short |brief |quick )?questions")

# Asking to run what the message brings: its own family (ask.run) for the unmistakable requests --
# enable the macros, run the repository on your machine -- and, with the generic "download and install"
# that software newsletters write too (SpamAssassin's ham: Lindows, Mozilla posts), an ask to open a
# document (ask.document).
_RUN = (r"\bclone (?:our|the|this|my) (?:repo|repository|project)\b"
        r"|\brun (?:it|(?:the|our|this) (?:project|code|app|game)) (?:locally|on your)\b"
        r"|\b(?:allow|enable) (?:the )?(?:unsigned |unverified )?(?:launcher|macros?|content|editing)\b"
        # the side-loaded app (ESET and Zscaler on DPRK Android lures for defectors and their supporters)
        r"|\b(?:allow|enable) (?:the )?install(?:ation|s)? (?:of apps )?from unknown sources\b"
        # "ClickFix": a fake check that has the reader paste a command into the Run dialog (Proofpoint, "State-
        # Sponsored Actors Try ClickFix", April 2025: TA427, TA450, UNK_RemoteRogue, TA422; Microsoft, 2025)
        r"|\b(?:press|hold|hit|use)\b[^.!?\n]{0,30}?\b(?:windows|win)(?: key)? ?\+ ?r\b"
        r"|\bpaste\b[^.!?\n]{0,60}?\b(?:ctrl|cmd|command) ?\+ ?v\b"
        # Office's own button labels in Korean, which Kimsuky's documents ask for (AhnLab ASEC's reports, 2022-2024:
        # "편집 사용" Enable Editing, "콘텐츠 사용" Enable Content)
        r"|편집\s?사용|콘텐츠\s?사용"
        # the security software switched off so the lure runs ("your antivirus blocks it, switch it off for a
        # minute": the FBI's 2026 FLASH on MOIS's Telegram-controlled malware; the 2023 US/ROK advisory on Kimsuky)
        r"|\b(?:switch|turn|shut) (?:off|down) (?:your |the )?(?:antivirus|anti-virus|virus scanner|defender|firewall|"
        r"security software)\b|\b(?:switch|turn) (?:it|them) off\b[^.!?\n]{0,40}?\b(?:antivirus|anti-virus|defender)\b"
        r"|\b(?:antivirus|anti-virus|defender)\b[^.!?\n]{0,60}?\b(?:switch|turn) (?:it|them) off\b"
        r"|\bdisable (?:your |the )?(?:antivirus|anti-virus|virus scanner|defender|firewall|security software)\b"
        # a program named in the text to run: the "viewer in the archive (DocViewer.exe)", the messenger's
        # "installer (TelegramDesktopSetup.exe)" (FBI FLASH, 2026; Google TAG on the fake vulnerability
        # researchers' Visual Studio project, 2021; Kimsuky's LNK and HTA lures, AhnLab 2023-2024)
        # (named as what to open or install, not a program a technical post talks about: "a hacked notepad.exe",
        # "use this syntax: Rundll32.exe" in real list mail)
        r"|\b(?:open|launch|install|double[- ]click|execute)\b" + _G + r"\b[\w-]{2,40}\.(?:exe|msi|scr|hta|lnk|vbs)\b"
        r"|\b(?:viewer|installer|setup|launcher|player|codec)\b[^.!?\n]{0,40}?\b[\w-]{2,40}\.(?:exe|msi|scr|hta|lnk|"
        r"vbs)\b")
_INSTALL = (r"\b(?:download|install) (?:and (?:install|run)|the (?:client|installer|launcher|app|beta|game))\b"
            r"|\brun (?:the|our|this) (?:installer|launcher|client|script|setup file)\b")

FAMILIES: dict[str, tuple[str, str]] = {
    # ---- asks
    "ask.views": ("asks for the recipient's views, insights or analysis", (
        r"\byour (?:views?|thoughts|insights?|perspectives?|opinions?|take|assessment|analysis|comments|input|"
        r"expertise|advice|reflections|reading) (?:on|about|regarding|of|concerning)\b"
        r"|\b(?:share|give|offer|provide|hear|get|learn)\b" + _G + r"\byour (?:views?|thoughts|insights?|perspectives?|"
        r"opinions?|take|expertise|analysis)\b"
        r"|\bpick your brains?\b|\bwhat (?:do|would) you (?:think|make) (?:of|about)\b"
        r"|\bexpert (?:views?|opinions?|comments?|input|insights?)\b")),
    "ask.interview": ("asks for an interview, answers to questions, or a quote", (
        r"\b(?:interview|Q ?& ?A)\b" + _G + r"\b(?:you|with you|request)\b"
        r"|\binterview request\b|\brequest (?:for|an?) interview\b"
        r"|\b(?:answer|respond to|reply to)\b" + _G + r"\b(?:a few|some|several|three|four|five|these|the following|"
        r"my|our|short|brief)\b" + _G + r"\bquestions?\b"
        r"|\b(?:could|would|can|will) you\b" + _G + r"\b(?:a few|some|several|three|four|five|these|the following|"
        r"short|brief) (?:short |brief )?questions\b"
        # "we would send three or four questions", "I will email you 3-5 questions" (Proofpoint on
        # TA453 and TA427: the questions come by email, a handful at a time)
        r"|\b(?:send|email|e-mail|put to|ask) (?:you )?" + _NUM_Q + r"\b"
        r"|\b(?:quote|comment|statement) from (?:you|your (?:organi[sz]ation|institute|office|team|group|centre|center|"
        r"department))\b|\b(?:speak|talk|comment|chat) (?:to|with) (?:you|me)\b" + _G
        + r"\bfor (?:an?|my|our) (?:article|piece|story|feature|report|programme|documentary|broadcast)\b")),
    "ask.review": ("asks the recipient to read, review or comment on a draft or document", (
        r"\b(?:review|read|look (?:at|over)|comment on|go through|have a look at|take a look at|give feedback on|"
        r"feedback on)\b" + _G + r"\b(?:my|our|the attached|this|a) (?:draft|manuscript|paper|article|piece|chapter|"
        r"report|document|proposal|slides|text|essay|outline)\b|\b(?:would|could|can) you\b" + _G
        + r"\bpeer[- ]review\b"
        # "I've attached the draft - would you mind having a look?" (Star Blizzard's and TA453's
        # drafts to review, NCSC 2023; Proofpoint 2022)
        r"|\b(?:attached|enclosed|attaching|enclosing)\b" + _G + r"\b(?:my|our|the|a) (?:draft|manuscript|"
        r"chapter|paper)\b"
        # "I'd be very grateful for your honest reaction before I send it to the editor", "any corrections
        # welcome before I circulate it": the same favour, asked of a document the message brings
        r"|\bgrateful for your (?:honest |frank |candid |quick )?(?:reaction|comments|feedback|corrections)\b"
        # "the draft section that mentions you is here for your review" (TA413's fake outlets, Recorded Future 2022)
        r"|\b(?:here|attached|enclosed|below) for your (?:review|comments|corrections|approval)\b"
        r"|\b(?:any )?(?:comments|corrections) (?:are |would be )?(?:very |most )?welcome before\b")),
    "ask.contribution": ("asks the recipient to write or contribute something (a paper, article, note, chapter)", (
        r"\b(?:write|contribute|author|prepare|produce|draft|submit)\b" + _G + r"\b(?:article|piece|essay|op-?ed|"
        r"commentary|column|chapter|paper|policy (?:note|brief|paper)|note|report|analysis|memo|briefing|"
        r"submission)s?\b"
        r"|\bcall for (?:papers|contributions|submissions|abstracts|proposals|chapters)\b"
        # the verb, not the body ("I've left the commission and I'm ...", "the European Commission and a ...", "I
        # spoke to Commission officials"): after "like to", "want to" ..., a modal or a subject ("we would like to
        # commission research", "we commission two pieces"), or "commissioning"; "commissioned" with its object or
        # before a piece, not "commissioned by"
        r"|\b(?:(?:like|love|want|wish|hope|plan|intend|keen|happy|glad|pleased|delighted|able|going) to|will|would|"
        r"could|can|may|might|we|I|they|you|also|please)\s+commission\b" + _G
        + r"\b(?:you|piece|article|paper|research|report|essay|analysis|chapter|study|op-?ed|commentary|briefing|"
        r"note|work|writing)s?\b"
        # the noun offered as paid writing ("a paid commission for a 1,500-word op-ed")
        r"|\b(?:a|paid|writing) commission\s+(?:for|to write)\b" + _G + r"\b(?:piece|article|paper|research|report|"
        r"essay|analysis|chapter|study|op-?ed|commentary|briefing|note)s?\b"
        r"|\bcommissioning\b" + _G + r"\b(?:piece|article|paper|research|report|essay|analysis|chapter|study|"
        r"op-?ed|commentary|briefing|note)s?\b"
        r"|\bcommissioned (?:(?:a|an|this|the|some|two|three|several|\d[\d,-]*)\b" + _G + r"\b)?(?:piece|article|"
        r"paper|research|report|essay|analysis|chapter|study|op-?ed|commentary|briefing|note)s?\b"
        r"|\b\d[\d,]{0,6}(?:\s*[-–]\s*\d[\d,]{0,6})? (?:words|pages)\b")),
    "ask.event": ("invites the recipient to speak at or join an event, visit or group", (
        r"\b(?:invite|invitation|invited|join (?:us|our)|speak|speaker|panel(?:ist)?|keynote|present|participate|"
        r"attend|"
        r"guest)\b" + _G + r"\b(?:conference|round[- ]?table|workshop|seminar|symposium|forum|dialogue|summit|"
        r"webinar|podcast|panel|lecture|session|delegation|visit|exchange|retreat|meeting|group|study tour|"
        r"programme|program|episode)s?\b"
        r"|\b(?:conference|roundtable|workshop|seminar|symposium|forum|summit|webinar|podcast)\b" + _G
        + r"\b(?:invite|invitation|join|speak|participate|attend)\b")),
    "ask.meeting": ("asks for a call, a video meeting or an in-person meeting", (
        r"\b(?:a |an )?(?:quick |short |brief |informal |introductory |intro |exploratory |\d{1,2}[- ]minute )?"
        r"(?:call|chat|meeting|coffee|video call|video meeting|zoom|teams call|conversation|catch-up)\b" + _G
        + r"\b(?:with you|next week|this week|to discuss|when you|if you|at your|would you|could we|can we)\b"
        r"|\b(?:meet|speak|talk)\b(?: with)? you\b|\bavailable (?:for|to) (?:a )?(?:call|chat|meet)")),
    "ask.survey": ("asks the recipient to complete a survey, questionnaire or form", (
        r"\b(?:survey|questionnaire|registration form|expert registration)\b")),
    "ask.document": ("asks the recipient to open a document or link, or to sign in to see it", (
        r"\b(?:open|download|view|access|see|find|review|read)\b" + _G + r"\b(?:attached|attachments?|documents?|"
        r"files?|links?|shared folders?|folders?|drive|onedrive|one drive|dropbox|sharepoint|google docs?|pdfs?|"
        r"docx|flyer|brochure|(?:information |briefing |delegate |press )pack)\b"
        r"|\b(?:click|follow|use) (?:the|this|my) link\b|\b(?:sign|log) ?in\b" + _G + r"\b(?:view|access|open|read)\b"
        r"|\bpassword\b" + _G + r"\b(?:document|file|pdf|archive|zip)s?\b"
        # "can download it here", "view them here: <link>" (NOBELIUM's USAID mailing, Microsoft 2021)
        r"|\b(?:download|view|open|access) (?:it|them) (?:here|below)\b"
        r"|" + _INSTALL + r"|" + _RUN)),
    # ... or to run what it brings: the fake studio's game client, the "coding test" repository, the macro
    # (Microsoft on Moonstone Sleet, 2024; Unit 42 on Contagious Interview, 2023; the 2023 US/ROK advisory on
    # Kimsuky's macro documents; Cisco Talos on APT28's CyCon flyer, 2017: "enable content")
    "ask.run": ("asks the recipient to run code, install software or enable macros or editing", _RUN),
    # a fake account-security notice: "someone has your password", "secure your account now" (Certfa and AP on
    # Charming Kitten's sign-in lures, 2018; NCSC-UK on Star Blizzard, 2023; Google TAG on hack-for-hire
    # groups, 2020-2022)
    "ask.credentials": ("asks the recipient to sign in, verify or secure an account, as a security notice does", (
        r"\b(?:someone|somebody|an unknown (?:person|device|user)) (?:has |just )?(?:used|has|knows|tried to use|"
        r"attempted to use) your password\b"
        r"|\b(?:unusual|suspicious|unrecogni[sz]ed|blocked|new) (?:sign[- ]?in|log[- ]?in|login)"
        r"(?: attempt| activity)?\b"
        r"|\b(?:sign[- ]?in|log[- ]?in|login) attempt\b"
        r"|\b(?:secure|verify|confirm|re-?activate|unlock|validate) your (?:[\w-]+ ){0,2}?(?:account|mailbox|identity|"
        r"password|credentials)\b"
        r"|\baccount (?:will be|has been|is being|is) (?:temporarily )?(?:suspended|locked|deactivated|closed|"
        r"restricted|disabled)\b"
        r"|\b(?:failed|unauthori[sz]ed|suspicious) (?:sign[- ]?in |log[- ]?in |login )?attempts? to (?:access|sign in|"
        r"log in|use)\b|\bfrom an? (?:unrecogni[sz]ed|unknown|new) (?:location|device|browser)\b"
        r"|\byour (?:password|mailbox|account) (?:will |is about to |has )?(?:expire[sd]?|be (?:suspended|"
        r"deactivated|closed|locked)|been (?:compromised|suspended|locked))\b"
        # ... or to read what it brings: "sign in with your work email to open it", "register with your
        # organisation email" (NCSC-UK on Star Blizzard, 2023: a document behind a fake sign-in page; Proofpoint
        # on TA453, 2021-2024: credential pages behind a "secure" review room or a webinar registration)
        r"|\b(?:(?:sign|log)(?:[- ]?in| on)|(?:view|open|access|read) (?:it|them|the \w+))\b" + _G
        # with a word of this list before the account, and an account service's name ("your organisation's
        # Microsoft account": Microsoft on Void Blizzard's summit invitation, May 2025; "your mail account", "your
        # usual account"); not any two words: "log in with your OpenReview account" is how a conference invites a
        # reviewer, "your username and password" how a newsletter says where to unsubscribe (review36b #8)
        + r"\bwith your (?:work |organi[sz]ation(?:'s)? |organi[sz]ational |institutional |office |university |"
        r"company |corporate |own |usual |existing |mail |business |professional |government )?"
        r"(?:microsoft (?:365 |office )?|google |gmail |outlook |office ?365 |o365 |yahoo )?"
        r"(?:e-?mail|account|credentials|password)\b"
        r"|\bregister with your (?:work |organi[sz]ation(?:'s)? |institutional |office |university |company |"
        r"corporate )(?:e-?mail|account|address)\b"
        # ... or to pair a messenger account with the sender's device: a QR code "to join the group" or to "link
        # Signal Desktop" that links the attacker's device to the account (Google Threat Intelligence on
        # UNC5792 and UNC4221, February 2025; Microsoft on Star Blizzard's WhatsApp QR codes, January 2025)
        r"|\bqr[- ]?(?:code|код)\w*" + _G + r"\b(?:signal|whatsapp|telegram)\b"
        r"|\b(?:signal|whatsapp|telegram)\b" + _G + r"\bqr[- ]?(?:code|код)"
        r"|\blink(?:ing)? (?:your )?(?:signal|whatsapp|telegram) (?:desktop|web|account|to)\b"
        r"|\blinked devices?\b"
        # the messenger's fake support notice: "we detected a login to your Telegram account ... this session will
        # be terminated" (FBI FLASH on MOIS's Telegram lures, 2026; Google TAG on COLDRIVER's account alerts, 2024)
        r"|\b(?:detected|noticed|recorded|registered) (?:a |an )?(?:new |unusual |suspicious )?"
        r"(?:sign[- ]?in|log[- ]?in|login|session) (?:to|on|from|in)\b"
        r"|\bsession (?:will be|has been|is being) (?:terminated|suspended|closed|locked|revoked)\b")),
    "ask.cv": ("asks for the recipient's CV or resume", (
        r"\b(?:send|share|forward|attach|reply with|respond with|e-?mail|envoyer|adresser|transmettre|schicken|"
        r"senden)\b"
        + _G
        + r"\b(?:cv|c\.v\.|resume|résumé|curriculum vitae|lebenslauf)" + _END
        + r"|\b(?:updated|latest) (?:cv|resume)\b")),
    "ask.insider": ("asks for non-public, internal or personal information about the organisation or colleagues", (
        r"\b(?:share|send|provide|tell|give|pass (?:on|along)|forward|get|obtain|access|let me (?:see|have)|"
        r"insights? into|details? (?:of|on|about))\b" + _G + r"\b(?:internal|non-public|unpublished|confidential|"
        r"classified|restricted|closed-door|behind-the-scenes)\b" + _G + r"\b(?:documents?|papers?|memos?|"
        r"information|data|details|reports?|briefings?|discussions?|deliberations?|thinking|views|positions?|"
        r"assessments?|plans?|decisions?|correspondence|minutes|figures)\b"
        r"|\bhow (?:the|your) (?:government|ministry|department|team|organisation|organization|committee|office|"
        r"institute|cabinet)\b" + _G + r"\b(?:really |actually |internally )?(?:thinks?|decides?|is (?:planning|"
        r"thinking|considering)|views?)\b"
        r"|\b(?:names|contact details|contacts|emails?)\b" + _G + r"\b(?:of |for )?(?:your |the )?(?:colleagues|"
        r"staff|team members|students|officials|experts|people (?:in|at) your)\b"
        # a list of the people, not "a reading list on carbon markets for new staff"
        r"|\blist of (?:your |the )?(?:colleagues|staff|team members|students|officials|experts)\b"
        # ... or of the people in the recipient's office ("a list of the people in your department working on
        # the space files"): the same map of who works on what (NPSA "Think Before You Link")
        r"|\blist of (?:the )?people (?:in|at|of|from) your (?:department|team|office|unit|ministry|division|"
        # (who works on what, not who attends)
        r"section|directorate|organi[sz]ation|institute|agency|group)\b" + _G + r"\b(?:working on|who work on|"
        r"who works on|responsible for|covering|handling|dealing with|in charge of)\b"
        r"|\b(?:org(?:anisation|anization)?al? chart|team structure)\b"
        # who works on what is asked for ("could you tell me who works on ..."), not a relative clause ("one of
        # my PhD students who works on community policing")
        r"|\b(?:tell|know|find out|share|list|name|identify|wonder\w*)\b" + _G
        + r"\bwho (?:works|sits|reports) (?:on|in|to)\b"
        # asked for before publication ("could you share the report before it is published"); not the writer's
        # own news ("the incumbent has not yet announced her departure", "my thesis, not yet published")
        r"|\b(?:share|send|show|forward|pass|get|see|read|preview)\b" + _G
        + r"\b(?:before (?:it is|they are)|not yet) (?:published|public|announced|released)\b"
        # material the writer knows is not public ("the scenario materials ... They are not public, I know"),
        # the organisation's contacts ("which partners ... you are in contact with") and who inside decides ("who
        # in government is most influential"): building the picture of people and networks (NPSA/MI5 "Think
        # Before You Link"; the MSS taskings in the Mallory and Yanjun Xu cases, US DoJ 2018-2019)
        r"|\b(?:they|it|these|this|which) (?:are|is) not (?:yet )?public,? I know\b"
        # (a gap of 60: "which partners in the UK (ministries, the navy, industry) you are in contact with")
        r"|\b(?:which|what) (?:partners|people|officials|organi[sz]ations|institutions|contacts)\b[^.!?\n]{0,60}?"
        r"\b(?:you|your (?:organi[sz]ation|team|office|institute)) (?:are|is|were|was) in (?:contact|touch) with\b"
        r"|\bwhether your (?:organi[sz]ation|team|office|institute) is in (?:contact|touch) with\b"
        r"|\bwho (?:in|at|inside) (?:the |your )?(?:government|ministry|department|cabinet|administration|parliament|"
        r"team|office|unit|organi[sz]ation|group|campaign)\b" + _G + r"\b(?:influential|decides?|in charge|responsible|"
        r"makes? the decisions?|leads?|handles?|covers?)\b"
        # how a group works inside and who its people are: what a private-intelligence firm's "documentary maker" or
        # "student" collects on a campaign (The New Yorker on Psy-Group and Black Cube, 2019)
        r"|\bwho makes (?:the )?decisions\b|\bhow (?:you|your (?:team|group|organi[sz]ation|campaign)) (?:are )?"
        r"organi[sz]e[ds]? internally\b"
        r"|\bwho (?:the|your) (?:core|key|main) (?:people|members|staff|organi[sz]ers) are\b"
        # a group's money, plans, movements and people, asked of one of its members: the private-intelligence
        # "documentary maker" who asked campaigners who funds them, when the next actions are and which groups
        # they work with (The Sunday Times on Hakluyt's agent, 2001; The Observer and Politico on Black Cube's
        # approaches to NGO staff, 2018), and the community informant who asks which dissidents will come and
        # what is planned for a leader's visit (US DoJ, the Wang Shujun case, 2022-2024; FBI and NPSA guidance on
        # transnational repression)
        r"|\bwho (?:finances|funds|bankrolls|pays for|is (?:financing|funding|paying for|bankrolling))\b" + _G
        + r"\b(?:campaigns?|work|organi[sz]ation|group|groups|project|protests?|actions?|activities|movement|you)\b"
        r"|\b(?:dates?|timing|times?|locations?|routes?|plans?) (?:of|for) (?:the|your|their) (?:next|upcoming|"
        r"planned|coming) (?:actions?|protests?|demonstrations?|blockades?|occupations?|direct actions?)\b"
        r"|\bwhat (?:each of them|they|the (?:other )?groups?|your (?:partners|partner groups|group|groups|campaign|"
        r"movement|friends)) (?:is|are) planning\b"
        r"|\bwho (?:is|are) organi[sz]ing\b" + _G + r"\bwhat (?:is|are) (?:being )?planned\b"
        r"|\b(?:approximate|exact|current|precise|rough) (?:position|location|whereabouts)\b"
        r"|\bwhen (?:your|the|their) (?:ship|vessel|boat|convoy|flotilla|activists?) (?:will )?(?:leaves?|departs?|"
        r"sails?|arrives?)\b"
        r"|\b(?:list|names|details) of (?:the |your )?(?:groups|organi[sz]ations|partners|people|contacts|activists|"
        r"members)\b" + _G + r"\byou (?:work|are working|cooperate|collaborate) with\b"
        r"|\bwhich of your (?:[\w-]+ ){0,3}(?:friends|contacts|fellow activists|compatriots|members)\b" + _G
        + r"\b(?:come|attend|join|be there|take part|be involved|participate)\b"
        r"|\bwhich (?:funders|donors|sponsors|foundations) (?:support|fund|finance|are behind|pay for)\b"
        # who from an office travels and what it will discuss inside (Säpo, "Så värvas en agent": the favour that
        # maps people and agendas; NPSA "Think Before You Link")
        r"|\bwho from (?:the|your) (?:department|ministry|office|team|unit|embassy|delegation|agency|committee) will "
        r"(?:be|attend|go|travel|join)\b"
        r"|\b(?:internal|closed-door) agendas?\b"
        # a colleague's number or address asked for ("give me the number of your colleague who works on ...":
        # building the network, as the names and contacts of colleagues above)
        r"|\b(?:number|phone number|mobile|e-?mail|address|contact|contact details) of your (?:colleague|boss|"
        r"manager|director|assistant|secretary)\b"
        # internal material asked for in the passive, as a condition ("if the draft position paper, or the internal
        # briefing that went to ministers, can be shared, I would treat it as strictly for our team": the material
        # is the condition's subject, not "if you have questions about the report, it can be sent to ...") or asked to
        # come to the writer ("could be passed to me"): the same ask as "share the internal briefing" (NPSA and
        # MI5 "Think Before You Link"; the Mallory case's requests for non-public papers, US DoJ 2018)
        r"|\bif (?:the|any|your|a|an|some|this|that|these|those)\b[^.!?\n]{0,60}?\b(?:internal|non-public|"
        r"confidential|classified|restricted)\b" + _G + _MATERIAL + _G + r"\b(?:can|could|might) be " + _PASSED + r"\b"
        r"|\b(?:internal|non-public|unpublished|confidential|classified|restricted)\b" + _G + _MATERIAL
        + _G + r"\b(?:can|could|might) be " + _PASSED + r" (?:with|to) (?:me|us)\b"
        r"|\b(?:could|can|might|would) (?:the|any|your|some)\b[^.!?\n]{0,60}?\b(?:internal|non-public|unpublished|"
        r"confidential|classified|restricted)\b" + _G + _MATERIAL + _G + r"\bbe " + _PASSED
        + r" (?:with|to) (?:me|us)\b"  # to the writer, not "made available to the reviewers"
        # a visitor asking which of the host's equipment or facilities they would use (NPSA/NCSC "Trusted
        # Research" guidance for academia: visiting researchers who seek access to facilities and sensitive
        # projects; ASPI, "Picking flowers, making honey", 2018)
        r"|\b(?:which|what) (?:equipment|facilities|instruments|instrumentation|machines|laboratories|labs) (?:in|at|"
        r"of) your (?:institute|centre|center|facility|site|department|agency|ministry|company|organi[sz]ation|"
        r"laboratory|lab|group)\b" + _G
        + r"\b(?:I|we) (?:would|could|will|might|can) (?:have|get|gain|be given) access to\b"
        # what the recipient knows beyond the published text ("anything your mission has drafted but not yet
        # published", "anything you learned that did not make it into the published version"): the expert-network
        # and private-intelligence ask for the unpublished (the 2010-2011 US expert-network cases; The Observer on
        # Black Cube, 2018; NPSA "Think Before You Link"). Not "the names of any people you spoke to": a call
        # centre asks it too (review37 #2)
        r"|\b(?:interested in|grateful for|appreciate|value|welcome|share|send|tell (?:me|us)|include|add|especially|"
        r"particularly|in particular)\b[^.!?\n]{0,20}?\banything (?:(?:that |which )?(?:you|your \w+))\b"
        r"[^.!?\n]{0,60}?\b(?:not (?:yet )?(?:been )?"
        r"(?:published|made public|released)|(?:didn't|did not|"
        r"never) make it into the (?:published|final|public) (?:version|report|paper|text|article))\b"
        # material not yet published, asked for inside a paper or an answer ("you may also include information
        # you have gathered which was not published before": Shane Harris on the Tehran congress's call for papers,
        # 2015; the Mallory case's "white papers", US DoJ 2018)
        r"|\b(?:include|add|share|send|use)\b" + _G + r"\b(?:information|material|data|details|documents?|findings)"
        r"\b[^.!?\n]{0,40}?\b(?:which|that) (?:was|were|has|have|had) not (?:been )?(?:published|made public|released)"
        r"\b"
        # the numbers, addresses, whereabouts and names of a diaspora's exiles, activists and dissidents ("could you
        # send me the phone numbers of the other activists", "we still need the list of diaspora speakers and guests",
        # "tell me where the exiles live now"), and who the recipient's anonymous sources are ("put me in touch with
        # the people you quoted anonymously"): the "journalist" or "event organiser" who maps them for a state (the
        # FBI's PSA on transnational repression, April 2024: services "collect personal information on individuals"
        # their regimes target; the Turkish MIT's front news and photo agencies that monitored critics abroad and
        # their contacts, devO SOURCES-b; the Wang Shujun case, US DoJ 2022-2024). Asked for, and of those people:
        # not "the list of participants" or "their phone numbers" for the badges or the taxi (review42 #1)
        r"|" + _ASK_FOR + _G + _ABOUT_THEM + _G + _TARGET + r"|" + _ASK_FOR + _G + _TARGET + _G + _ABOUT_THEM
        + r"|" + _ASK_FOR + _G + r"\bwhere (?:the |these |those |your )?" + _TARGET
        + r"\b[^.!?\n]{0,30}?\b(?:lives?|live|living|works?|stays?|staying|are|is)\b"
        r"|\b(?:introduce (?:me|us)|put (?:me|us) in touch|connect (?:me|us)|names|identities|identity|contact "
        r"details|numbers|contacts?|who (?:were|are|was|is))\b" + _G + r"\b(?:(?:your |the )?(?:anonymous|confidential|"
        r"unnamed) sources|(?:the )?(?:people|journalists|activists|exiles|interviewees|sources) (?:you|whom you|that "
        r"you) quoted (?:anonymously|without naming them)|quoted anonymously)\b")),
    "ask.job": ("offers or discusses a job, a role or a position for the recipient", (
        r"\b(?:position|role|opportunity|vacancy|job|opening|post)\b" + _G + r"\b(?:interested|apply|consider|suit|fit|"
        r"open to|for you)\b|\b(?:recruiting|hiring|headhunting) (?:for|a|an)\b|\bjob description\b|\bJD\b")),
    # ---- offers
    "offer.money": ("offers the recipient money for their time, writing or views: an honorarium, a fee, pay by "
                    "the report or page", (
        r"\bhonorari(?:um|a)\b|\b(?:consultancy|consulting|speaker'?s?|advisory|writing|research|contributor) fees?\b"
        # "consultants receive a fee of USD 400", "the engagement would be compensated on a consulting
        # basis" (the 2023 US/ROK advisory on Kimsuky: paid questionnaires; NPSA and ASIO on consultancies
        # that pay for "insights"); French and German pay words (DGSI 2023 "collaboration rémunérée";
        # BfV 2017 "Honorar")
        r"|\b(?:you|experts?|consultants?|contributors?|participants?|respondents?|authors?|speakers?|panell?ists?)"
        r"\s+(?:will\s+|would\s+|can\s+|shall\s+)?(?:also\s+)?(?:receive|earn|get|be offered)\s+(?:a|an)\s+"
        r"(?:modest |small |generous |standard )?(?:fee|honorarium|stipend|remuneration)\b"
        r"|\b(?:engagement|collaboration|contribution|participation|assignment|time|input|work|role|report|"
        r"analysis|paper|note)s?\s+(?:would|will|is to|shall)\s+be\s+(?:\w+\s+)?(?:compensated|remunerated|paid)\b"
        r"|\b(?:r(?:é|e)mun(?:é|e)r(?:é|e)e?s?|g(?:é|e)n(?:é|e)reusement r(?:é|e)mun\w*|r(?:é|e)mun(?:é|e)ration|"
        r"honoraires|Honorar|verg(?:ü|u)tet|Verg(?:ü|u)tung)" + _END +
        r"|\b(?:we|they|our clients?|our partners?|the client|my client)\s+(?:will\s+|would\s+|can\s+|could\s+|are "
        r"happy to\s+|offer to\s+)?(?:pay|remunerate|compensate)\s+(?:you|for your|experts?|contributors?|\d|[$€£]|"
        r"usd|eur|gbp|well|generously)"
        r"|\byou(?:'ll| will| would)? (?:be|get) (?:paid|compensated|remunerated)\b"
        # the pay praised or promised by the writer himself ("compensation is generous": the Tenet Media
        # indictment, US DoJ 2024; "I would of course pay you for your time as a consultant", "compensate you for
        # your trouble": Säpo's and NPSA's accounts of the paid favour), and a rate written number first ("400-600
        # USD per hour": the fake consultancies' adverts, Reuters and FDD 2025)
        r"|\b(?:compensation|remuneration|pay|payment|fees?) (?:is|are|will be|would be) (?:very |extremely |highly )?"
        r"(?:generous|attractive|significant|substantial|excellent)\b"
        r"|\bI (?:will|would|can|could|shall) (?:of course |also |gladly |happily |naturally )?(?:pay|compensate|"
        r"remunerate|reward) you\b|\b(?:compensate|pay|reward|remunerate) you for your (?:trouble|time|help|efforts?)\b"
        r"|\b(?:at|paid|pays|paying|offers?|offering|fee of|honorarium of)\s+(?:[a-z]+\s+)?\d[\d,.]*(?:\s*[-–]\s*"
        r"\d[\d,.]*)?\s?(?:usd|eur|gbp|dollars|euros|pounds)\s+(?:an|per) (?:hour|session|question|call|consultation)\b"
        r"|\bpaid (?:research|consultanc\w*|column|role|advisory|collaboration|writing|contributor|"
        r"opportunit\w*|papers?|reports?|insights?|input|survey)\b|\bremunerat(?:ed|ion) (?:for|of|is)\b"
        # a fee offered to the recipient ("offer you a fee of CHF 12,000 for a confidential report"): the
        # private-intelligence firm's commission (The New Yorker on Alp Services, 2023; Black Cube's paid
        # consultations, The Observer 2018), not a registration fee ("the registration fee of EUR 300"); not "our
        # standard fee is", mostly the sender's own price (review37 #3), nor "paid consultation" alone, the expert
        # networks' own words (600b72e)
        r"|\b(?:offer|offering|pay|paying|give)\s+you\s+(?:a\s+)?(?:\w+\s+)?(?:fee|honorarium|sum|payment)\s+of\b"
        r"|\b(?:generous(?:ly)?|well) (?:rewarded|compensated|remunerated)\b|\bwell[- ]paid\b"
        r"|\bcompensat(?:ed|ion) (?:generously|for your (?:time|input|expertise))\b"
        # money by the piece ("USD 2,000 per report", "paid per article"), not a count ("one author per paper")
        r"|(?:\d|[$€£]|\bpaid\b|\bpay\w*|\bfees?\b|\bhonorari\w*)[^.!?\n]{0,25}?"
        r"\bper (?:report|article|page|paper|piece|essay|post|blog post|column|memo|brief|note|chapter|answer)\b"
        # the fake consultancy's job advert: "paid per project", "on a per-engagement basis" (Reuters and FDD,
        # 2025, on the network of consultancies recruiting laid-off US officials; NPSA "Think Before You Link")
        r"|\bpaid (?:per|by the) (?:project|engagement|assignment|task|report|brief|briefing|memo)\b"
        r"|\bper[- ](?:project|engagement|assignment) (?:basis|fees?|rates?)\b"
        r"|(?:[$€£]|\b(?:usd|eur|gbp) ?)\d[\d,.]*[^.\n]{0,20}\bper (?:hour|"
        r"session|question)\b|\btoken of (?:our )?appreciation\b|\bpay for your time\b"
        r"|\b(?:generous|very generous|attractive) (?:compensation|remuneration)\b"
        # cash handed over ("can bring the payment in person"): the handler's fee in the Kõuts and Mallory cases
        r"|\b(?:bring|hand(?: over)?|deliver) (?:you )?(?:the |your )?(?:payment|fee|money|cash)\b"
        r"|\b(?:paid|payment|fee) in cash\b"
        # the handler's next message: "payment for the last two reports has been sent" (the Delhi journalist paid
        # per piece, Delhi Police 2020; the Mallory case, US DoJ 2018)
        r"|\b(?:payment|fees?|money) for (?:the|your|our)(?: \w+){0,3}? (?:reports?|articles?|papers?|pieces?|"
        r"briefings?|notes|analys[ie]s|work) (?:has|have) (?:been|now been|already been) "
        r"(?:sent|paid|transferred|wired)\b")),
    "offer.travel": ("offers to pay or arrange travel, flights or accommodation", (
        r"\b(?:cover|covers|covered|covering|pay for|pays for|fund|funded|reimburse\w*|arrange|arranged|provide|"
        r"provided|book|booked|take care of|sponsor\w*)\b" + _G + r"\b(?:flights?|travel|air ?fares?|tickets?|"
        r"accommodation|hotel|lodging|expenses|visa|transport|trip|journey)\b"
        r"|\ball (?:expenses|costs) (?:paid|covered)\b|\b(?:business|first)[- ]class\b|\btravel (?:grant|support|costs|"
        r"bursary|bursaries)\b|\bexpenses[- ]paid\b")),
    "offer.job": ("offers employment terms: salary, package, relocation, equity", (
        r"\b(?:salary|(?:compensation |pay |excellent |attractive |very strong |strong )package|relocation|equity|"
        r"stock options|sign(?:ing)?-on bonus|tokens|token allocations?|advis[oe]r (?:tokens|shares))\b")),
    "offer.partnership": ("offers a long-term or strategic relationship", (
        r"\blong[- ]term (?:partnership|cooperation|collaboration|relationship|engagement)\b"
        r"|\b(?:ongoing|strategic|lasting|regular) (?:partnership|collaboration|relationship|cooperation|engagement)\b"
        r"|\b(?:future|further) (?:cooperation|collaboration)\b")),
    "offer.funding": ("offers funding, a grant, a fellowship or an investment", (
        # offered, not a topic: "we can offer a research grant", "the fellowship covers", "funding is available",
        # "fully funded"; "outbound investment screening", "nearshoring investment", "I am applying for
        # scholarships" name funding without offering any (dev7: a call for papers and a journalist's questions)
        r"\b(?:offer\w*|provid\w*|award\w*|receiv\w*|eligible for|secured|cover\w*|includ\w*|"
        r"(?:we|i|they) (?:have|has|can give)|"
        r"(?:a|an|the|our|your|this)(?: [\w-]+){0,2} (?:paid|funded|fully[- ]funded|generous))\b" + _G
        + r"\b(?:research )?(?:grant|funding|fellowship|scholarship|bursary|investment|sponsorship|stipend)s?\b"
        r"|\b(?:grant|funding|fellowship|scholarship|bursary|sponsorship|stipend|investment)s?\b[^.!?\n]{0,30}?"
        r"\b(?:is|are|will be|would be|can be|has been)\s+(?:\w+\s+)?(?:available|provided|offered|awarded|"
        r"allocated|secured|yours)\b"
        r"|\b(?:fully|generously|well)[- ]funded\b|\b(?:funded|sponsored) (?:fellowship|position|visit|trip|"
        r"programme|program|residency|research)\b|\binvest(?:ing)? in (?:you|your)\b"
        r"|\b(?:solid|generous|full) funding\b"
        # a fund the writer's firm has set aside for causes like the recipient's (Black Cube's fake investors
        # offering NGOs money, Politico 2018; Psy-Group's fake funders, The New Yorker 2019)
        r"|\b(?:we|i|my firm|our firm|our foundation|my foundation) (?:have |has )?(?:recently |just )?(?:set up|set "
        r"aside|established|created|launched|earmarked) (?:a |an )?(?:new |dedicated |special )?(?:[\w-]+ ){0,2}"
        r"fund\b"
        r"|\b(?:research|travel|project|seed|start-?up) (?:grant|funding)s?\b|\bfellowships? (?:of|worth|with)\b"
        # an investment proposed to the recipient (the advance-fee lure's "investment plan", "an investment of a
        # substantial amount in your country", "an investment transaction with you": real phishing corpus)
        r"|\b(?:an|this|my|our) investment (?:plan|transaction|opportunit\w*|proposal|offer|partnership|deal)\b"
        r"|\binvestments? (?:of|worth) (?:a |an |\$|usd|eur|gbp|\d)")),
    # ---- pressure and persuasion
    "pressure.urgency": ("sets a deadline or presses for a quick answer", (
        r"\b(?:by|before|until) (?:this |next |the end of (?:the |this )?)?(?:monday|tuesday|wednesday|thursday|friday|"
        r"saturday|sunday|tomorrow|tonight|weekend|week|month|end of (?:the )?(?:day|week|month))\b"
        r"|\b(?:by|before) (?:\d{1,2}(?:st|nd|rd|th)? (?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\w*|"
        r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\w* \d{1,2})\b"
        r"|\bwithin (?:the next )?\d{1,3} (?:hours|days)\b|\bas soon as possible\b|\basap\b|\burgent(?:ly)?\b"
        r"|\bdeadline\b|\btime[- ]sensitive\b|\bat (?:your )?earliest convenience\b")),
    "pressure.secrecy": ("asks for discretion: keep it confidential, off the record, away from the employer", (
        r"\b(?:keep|treat|hold)\b" + _G + r"\b(?:confidential|between us|between the two of us|among (?:us|ourselves|"
        r"our circle)|private|discreet)\b"
        r"|\b(?:don't|do not|no need to|not necessary to|better not to)\b" + _G + r"\b(?:tell|inform|mention|involve|"
        # "copy in your colleagues", not "do not have a copy" (real list mail)
        r"copy (?:in|them|him|her|anyone|your|colleagues)|cc|loop in|share (?:this|it) with)\b"
        r"|\b(?:stay|remain|be kept) between (?:us|ourselves|the two of us)\b"
        r"|\b(?:please )?(?:do not|don't) forward (?:it|this|them|the \w+)\b"
        r"|\boff[- ]the[- ]record\b|\bstrictly confidential\b|\bin (?:strict |complete |the strictest )?confidence\b"
        r"|\b(?:be|remain|stay) discreet\b|\bdiscreetly\b|\bpersonal capacity\b"
        r"|\bdiscretion (?:is|will be) (?:assured|guaranteed)\b|\b(?:assured|guaranteed) discretion\b"
        r"|\b(?:outside|not through) (?:the )?official "
        r"channels\b|\bjust between (?:us|you and me)\b|\bconfidential (?:search|matter|project|client)\b"
        # the same ask in the past or conditional ("grateful if you did not mention it at work"), and "keep the
        # programme low-key" (NPSA/MI5 "Think Before You Link": the approach asks to keep it from the employer)
        r"|\b(?:did not|didn't|would not|wouldn't)\b" + _G + r"\bmention (?:it|this|the \w+|our \w+) (?:at work|to "
        r"(?:anyone|your colleagues|your employer|your manager))\b"
        r"|\bkeep (?:the|this|it|our|things)(?: [\w-]+)? low[- ]key\b"
        # around the employer ("no need to go through your university office": FBI "China: The Risk to Academia",
        # 2019, on talent-programme contracts kept from the home institution)
        r"|\b(?:no need|not necessary|without (?:having|needing)) to (?:go through|involve|inform|tell) (?:your|the) "
        r"(?:university|office|employer|institution|department|hr|human resources|faculty|ministry|embassy)\b")),
    "approach.flattery": ("praises the recipient's work, expertise or reputation", (
        r"\byour (?:excellent|impressive|brilliant|outstanding|insightful|remarkable|fascinating|great|thoughtful|"
        r"important|valuable|extensive|long|deep|rich|unique|invaluable|widely read)\b" + _G
        + r"\b(?:work|research|paper|article|publications?|analysis|expertise|experience|talk|presentation|profile|"
        r"reputation|insights?|contributions?|background|knowledge|thread|writing|book)\b"
        r"|\b(?:read|followed|admired|enjoyed|came across|noticed|been following)\b" + _G + r"\byour (?:work|research|"
        r"paper|article|publications|profile|writing|talk|lecture|book|thread|posts?|commentary|analysis)\b"
        r"|\b(?:renowned|leading|distinguished|eminent|respected|prominent|recognised|recognized) (?:expert|scholar|"
        r"authority|specialist|voice|figure)\b|\bhighly (?:respected|regarded|recommended)\b"
        r"|\byour name (?:came up|was (?:at the top|recommended|suggested|mentioned))\b"
        r"|\b(?:recommended|suggested) (?:you|your name)\b|\b(?:an )?expert (?:like|such as) yourself\b"
        r"|\bwould (?:greatly |really )?value your\b|\bexactly what our clients\b")),
    # Writing as if the recipient already knows the writer: Star Blizzard / SEABORGIUM and TA453 "impersonate
    # known contacts" and build rapport before the lure (NCSC advisory, December 2023; Microsoft, August 2022);
    # COLDRIVER's SPICA PDF comes "as promised" (Google TAG, January 2024); River of Phish poses as someone the
    # target knows (Citizen Lab and Access Now, August 2024). Only first contacts make it a cue (policy).
    "approach.claimed_acquaintance": ("writes as if the recipient already knows the writer: as promised, as "
                                      "we discussed, following our conversation, the draft I mentioned", (
        r"\bas (?:I |we )?promised\b|\bas (?:we |I )?(?:discussed|agreed)\b"
        r"|\bfollowing (?:up on )?our (?:recent |brief )?(?:discussion|conversation|call|chat|meeting|exchange|talk)\b"
        r"|\b(?:the|my|our) (?:[\w-]+ ){1,2}?(?:I|we) (?:mentioned|discussed|talked about|spoke about)\b"
        # a meeting the recipient is told about ("we met briefly at the Riga conference", "I think we met years ago
        # through Mark": NCSC-UK on Star Blizzard, 2023, and Google TAG on COLDRIVER, 2024: rapport first)
        r"|\bwe (?:met|spoke) (?:briefly |once |years ago |recently )?(?:last (?:week|month|year|autumn|spring|"
        r"summer|winter) )?"
        r"(?:at|in|through|during)\b")),
    "approach.vague_client": ("acts for an unnamed client, partner or principal (NPSA, BfV, FBI: the client "
                              "who 'wishes to remain anonymous')", (
        # "our clients are", "one of our partner in", "my client who", "a client from"; not "a GTK client
        # that" or "my consulting clients" (software and one's own customers: real list mail)
        r"\b(?:(?:our|one of our)\s+(?:\w+\s+){0,2}?|(?:a|my)\s+)(?:clients?|partners?|sponsors?|principals?)\s+"
        r"(?:in|from|based in|who|that|wishes|prefers|is|are|would|has|have|looking)\b"
        r"|\b(?:i|we)\s+represent\s+(?:a|an|several|some|one)\b"
        r"|\b(?:a|an)\s+(?:well-known|leading|major|prestigious|reputable|large|respected|select|prominent)\s+"
        r"(?:think tank|company|client|firm|organi[sz]ation|institution|institute|network|group|investor|fund)\b"
        r"|\bclients? (?:who|that) (?:wish|prefer)s? to remain anonymous\b")),
    "topic.sensitive": ("is about a subject the guidance names as targeted: defence, security, foreign policy, "
                        "sanctions, sensitive technology, named states", (
        r"\b(?:nuclear|missile|defen[cs]e|military|sanctions|export controls?|intelligence|cyber\w*|"
        r"semiconductors?|quantum|artificial intelligence|AI|critical infrastructure|national security|"
        r"foreign policy|security policy|arms|weapons?|drones?|UAV|hypersonic|space|satellite|dual-use|"
        r"North Korea\w*|DPRK|Pyongyang|Iran\w*|Tehran|China|Chinese|Beijing|Taiwan|Hong Kong|Xinjiang|Tibet|"
        r"Russia\w*|Kremlin|Ukrain\w*|NATO|Indo-Pacific|South China Sea|Gulf|Middle East|unification|"
        r"denucleari[sz]ation|proliferation|counter-?terrorism|diplomatic|diplomacy|ministry|government policy)\b")),
}
# How a reason names each family ("asks for your views and an interview; offers an honorarium").
SAYS = {
    "ask.views": "your views", "ask.interview": "an interview or a quote", "ask.review": "a review of a draft",
    "ask.contribution": "a paper or article", "ask.event": "you to join an event", "ask.meeting": "a call or meeting",
    "ask.survey": "a survey or form", "ask.document": "you to open a document or link", "ask.cv": "your CV",
    "ask.run": "you to run code or enable macros", "ask.credentials": "you to sign in to an account",
    "ask.insider": "non-public information", "ask.job": "you for a job", "ask.questions_list": "answers to questions",
    "offer.money": "payment", "offer.travel": "paid travel", "offer.job": "a salary package",
    "offer.partnership": "a long-term partnership", "offer.funding": "funding",
}
# The asks a reason says with a verb ("asks you to open a document or link"), not as a thing asked for: "asks
# for you to open a document" and "asks for you for a job" are not English (session 47).
SAYS_TO = {
    "ask.event": "to join an event", "ask.survey": "to fill in a survey or form",
    "ask.document": "to open a document or link", "ask.run": "to run code or enable macros",
    "ask.credentials": "to sign in to an account", "ask.job": "to consider a job",
}


ASKING_WIDTH = 80  # what a reason's placeholder keeps (gateway/policy/text.py VALUE_CAP)


def asking(names: list[str], width: int = ASKING_WIDTH) -> str:
    """The asks of `names` as one verb phrase: "asks for your views and an interview", "asks you to open
    a document or link", or both, ", and "-joined; at most three asks, in the order found, and no more than
    fit in `width` characters: whole asks are left out ("and more"), never cut mid-word (review47 #1)."""
    asks = list(dict.fromkeys(n for n in names if n.startswith("ask.")))[:3]
    for n in range(len(asks), 0, -1):
        kept = asks[:n]
        things = _words([SAYS[a] for a in kept if a not in SAYS_TO])
        deeds = _words([SAYS_TO[a] for a in kept if a in SAYS_TO])
        said = ", and ".join(p for p in (things and f"asks for {things}", deeds and f"asks you {deeds}") if p)
        if n < len(asks):
            said += " and more"
        if len(said) <= width or n == 1:
            return said
    return ""


# The same asks and offers in the other words the guidance's examples use (NPSA/MI5 "Think Before
# You Link"; Proofpoint on TA453/TA427; Microsoft on Mint Sandstorm: "available for a short
# interview", "take part in our roundtable", "have you as a panellist", "host you for an exchange
# programme", "join our advisory board", "a short consultancy project", "your flights and hotel
# will be covered", "introduce me to someone in..."), written as behaviours, not from any one
# message; each extends its family's pattern.
_MORE: dict[str, str] = {
    "ask.interview": (
        r"\b(?:available|time|willing|agree|open|free) (?:for|to do|to give) (?:a|an) (?:short |brief |quick |phone |"
        r"telephone |video |zoom |email |e-mail |written |recorded )?(?:interview|comment|quote|q ?& ?a)\b"
        r"|\b(?:do|give|grant|arrange|schedule|set up) (?:a|an) (?:short |brief |quick |phone |video |zoom |email |"
        r"written )?interview\b"),
    "ask.meeting": (
        r"\b(?:set up|arrange|schedule|find|fix|book|propose) (?:a )?(?:time|call|meeting|slot|chat|zoom|video call)\b"
        r"|\b(?:\d{1,2}|fifteen|twenty|thirty|forty-five) minutes of your time\b"
        r"|\b(?:your )?availability (?:for|to) (?:a |an )?(?:short |quick |brief |introductory )?(?:call|meeting|"
        r"chat|zoom|teams|video|conversation|coffee)\b"
        r"|\b(?:a|an) (?:short |quick |brief |introductory )?(?:zoom|teams|skype|video|phone|telephone) (?:call|chat|"
        r"meeting|conversation)\b"),
    "ask.event": (
        r"\b(?:take part|taking part|join (?:a|an|the)|host you|hosting you|welcome you)\b" + _G
        + r"\b(?:conference|round[- ]?table|workshop|seminar|symposium|forum|dialogue|summit|webinar|"
        r"podcast|panel|lecture|session|delegation|visit|exchange|retreat|study tour|programme|program|"
        r"discussion|meeting|network|group)s?\b"
        r"|\bhave you (?:as|on) (?:a |an |our )?(?:speaker|panell?ist|guest|participant|discussant|moderator|"
        r"keynote|panel)\b"
        r"|\bclosed[- ]door (?:dialogue|roundtable|meeting|session|discussion|workshop)\b"),
    "ask.contribution": (
        r"\bcontribution (?:from you|to (?:our|the|an?|this))\b"
        r"|\b(?:looking for|seeking|invite|inviting|welcome) (?:contributors|contributions|authors|chapters|"
        r"papers|articles)\b"
        r"|\b(?:special issue|edited volume|policy brief series|working paper series)\b" + _G
        + r"\b(?:you|your|contribut\w*|invite\w*)\b"),
    "ask.job": (
        r"\b(?:join|joining|serve on|sit on) (?:our|the|an?) (?:international |expert |senior )?(?:advisory "
        r"(?:board|council|panel|committee|group)|expert (?:panel|network|group|pool)|board of advisers|"
        r"board of advisors)\b"
        r"|\binterested in (?:a|an) (?:short |brief |paid |part-time |remote |small )?(?:consultancy|consulting|"
        r"advisory|research|freelance) (?:project|assignment|role|engagement|opportunity|position|work)\b"),
    # "your flights and hotel will be covered"; not the writer's own "the hotel is booked"
    "offer.travel": (
        r"\byour (?:\w+ )?(?:flights?|travel|air ?fares?|tickets?|accommodation|hotel|lodging|expenses|visa)\b" + _G
        + r"\b(?:will be|would be|are|is|to be) (?:fully |all )?(?:covered|paid|reimbursed|taken care of|provided|"
        r"arranged|booked|funded|sponsored)\b"
        r"|\b(?:flights?|travel|air ?fares?|accommodation|hotel|lodging|expenses)\b" + _G
        + r"\b(?:(?:will|would) be|are|is) (?:fully |all )?(?:covered|paid for|reimbursed|taken care of)\b"),
    "ask.insider": (
        r"\b(?:introduce me|put me in touch|connect me|link me up) (?:to|with) (?:someone|somebody|anyone|a colleague|"
        r"colleagues|people|the (?:right |relevant )?(?:person|people|official|officials))\b"
        # questions about work not yet published: the "fellow scientist" after the unpublished part of a
        # researcher's work (AIVD and MI5/NPSA on academic approaches)
        r"|\b(?:questions?|ask you|more|details?) (?:about|on|regarding|concerning) (?:the |your )?unpublished "
        r"(?:[\w-]+ )?(?:work|results|findings|research|extension|version|data|paper|method|methods|experiments?)\b"),
    # a follow-up that presses for the answer to an earlier, unanswered message (Proofpoint on TA453
    # and TA427: persistent follow-ups; Microsoft on Star Blizzard: "did you receive my email?")
    "pressure.urgency": (
        r"\b(?:following|follow) up on my (?:previous |earlier |last |recent )?(?:e-?mail|message|note|letter|"
        r"invitation|request)\b|\bdid you (?:get|receive|see|have a chance to (?:read|look at|see)) my "
        r"(?:previous |earlier |last )?(?:e-?mail|message|note|letter|invitation)\b"
        r"|\bI (?:have not|haven't) (?:yet )?heard back\b"
        r"|\b(?:just )?a (?:gentle |friendly |quick )?reminder (?:about|of|regarding) my\b"),
    "ask.views": (
        r"\bhear (?:how|what|whether) you (?:see|think|view|assess|read)\b"
        r"|\bhow (?:do )?you (?:see|assess|read|view) (?:the|this|these|recent|current)\b"
        # "send me your remarks", "I would value the opinion of a specialist" (Proofpoint on TA453:
        # a journalist or researcher asks an expert to comment on a piece before publication)
        r"|\bsend (?:me|us) your (?:remarks|comments|feedback|observations|thoughts|views|suggestions|reactions)\b"
        r"|\b(?:value|appreciate|welcome|benefit from|need) (?:the|an) (?:expert |independent )?(?:opinion|views?|"
        r"input|perspective|assessment) of (?:a|an) (?:specialist|expert|scholar|authority)\b"),
    # "check the English summary we wrote", "look at the paragraph below and tell me how you would phrase
    # it", "read it and send me your remarks": a scientist's or writer's small favour, the AIVD's and
    # MI5's "fellow scientist" (help with a translation or terminology) and TA453's draft to comment on
    "ask.review": (
        r"\b(?:(?:could|would|can|will) you|please|kindly|if you could|would you mind)\b" + _G
        + r"\b(?:check|proofread|correct|look (?:at|over)|read|review|go over|comment on)\b" + _G
        + r"\b(?:my|our|the|this|a|an) (?:[\w-]+ )?(?:summary|translation|paragraph|passage|abstract|section|wording|"
        r"terminology|phrasing|excerpt|extract)s?\b"
        r"|\bread it and (?:send|give|share|tell)\b"
        # "I would value your comments before we circulate a revised version" (Proofpoint on TA453's BadBlood, 2021)
        r"|\bwould (?:greatly |really |much )?(?:value|appreciate) your (?:comments|feedback|reactions?|corrections|"
        r"thoughts on (?:it|this|the (?:draft|paper|text|overview)))\b"),
    # "your 2025 paper on ring resonators is excellent work", "your work is really of the highest level"
    "approach.flattery": (
        r"\byour (?:[\w-]+ ){0,3}?(?:work|research|paper|article|analysis|book|publications?|writing|report|study|"
        r"studies|scholarship)(?: [\w-]+){0,6}? (?:is|was|has been|are) (?:really |truly |simply |very |quite )?"
        r"(?:excellent|impressive|outstanding|brilliant|remarkable|exceptional|superb|groundbreaking|"
        r"of the highest (?:level|quality|standard|order))\b"),
    # the same unnamed client in French and German (DGSI 2023: "nos clients"; BfV 2017: "unser Auftraggeber")
    "approach.vague_client": (
        r"\b(?:nos|notre|des|un|une|mon|mes)\s+(?:clients?|partenaires?|commanditaires?|mandants?)\s+"
        r"(?:[^\s.,;]+\s+){0,2}?(?:qui|bas\S+|souhait\S+|pr(?:é|e)f(?:è|e)r\S+)"
        r"|\bpour le compte d(?:e|'|’)\s?(?:un|une|nos|notre)\s+(?:client|partenaire|commanditaire)"
        r"|\b(?:unser|unsere|ein|eine|mein|meine)\s+(?:Kunde|Kundin|Kunden|Mandant|Mandantin|Auftraggeber\w*)\s+"
        r"(?:aus|der|die|in|m(?:ö|o)chte|w(?:ü|u)nscht)\b"),
}
FAMILIES = {name: (doc, pattern + ("|" + _MORE[name] if name in _MORE else ""))
            for name, (doc, pattern) in FAMILIES.items()}

# RE2 (linear time, and about 30x faster than `re` on these bounded-gap patterns: 0.2 ms instead
# of 6 ms per message over the ham corpus); `\w` and `\b` are ASCII there, the phrases are English.
# The set pass searches each family with its gaps unbounded (a superset: every family it finds is
# confirmed by the family's own pattern, gaps bounded): the counted gaps made the set's DFA so
# large that RE2 rebuilt it for most messages (ham corpus: about 75 us a message, 9 us screened).
# The families are searched PER_PASS at a time (`RegexSet` per_pass): in one set, the states of
# 24 screened families' DFA multiplied so that RE2 built new ones for every new text and threw them
# all away when its memory filled (ham corpus, 1,500 messages: ~260 us a message; in sets of four
# ~45 us, ~20 us on text seen before; the same answers).
PER_PASS = 4
_COMPILED = RegexSet({name: Regex(pattern, case_insensitive=name != "topic.sensitive")
                      for name, (_doc, pattern) in FAMILIES.items()},
                     screens={name: pattern.replace(_G, _G_SCREEN) for name, (_doc, pattern) in FAMILIES.items()},
                     per_pass=PER_PASS)
# An ask for inside information that the sentence refuses is a compliance reminder, not an ask: expert
# networks and research firms tell the experts they pay "please do not share material non-public or
# confidential information about your employer" (the rule every expert network adopted after the
# 2010-2011 US insider-trading cases against expert-network consultants; GLG's, AlphaSights' and
# Guidepoint's published expert terms). A sentence whose insider phrase comes after a refusal -- "not",
# "never", "n't", "nor" or "without" governing a verb of telling ("do not share", "must never disclose",
# "without passing on") -- is left out; the ask counts if another sentence still makes it. Any other
# negation earlier in the sentence ("I have never met you, but could you send the internal memo",
# "don't hesitate to share the unpublished draft") refuses nothing.
_INSIDER = Regex(FAMILIES["ask.insider"][1], case_insensitive=True)
_NEGATION = re.compile(r"(?:\b(?:not|never|nor|without)|n[’']t)\s+(?=(?:(?!hesitat)[a-z]+\s+){0,2}?"
                       r"(?:shar|disclos|provid|reveal|discuss|divulg|pass|send|forward|giv))", re.I)
_SENTENCE_END = re.compile(r"[.!?\n]")


def _only_in(text: str, family: Regex, drop: Callable[[str], bool]) -> bool:
    """`family` matches `text` only in sentences `drop` leaves out: the signal goes. A family's
    pattern keeps to one sentence (its gaps stop at the sentence's end), so the rest is searched
    again as it stands."""
    kept = [sentence for sentence in _SENTENCE_END.split(text) if not drop(sentence)]
    return family.search("\n".join(kept).encode("utf-8", "replace")) is None


def _refuses(sentence: str) -> bool:
    """The sentence's insider phrase comes after a refusal ("do not share ... non-public information")."""
    neg = _NEGATION.search(sentence)
    return neg is not None and _INSIDER.search(sentence[neg.end():].encode("utf-8", "replace")) is not None


# A meeting's ground rules, stated to every participant, are not a request for discretion: "participants
# attend in a personal capacity", "two days of off-the-record discussion", "held under the Chatham House
# rule", "participants may speak on or off the record" -- the standard terms of Track 2 dialogues,
# closed roundtables and expert meetings (Chatham House's own statement of the rule; the participant
# information of funded workshops and dialogues). These spans are removed before discretion is looked for;
# an ask in the same message ("please don't tell your employer", "keep this between us") still counts.
_GROUND_RULES = re.compile(
    r"\b(?:participants?|members?|experts?|speakers?|panell?ists?|attendees?|delegates?|"
    r"(?:attend|participat|speak|take part|taking part|join|contribut|serv|sit|invit)\w*)\b[^.!?\n]{0,60}?"
    r"\bin (?:an? |their |your |his |her |our |my )?(?:personal|individual|private) capacit(?:y|ies)\b"
    r"|\boff[- ]the[- ]record (?:discussions?|dialogues?|meetings?|sessions?|exchanges?|conversations?|"
    r"roundtables?|debates?|format|basis|briefings?)\b"
    r"|\b(?:speak|talk|participate|contribute|comment)\w* on or off the record\b"
    # "Discussions are off the record", "the sessions will be held off the record", "this session is off the
    # record" (a webinar's registration): the meeting's, not a private conversation's ("our conversation will
    # stay off the record", "this meeting is off the record" between two people, are still asks: review41b #5)
    r"|\b(?:discussions|sessions|meetings|proceedings|deliberations|the (?:discussion|session|meeting|roundtable|"
    r"dialogue|workshop|seminar|debate|webinar)|(?:this|each|every) (?:discussion|session|roundtable|dialogue|"
    r"workshop|seminar|debate|webinar))\s+(?:are|is|will be|shall be)\s+"
    r"(?:held\s+|conducted\s+|strictly\s+)?"
    r"off[- ]the[- ]record\b"
    r"|\b(?:under|held under|conducted under|governed by|applies?|apply)\b[^.!?\n]{0,20}?\bChatham House rules?\b"
    r"|\bChatham House rules? (?:applies|apply|will apply)\b", re.I)


# "Please don't tell Ben's fiancee the location, it's a surprise": keeping something from a named person (a
# surprise, a present) is not the secrecy from colleagues or the employer the guidance warns of ("don't
# tell your colleagues", "no need to inform your manager"). A sentence whose only secrecy is that is left
# out; the ask counts if another sentence still makes it.
_SECRECY = Regex(FAMILIES["pressure.secrecy"][1], case_insensitive=True)
_TELL_A_NAME = re.compile(r"\b(?:[Dd]on[’']t|[Dd]o not|[Pp]lease don[’']t)\s+(?:tell|mention (?:it|this) to)\s+"
                          r"(?!(?:Anyone|Anybody|Everyone|Everybody|Nobody|Your|The|Our|My|His|Her|Their)\b)"
                          r"[A-Z][a-z]+(?:[’']s)?\b")


def _no_discretion_asked(text: str) -> bool:
    """The discretion the message mentions is only a meeting's ground rules (`_GROUND_RULES`) or a
    surprise kept from a named person: drop the signal."""
    return _only_in(_GROUND_RULES.sub(" ", text), _SECRECY, lambda sentence: bool(_TELL_A_NAME.search(sentence)))


# "Join our WhatsApp group for the wedding": the invitation to a messenger group is the move off email itself
# (content.offchannel_*), not a second ask beside it -- otherwise a friend's group chat is a stranger who
# "asks and moves the conversation to a private channel". Sentences naming a messenger's group are left out of
# the event ask; it counts if another sentence still makes it.
_EVENT = Regex(FAMILIES["ask.event"][1], case_insensitive=True)
_MESSENGER_GROUP = re.compile(r"\b(?:whats\s?app|telegram|signal|wechat|viber|line)\s+(?:group|chat|channel|community)",
                              re.I)


# "I attach my CV", "je vous adresse mon CV": the writer's own CV (a student or a job seeker writing in),
# not an ask for the recipient's. The ask counts when some mention of a CV is not the writer's own.
_CV = re.compile(r"\b(?:cv|c\.v\.|resume|résumé|curriculum vitae|lebenslauf)(?!\w)", re.I)
_OWN_CV = re.compile(r"\b(?:my|our|mon|notre|mein(?:en)?|unser(?:en)?)\s+(?:[\w-]+\s+)?$", re.I)


def _only_own_cv(text: str) -> bool:
    """Every CV the text mentions is the writer's own ("my CV", "my updated CV")."""
    mentions = [m.start() for m in _CV.finditer(text)]
    return bool(mentions) and all(_OWN_CV.search(text[max(0, at - 30):at]) for at in mentions)


# "Don't book a hotel!" (a friend who will put you up), "no need to arrange flights": the travel words under a
# negation right before them are no offer to arrange travel; nor are the recipient's own bookings ("if you book
# flights before January the fares are okay", "you'll need to arrange your own visa"). A sentence whose only travel
# phrase is negated or the recipient's is left out; travel offered in another sentence still counts.
_TRAVEL = Regex(FAMILIES["offer.travel"][1], case_insensitive=True)
# the verb's own negation ("not only cover your flights" is none), or the recipient as its subject
_NEGATED_BEFORE = re.compile(r"\b(?:don[’']t|do not|no need to|never|needn[’']t|you(?:[’']ll| will| can| could| "
                             r"should| need to| have to| must| may| might){0,2})\s+$", re.I)


def _negated_travel(sentence: str) -> bool:
    """Every travel phrase of the sentence is negated or the recipient's own ("if you book flights before
    January, we will reimburse the tickets" keeps the second). At most 8 phrases are looked at."""
    rest = sentence
    for _ in range(8):
        found = _TRAVEL.search(rest.encode("utf-8", "replace"))
        at = rest.find(found) if found else -1
        if found is None or at < 0:
            return True
        if _NEGATED_BEFORE.search(rest[max(0, at - 30):at]) is None:
            return False
        rest = rest[at + len(found.split()[0]):]  # past the negated verb: the sentence's next phrase
    return False


# A family found by the set's passes that the message's own words take back: the signal is dropped.
_TAKEN_BACK: dict[str, Callable[[str], bool]] = {
    "ask.insider": lambda text: _only_in(text, _INSIDER, _refuses),
    "ask.cv": _only_own_cv,
    "pressure.secrecy": _no_discretion_asked,
    "ask.event": lambda text: _only_in(text, _EVENT, lambda sentence: bool(_MESSENGER_GROUP.search(sentence))),
    "offer.travel": lambda text: _only_in(text, _TRAVEL, _negated_travel),
}


_NUMBERED_QUESTIONS = Regex(r"(?m)^[ \t]*(?:\d{1,2}[.)]|[-•*])[ \t]+[^\n]{5,300}\?[ \t]*$")


class PretextCheck(Check):
    name = "pretext"
    io = False  # computes only: runs on the analysis task (see gateway/checks/__init__.py)
    signals = tuple(signal(name, doc, phrase=str, source=str) for name, (doc, _p) in FAMILIES.items()) + (
        signal("ask.questions_list", "lists several numbered questions for the recipient to answer",
               questions=int, source=str),
        signal("pretext.summary", "what the message asks for and offers, in words for a reason; asking: the asks "
               "as a verb phrase (\"asks for your views, and asks you to open a document or link\"); wants: the "
               "asks and the offers in one phrase, leaving out the side that is empty (\"offers a salary package\")",
               asks=str, offers=str, asking=str, wants=str),
    )
    needs = (Persona, Origin)
    waits = (QuotedHistory,)  # a reply that quotes: may its quotes be ours? (claims.own_words)
    timeout_share = 0.2

    async def run(self, ctx: CheckContext) -> Iterable[Signal]:
        if internal_sender(ctx):
            return []
        persona = ctx.get(Persona)
        text = await own_words(ctx, persona)
        subject = "" if persona is not None else ctx.view.visible_subject
        # the body's hard-wrapped lines read as the sentences they are (plain-text mail wraps at 72-78
        # columns: "please allow\ninstallation from unknown sources" is one phrase), as the claims read them, and a
        # run of blanks as the one space the phrases are written with (`one_space`: attack42 #2)
        hay = one_space((subject + "\n" + unwrap_prose(text))[:MAX_TEXT])
        if persona is None and ctx.view.disguises.spaced:
            # lines split by narrow spaces in two or more places, read joined in the view, read with them as
            # spaces too ("keep\u2009this\u2009between\u2009us and reply": review42 #3)
            hay += "\n" + one_space("\n".join(ctx.view.disguises.spaced))
        source = "persona" if persona is not None else "body"
        data = hay.encode("utf-8", "replace")
        found_in = {name: (found, hay) for name, found in _COMPILED.matches(data).items()}  # PER_PASS a pass
        skeleton = cue_skeleton(hay)
        in_skeleton: dict[str, str] = {}
        if skeleton != hay:  # also as read through marks, Latin look-alikes and typographic apostrophes (attack24 #9)
            in_skeleton = _COMPILED.matches(skeleton.encode("utf-8", "replace"))
            for name, found in in_skeleton.items():
                found_in.setdefault(name, (found, skeleton))
        out = []
        for name, (found, read) in found_in.items():
            taken_back = _TAKEN_BACK.get(name)
            if taken_back is not None and taken_back(read):
                # the text as written says it only where the message takes it back; the skeleton may say it
                # elsewhere too ("Discussions are off the record. Please don\u2019t tell your colleagues":
                # review41b #1)
                if name not in in_skeleton or read is skeleton or taken_back(skeleton):
                    continue
                found = in_skeleton[name]
            out.append(Signal(name, {"phrase": closed(re.sub(r"\s+", " ", found).rstrip()), "source": source}))
        questions = _NUMBERED_QUESTIONS.count(text.encode("utf-8", "replace"))
        if questions >= 2:
            out.append(Signal("ask.questions_list", {"questions": questions, "source": source}))
        names = [s.name for s in out]
        asks = _words([SAYS[n] for n in names if n.startswith("ask.")])
        offers = _words([SAYS[n] for n in names if n.startswith("offer.")])
        if asks or offers:
            said = asking(names)
            # the offer first, the asks in what is left of a placeholder's 80 characters (the offer is what the
            # reasons that use `wants` are about: review47 #1)
            offered = offers and f"offers {offers}"
            wants = " and ".join(p for p in (offered, asking(names, ASKING_WIDTH - len(offered) - 5)) if p)
            out.append(Signal("pretext.summary", {"asks": asks or "nothing", "offers": offers or "nothing",
                                                  "asking": said or "asks for nothing", "wants": wants}))
        return out


def closed(phrase: str, width: int = 80) -> str:
    """`phrase`, at most `width` characters, with the brackets it opens closed: a match may end inside "(USD 3,000
    per report)", and a reason that quotes it in brackets of its own must not read as a broken one (session 47);
    cut first, so that the closing brackets fit in `width` (review47 #7)."""
    def missing(text: str) -> str:
        return ")" * max(0, text.count("(") - text.count(")")) + "]" * max(0, text.count("[") - text.count("]"))
    cut = phrase[:width]
    while len(cut) + len(missing(cut)) > width:
        cut = cut[:-1]
    return cut + missing(cut)


def _words(items: list[str]) -> str:
    items = list(dict.fromkeys(items))[:3]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""

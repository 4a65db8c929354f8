"""Built-in messages that `Runtime.warm_up` analyses before `serve` accepts connections.

The first real message after start used to cost about 1.5 times the tenth (benchmarks/
first_message.py): not an import or a lazy load, but state that every check builds on its first
real input — CPython's specialised bytecode, the lazily built states of RE2's DFAs, the store's
prepared statements, per-domain memos. One small message warmed only the paths it took. These
messages are written to take the paths real mail takes: list mail, a list thread in everyday
English with replies quoted twice over, a newsletter in HTML with many links, a reply inside a
thread, an attachment, a quoted-printable Latin-1 body, non-Latin
text, a long technical message, a relayed social-network notification and a stranger's
approach with a claim, an ask and an offer. They name only reserved domains (RFC 2606) and
documentation addresses (RFC 5737), so nothing they contain can match a real sender, and they
are analysed without writing anything to the store.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import parseaddr
from pathlib import Path

_LOREM = (
    "The working group met on Tuesday to review the draft charter and the open issues on the "
    "tracker. Most of the discussion was about scope: whether the document should describe "
    "deployment practice or only the protocol, and how to handle the registry of extension "
    "codes. Two reviewers asked for clearer text on error handling when a server receives a "
    "command it does not support, and one asked us to split the security considerations into "
    "threats and mitigations. Minutes are on the wiki; please send corrections before Friday.\n"
)

_CODE = (
    "I think the crash comes from the parser, not the network code. Here is the trace:\n\n"
    "    Traceback (most recent call last):\n"
    "      File \"server.py\", line 212, in handle\n"
    "        request = parse(buffer.decode('utf-8'))\n"
    "    UnicodeDecodeError: 'utf-8' codec can't decode byte 0xe9 in position 17\n\n"
    "A quick fix is to decode with errors='replace' and log the peer's address, but we should\n"
    "not accept a request line longer than 8192 bytes in the first place. Patch attached;\n"
    "it passes `make check` on Debian 12 and on FreeBSD 14. Don't mention the old flag in the\n"
    "docs, it was never released. See https://bugs.example.com/show_bug.cgi?id=4711 and\n"
    "https://git.example.com/project/commit/9f2c1e0 for the earlier discussion.\n"
)


def _base(sender: str, to: str, subject: str, when: str, msgid: str, **extra: str) -> EmailMessage:
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2]
    msg = EmailMessage(policy=SMTP)
    msg["Received"] = (f"from mail.{domain} (mail.{domain} [192.0.2.25]) "
                       f"by mx.example.org (Postfix) with ESMTPS id 4Xw{msgid[:6].upper()}; {when}")
    msg["Authentication-Results"] = (f"mx.example.org; spf=pass smtp.mailfrom={address}; "
                                     f"dkim=pass header.d={domain}; dmarc=pass header.from={domain}")
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = when
    msg["Message-ID"] = f"<{msgid}@{domain}>"
    for name, value in extra.items():
        msg[name.replace("_", "-")] = value
    return msg


def _list_mail() -> EmailMessage:
    msg = _base("Anna Berg <anna.berg@example.net>", "discuss@lists.example.com",
                "[discuss] Minutes of the working group meeting", "Tue, 3 Nov 2026 09:12:44 +0100",
                "minutes-2026-11", List_Id="Working group discussion <discuss.lists.example.com>",
                List_Unsubscribe="<mailto:discuss-leave@lists.example.com>", Precedence="list",
                Sender="discuss-bounces@lists.example.com")
    msg.set_content(_LOREM * 3 + "\n-- \nAnna Berg\nChair, Protocol Working Group\n")
    return msg


_CHAT = (
    "Thanks for the quick reply. I had a look at it last night and I think you're right, it's not\n"
    "the config file. I've tried it again on my laptop with a clean install and got the same thing,\n"
    "so it's probably something in the new version. Has anyone else seen this? I'd rather not go\n"
    "back to the old one if I can help it, but I can't really wait much longer either.\n\n"
    "BTW, if you want I can send you the logs off-list. They're a bit long (about 2 MB) and I don't\n"
    "want to spam everybody. Let me know what works for you. Also, does anybody know whether the\n"
    "fix that went in last week made it into the release? I couldn't find it in the changelog.\n"
)

_QUOTED = (
    "On Mon, 2 Nov 2026 at 18:05, Chris Moore <chris@example.net> wrote:\n"
    "> Did you check the permissions on the spool directory? That bit me last year after an\n"
    "> upgrade, and the error message was just as unhelpful.\n>\n"
    "> >> It works fine here with the default settings, for what it's worth. Maybe try it\n"
    "> >> without the extra options first and add them back one at a time?\n>\n"
    "> Cheers,\n> Chris\n"
)


def _discussion() -> EmailMessage:
    msg = _base("Pat Kelly <pat@example.net>", "users@lists.example.com", "Re: [users] upgrade broke my setup",
                "Mon, 2 Nov 2026 21:47:09 +0000", "users-58121", In_Reply_To="<users-58120@example.net>",
                References="<users-58119@example.com> <users-58120@example.net>",
                List_Id="Users of the project <users.lists.example.com>", Precedence="bulk",
                List_Unsubscribe="<https://lists.example.com/mailman/listinfo/users>, "
                                 "<mailto:users-request@lists.example.com?subject=unsubscribe>")
    msg.set_content("Hi Chris, hi all,\n\n" + _CHAT + "\n" + _QUOTED + "\n-- \nPat\n\n"
                    "_______________________________________________\n"
                    "users mailing list\nusers@lists.example.com\n"
                    "https://lists.example.com/mailman/listinfo/users\n")
    return msg


def _newsletter() -> EmailMessage:
    msg = _base("\"Policy Review Weekly\" <newsletter@news.example.com>", "reader@example.org",
                "This week: energy security, trade rules and a call for papers",
                "Wed, 4 Nov 2026 07:00:00 +0000", "weekly-451",
                List_Unsubscribe="<https://news.example.com/unsubscribe?u=7781>")
    links = "".join(f'<li><a href="https://news.example.com/articles/{i}?utm_source=email">Article {i}: '
                    f'what the new rules mean for exporters</a></li>\n' for i in range(12))
    msg.set_content("This week's articles are at https://news.example.com/weekly/451\n\n" + _LOREM)
    msg.add_alternative(
        "<html><head><style>p {font-family: Arial;}</style></head><body>"
        "<h1>Policy Review Weekly</h1><p>Call for papers: our annual conference invites "
        "contributions on trade, energy and security. Submit an abstract of 300 words by "
        "15 January; travel grants are available for early-career researchers.</p>"
        f"<ul>{links}</ul><p>&copy; 2026 Policy Review &middot; "
        "<a href=\"https://news.example.com/unsubscribe?u=7781\">Unsubscribe</a></p>"
        "<img src=\"https://news.example.com/pixel.gif\" width=\"1\" height=\"1\"></body></html>",
        subtype="html")
    return msg


def _reply() -> EmailMessage:
    msg = _base("Tom Reyes <tom.reyes@university.example>", "Sam Lee <sam.lee@example.org>",
                "Re: Workshop programme and your slides", "Thu, 5 Nov 2026 16:40:03 -0500",
                "reply-88213", In_Reply_To="<prog-1@example.org>",
                References="<prog-0@example.org> <prog-1@example.org>")
    msg.set_content(
        "Hi Sam,\n\nThanks, the programme looks good. I can move my talk to the afternoon if that\n"
        "helps, and I will send the slides by Monday.\n\nBest,\nTom\n\n"
        "On Wed, 4 Nov 2026 at 10:02, Sam Lee <sam.lee@example.org> wrote:\n"
        "> Dear Tom,\n> here is the draft programme for the workshop. Could you confirm your slot\n"
        "> and let me know whether you need a projector?\n> Sam\n")
    return msg


def _attachment() -> EmailMessage:
    msg = _base("Finance Office <finance@example.com>", "accounts@example.org",
                "Invoice 2026-1187 for conference services", "Fri, 6 Nov 2026 11:05:19 +0000",
                "inv-2026-1187")
    msg.set_content("Dear colleague,\n\nplease find attached our invoice for the venue and catering.\n"
                    "Payment is due within 30 days.\n\nKind regards,\nFinance Office\n")
    msg.add_attachment(b"%PDF-1.4\n" + bytes(range(256)) * 8, maintype="application", subtype="pdf",
                       filename="invoice-2026-1187.pdf")
    msg.add_attachment("Item;Amount\nVenue;4200\nCatering;1850\n", subtype="csv", filename="items.csv")
    return msg


def _latin1() -> EmailMessage:
    msg = _base("Renée Dubois <renee.dubois@institut-europe.example>", "Marie Curie <m.curie@example.org>",
                "Demande de renseignements: séminaire à Genève", "Mon, 9 Nov 2026 14:22:10 +0100",
                "fr-3321")
    msg.set_content("Chère Madame,\n\nJe me permets de vous écrire au sujet du séminaire de décembre à "
                    "Genève. Pourriez-vous m'envoyer le programme détaillé et la liste des intervenants ?\n"
                    "Je vous remercie par avance de votre réponse.\n\nBien cordialement,\nRenée Dubois\n"
                    "Chargée de mission, Institut d'études européennes\n",
                    charset="iso-8859-1", cte="quoted-printable")
    return msg


def _non_latin() -> EmailMessage:
    msg = _base("Ivan Petrov <ivan.petrov@materials.example>", "lab@example.org",
                "Приглашение на конференцию / 会议邀请", "Tue, 10 Nov 2026 12:00:00 +0300", "ru-cn-77")
    msg.set_content("Уважаемые коллеги,\n\nприглашаем вас принять участие в международной конференции "
                    "по материаловедению. Тезисы докладов принимаются до 1 февраля.\n\n"
                    "尊敬的同事：诚邀您参加明年春季在上海举行的学术研讨会，会议提供住宿。\n\n"
                    "이메일로 답장해 주시면 감사하겠습니다.\n", charset="utf-8", cte="base64")
    return msg


def _technical() -> EmailMessage:
    msg = _base("dev@example.net", "maintainers@example.org", "Re: [PATCH v3] parser: bound the request line",
                "Wed, 11 Nov 2026 22:31:57 +0000", "patch-v3-0042", In_Reply_To="<patch-v3-0000@example.net>")
    msg.set_content(_CODE * 4 + "\n" + _LOREM * 2)
    return msg


def _notification() -> EmailMessage:
    msg = _base("Social Network <messages-noreply@social.example.com>", "sam.lee@example.org",
                "Jane Doe sent you a message", "Thu, 12 Nov 2026 08:15:00 +0000", "notif-55120")
    msg.set_content("Jane Doe\nSenior Consultant at Example Advisory Group\n\n"
                    "\"Hello Sam, I came across your profile and your work on energy policy is impressive. "
                    "We are looking for experts for a paid advisory project; could we continue on "
                    "WhatsApp?\"\n\nView message: https://social.example.com/messaging/thread/55120\n"
                    "You are receiving notification emails. Unsubscribe: https://social.example.com/settings\n")
    return msg


def _approach() -> EmailMessage:
    msg = _base("Dr. Li Wen <li.wen.research@example.com>", "Sam Lee <sam.lee@example.org>",
                "Invitation: expert consultation on regional security (paid)", "Fri, 13 Nov 2026 03:44:21 +0800",
                "lw-20261113", Reply_To="li.wen.office@example.net", Cc="Zhang Min <zhang.min@example.com>")
    msg.set_content(
        "Dear Dr. Lee,\n\nI am a senior researcher with the Institute for Strategic Studies and I "
        "have followed your publications for years; your analysis is truly outstanding. We would "
        "like to invite you to share your views on recent developments in a short report of "
        "3,000 words. The honorarium is USD 2,000, and we can also cover travel and accommodation "
        "for a closed-door dialogue in Singapore next spring. Please keep this between us for now.\n\n"
        "For convenience, could we move to WhatsApp (+44 7700 900123) or Signal?\n\n"
        "Best regards,\nDr. Li Wen\nDirector of Research, ISS\nhttps://iss-research.example.com\n")
    return msg


BUILDERS = (_list_mail, _discussion, _newsletter, _reply, _attachment, _latin1, _non_latin, _technical, _notification,
            _approach)


def messages() -> list[bytes]:
    """The warm-up messages as raw bytes with CRLF line endings, as the gateway receives them."""
    return [build().as_bytes() for build in BUILDERS]


# The charset labels mail declares most (the ham and phish corpora of ../shared/corpora, 2026-12-05:
# us-ascii 2,016 parts, utf-8 1,096, iso-8859-1 819, iso-8859-15 79, windows-1252 64, windows-1251 9,
# then iso-2022-jp, windows-1250, koi8-r, iso-8859-2, iso-8859-5, koi8-u), plus the other common East
# Asian and Unicode labels. Python imports a codec's module on the first lookup of its name (the
# first us-ascii part after start imported encodings/ascii.py inside that message's analysis,
# benchmarks/first_message.py with cProfile, first against tenth): `Runtime.warm_up` looks each up
# ahead through `gateway.charsets.python_codec`, as the analysis does.
CHARSETS = (
    "us-ascii", "utf-8", "iso-8859-1", "iso-8859-15", "windows-1252", "windows-1251", "windows-1250",
    "iso-8859-2", "iso-8859-5", "koi8-r", "koi8-u", "iso-2022-jp", "shift_jis", "euc-jp", "euc-kr",
    "gb2312", "gbk", "gb18030", "big5", "utf-16", "utf-7",
)


# Domains that mail everywhere comes from or links to, whatever the organisation: the large
# free-mail providers and the services that send or host on others' behalf. `Runtime.warm_up`
# has the look-alike index the sender and link checks share look each up (`Shared.warm`): its
# memo then holds the answer before the first message asks, and the search's code runs warm
# when a new domain arrives. The answers are the checks' own.
COMMON_DOMAINS = (
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "hotmail.com", "outlook.com", "live.com",
    "msn.com", "aol.com", "icloud.com", "me.com", "protonmail.com", "proton.me", "gmx.com", "gmx.net",
    "gmx.de", "web.de", "mail.com", "zoho.com", "yandex.com", "yandex.ru", "mail.ru", "qq.com",
    "163.com", "126.com", "naver.com", "fastmail.com", "comcast.net", "btinternet.com",
    "google.com", "microsoft.com", "linkedin.com", "github.com", "facebook.com", "facebookmail.com",
    "twitter.com", "x.com", "youtube.com", "wikipedia.org", "amazon.com", "amazonses.com", "apple.com",
    "mailchimp.com", "list-manage.com", "mcsv.net", "sendgrid.net", "mailgun.org", "sparkpostmail.com",
    "constantcontact.com", "hubspot.com", "salesforce.com", "substack.com", "medium.com", "wordpress.com",
    "zoom.us", "eventbrite.com", "calendly.com", "docusign.net", "dropbox.com", "box.com", "slack.com",
    "atlassian.net", "surveymonkey.com", "typeform.com", "bit.ly", "t.co", "lnkd.in", "youtu.be",
    "researchgate.net", "academia.edu", "arxiv.org", "doi.org", "ssrn.com", "springer.com", "elsevier.com",
    "wiley.com", "tandfonline.com", "manuscriptcentral.com", "editorialmanager.com",
    "sourceforge.net", "python.org", "apache.org", "debian.org",
    "mozilla.org", "w3.org", "ietf.org",
)

# This deployment's own correspondents: the sender domains of the inbound mail the store
# remembers (`seen_domains`), looked up ahead like COMMON_DOMAINS (`Shared.warm_seen`). Measured
# (benchmarks/first_message.py --instructions, callgrind_annotate first against tenth), what
# the tenth message after start still has over the first is state its nine predecessors left:
# the look-alike search (and public-suffix look-ups) of the mailing list's domain they came
# from, one search per group, and the RE2 DFA states of the list's footer and vocabulary. No
# shipped text knows the first; the store does, after a restart or a reload.
SEEN_DAYS = 30  # the store's inbound mail of the last days read ...
SEEN_MESSAGES = 500  # ... at most this many of the newest (Store.recent)
SEEN_DOMAINS = 200  # at most this many domains, the most frequent first


def seen_domains(senders: Iterable[str], limit: int = SEEN_DOMAINS) -> list[str]:
    """The domains of `senders` (addresses, untrusted: as the store kept them), most frequent
    first (ties in name order), at most `limit`, lower-cased; a name that cannot be a domain
    (empty, longer than 253 characters, with spaces or control characters) is left out."""
    counts = Counter(s.rpartition("@")[2].strip().lower().rstrip(".") for s in senders if "@" in s)
    ok = [(-n, d) for d, n in counts.items()
          if 0 < len(d) <= 253 and d.isprintable() and not any(c.isspace() for c in d)]
    return [d for _n, d in sorted(ok)[:limit]]


PROSE_CHARS = 500_000  # at most; pydoc_data's topics hold ~465,000 characters (Python 3.11)
PROSE_CHUNK = 2_000


def prose(limit: int = PROSE_CHARS, chunk: int = PROSE_CHUNK) -> Iterator[str]:
    """English prose for the RE2 sets' DFAs (`gateway.regex.warm_sets`), in pieces of `chunk`
    characters, `limit` in all: the text of Python's own language reference that ships with the
    interpreter for `help()` (pydoc_data.topics; Debian: libpython3.X-stdlib), all of it by
    default. Technical prose rather than mail, but DFA states follow letters, words and
    punctuation, which it shares with mail. Fed at start, its first 200,000 characters cut the RE2
    work of a first ham message from 4.03 M to 1.77 M instructions, and the whole first message
    by 11-15 % (callgrind, two messages of benchmarks/first_message.py's groups); all of it cut
    the sets' work over the first 24 ham messages after start (none of the benchmark's) by
    another 14 %, 26.3 M -> 22.5 M instructions, for ~25 ms more at start. The sets' DFAs never
    filled their memory doing so (a text searched early costs as little at the end). Nothing
    when the module is missing (a trimmed interpreter): warming up is a nicety."""
    try:
        from pydoc_data.topics import topics
    except ImportError:
        return
    text = "\n".join(topics[k] for k in sorted(topics))[:limit]
    for i in range(0, len(text), chunk):
        yield text[i:i + chunk]


LICENCES = Path("/usr/share/common-licenses")  # Debian's base-files (Essential: on every Debian system)
LICENCE_CHARS = 300_000  # at most; the directory holds ~250,000 characters (Debian 12)


def licences(folder: Path = LICENCES, limit: int = LICENCE_CHARS, chunk: int = PROSE_CHUNK) -> Iterator[str]:
    """More English for the RE2 sets' DFAs, after `prose`: the plain-text licences every Debian
    system ships (GPL, LGPL, Apache, MPL, ...; a link to another is read once), in pieces of
    `chunk` characters, `limit` in all, in name order. The language reference speaks of
    objects in the third person; the licences speak to a reader ("you may", "your rights", "we
    are", "if you"), as mail does, and their DFA states are the ones a first ham message still
    built after the reference: fed after it, they cut that message by ~330 k instructions
    (of 15.7 M; callgrind, benchmarks/first_message.py group 0). Nothing when the folder is
    missing or unreadable (another distribution): warming up is a nicety."""
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.is_symlink())
    except OSError:
        return
    left = limit
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")[:left]
        except OSError:
            continue
        left -= len(text)
        for i in range(0, len(text), chunk):
            yield text[i:i + chunk]
        if left <= 0:
            return


SYSTEM_DOCS = Path("/usr/share/doc")  # Debian: one folder per package, each with its copyright file
SYSTEM_DOC_CHARS = 300_000  # at most in all
SYSTEM_DOC_FILE_CHARS = 3_000  # at most from each file: its first bytes, never the whole of a big one
SYSTEM_DOC_FILES = 1_000  # at most this many folders looked at (~860 on this Debian 12 machine)


def system_docs(folder: Path = SYSTEM_DOCS, limit: int = SYSTEM_DOC_CHARS, per_file: int = SYSTEM_DOC_FILE_CHARS,
                files: int = SYSTEM_DOC_FILES, chunk: int = PROSE_CHUNK) -> Iterator[str]:
    """More English for the RE2 sets' DFAs, after `licences`: the first `per_file` bytes of the
    `copyright` file of each installed package (`folder`/*/copyright, in name order, at most
    `files` folders, each file read once), `limit` characters in all, in pieces of `chunk`.
    Debian keeps these even in trimmed images that drop the rest of /usr/share/doc. Their
    openings are what a first ham message still meets after the reference and the licences:
    people's names, e-mail addresses, years, and the short ordinary English of notices and
    permissions ("Permission is hereby granted", "Copyright (C) 2009 ... <...@...>"). Fed after
    the licences, they took first/tenth of benchmarks/first_message.py --instructions from 1.017,
    1.033, 1.034, 1.019 (median 1.026) to 1.005, 1.024, 1.023, 1.018 (median 1.020), the four
    first messages from 37.6 M to 36.8 M instructions, for 114 M more in `Runtime.warm_up`
    (1,164 M -> 1,278 M; ~12 ms of CPU); 1,000 bytes of each of ~300 files instead did no better
    (median 1.019, 1,286 M). Only regular files are opened (never a FIFO or a device), read as
    UTF-8 with undecodable bytes replaced. Nothing when the folder is missing or unreadable: warming up is a nicety."""
    try:
        names = sorted(os.listdir(folder))[:files]
    except OSError:
        return
    seen: set[tuple[int, int]] = set()
    left = limit
    for name in names:
        try:
            fd = os.open(folder / name / "copyright", os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            data = os.read(fd, min(per_file, left))
        except OSError:
            continue
        finally:
            os.close(fd)
        text = data.decode("utf-8", errors="replace")[:left]
        left -= len(text)
        for i in range(0, len(text), chunk):
            yield text[i:i + chunk]
        if left <= 0:
            return

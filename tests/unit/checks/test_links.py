"""Link signals: a link whose host imitates a listed organisation, a service or our own domain."""

from __future__ import annotations

import pytest

from gateway.checks.links import MAX_LINKS, LinkCheck, hosts_of
from tests.support.messages import message, names, one, run


def test_link_to_a_lookalike_of_a_listed_organisation_in_html() -> None:
    html = '<p>The draft is <a href="https://docs.g00gle.com/d/1x">here</a>.</p>'
    sig, _ = run([LinkCheck()], message("A <a@policy-forum.test>", "The draft is linked.", html=html))
    ev = one(sig, "content.link_lookalike").evidence
    assert ev["host"] == "docs.g00gle.com" and ev["organisation"] == "Google" and ev["method"] == "homoglyph"


def test_link_written_in_the_text_imitating_our_domain() -> None:
    body = "Please sign in to read the agenda: https://mail.examp1e.org/owa/?login=1 before Friday."
    sig, _ = run([LinkCheck()], message("A <a@policy-forum.test>", body))
    assert one(sig, "content.link_lookalike").evidence["target"] == "example.org"


def test_real_domains_the_senders_own_and_ours_are_not_lookalikes() -> None:
    body = ("Programme: https://www.google.com/forms/x and https://www.chathamhouse.org/events, "
            "our page https://policy-forum.test/about, your intranet https://intranet.example.org/")
    sig, _ = run([LinkCheck()], message("A <a@policy-forum.test>", body))
    assert "content.link_lookalike" not in names(sig)


def test_links_from_our_own_domains_are_not_judged() -> None:
    body = "Phishing drill: https://docs.g00gle.com/d/1x"
    sig, _ = run([LinkCheck()], message("IT <it@example.org>", body))
    assert "content.link_lookalike" not in names(sig)


def test_hosts_are_bounded_and_deduplicated() -> None:
    links = [f"https://h{i}.test/x" for i in range(MAX_LINKS * 3)] + ["not a url ::", "https://h1.test/y"]
    text = " ".join(f"http://t{i}.test/" for i in range(MAX_LINKS * 3))
    hosts = hosts_of(links, text)
    assert len(hosts) <= MAX_LINKS + 1 and len(hosts) == len(set(hosts))
    assert hosts[:2] == ["h0.test", "h1.test"]


def test_a_file_sharing_services_name_inside_another_domain() -> None:
    # Dark Basin's and Star Blizzard's document pages: the service's name in a domain it does not own
    body = "Here are the documents for tomorrow: https://www.dropbox-sharefiles.com/s/coalition_docs"
    ev = one(run([LinkCheck()], message("S <s.m.rightsnet@gmail.com>", body))[0], "content.link_lookalike").evidence
    assert ev["organisation"] == "Dropbox"
    real = ("https://www.dropbox.com/s/x https://dl.dropboxusercontent.com/s/x https://wetransfer.com/downloads/x "
            "https://na3.docusign.net/Signing/x https://www.w3.org/TR/html5/ https://we.tl/t-x")
    assert "content.link_lookalike" not in names(run([LinkCheck()], message("S <s@gmail.com>", real))[0])


def test_a_look_alike_idn_host_written_in_the_text() -> None:
    """attack22 #8: _URL read ASCII hosts only, so "https://ch\u0430thamhouse.org/" (a Cyrillic a) in
    plain text was read as the host "ch" (clean), while the same link as an href or in punycode was
    a look-alike. Its punycode form is checked now; an ASCII host followed by CJK text keeps its
    old reading too."""
    body = "Please register for the roundtable here:\nhttps://ch\u0430thamhouse.org/events/register\n"
    sig, _ = run([LinkCheck()], message("A <a@policy-forum.test>", body))
    ev = one(sig, "content.link_lookalike").evidence
    assert ev["host"] == "xn--chthamhouse-zij.org" and ev["organisation"] == "Chatham House"
    assert hosts_of([], "see https://www.example.com\u4e2d\u6587 and http://b\u00fccher.test/x") == [
        "www.example.com", "www.example.xn--com-x68do18h", "b", "xn--bcher-kva.test"]
    assert hosts_of([], "https://" + "\u0430" * 300) == [("\u0430" * 253)]  # bounded; IDNA refuses: as written


def test_idn_hosts_folded_are_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from gateway.checks import links
    calls: list[str] = []
    real = links._ascii_host
    monkeypatch.setattr(links, "_ascii_host", lambda host: calls.append(host) or real(host))
    text = " ".join(f"https://\u0430{i}.test/ https://\u0430{i}.test/" for i in range(100))
    hosts = hosts_of([], text)
    assert len(calls) == links.MAX_IDN and len(hosts) == 100
    assert hosts[0] == "xn--0-7sb.test" and hosts[-1] == "\u043099.test"  # the rest as written, as hrefs are


def test_a_www_link_without_a_scheme_is_read() -> None:
    """attack23 K1: "www.chathamhouse-events.org/..." without "https://" was not read (clean 2.6; suspicious
    6.8 with the scheme) although Gmail, Outlook and Thunderbird link "www." text. It is read as a link
    when "www." starts a word (not inside a host name, a path or an address)."""
    body = "Please register for the roundtable here:\nwww.chathamhouse-events.org/events/register\n"
    ev = one(run([LinkCheck()], message("A <a@policy-forum.test>", body))[0], "content.link_lookalike").evidence
    assert ev["host"] == "www.chathamhouse-events.org" and ev["organisation"] == "Chatham House"
    assert hosts_of([], "see (WWW.Example.com), a@www.b.test, c.www.d.test, /www.e.test, xwww.f.test, "
                        "https://www.g.test/www.h.test") == ["www.example.com", "www.g.test"]


def test_a_percent_encoded_host_is_read_as_a_browser_reads_it() -> None:
    """attack23 K2: "https://ch%D0%B0thamhouse.org/" was read as the host "ch" in the text and as
    "ch%d0%b0thamhouse.org" in an href (clean 2.6); a browser percent-decodes the host, reads the bytes
    as UTF-8 and goes to "ch\u0430thamhouse.org" (WHATWG URL, host parsing)."""
    body = "Please register for the roundtable here:\nhttps://ch%D0%B0thamhouse.org/events/register\n"
    ev = one(run([LinkCheck()], message("A <a@policy-forum.test>", body))[0], "content.link_lookalike").evidence
    assert ev["host"] == "xn--chthamhouse-zij.org" and ev["organisation"] == "Chatham House"
    html = '<p>Register <a href="https://ch%D0%B0thamhouse.org/events">here</a>.</p>'
    ev = one(run([LinkCheck()], message("A <a@policy-forum.test>", "Register here.", html=html))[0],
             "content.link_lookalike").evidence
    assert ev["host"] == "ch\u0430thamhouse.org"
    assert hosts_of(["http://a%2Eb%2dc.test/%41"], "http://%41%2E%ff.test/ https://d.test%zz") == [
        "a.b-c.test", "a", "a.\ufffd.test", "d.test"]  # invalid UTF-8: U+FFFD, as a browser reads it


def test_ideographic_and_full_width_dots_in_a_host_are_dots() -> None:
    """attack23 K3: "https://chathamhouse-events\u3002org/" (U+3002; also U+FF0E, U+FF61) was read as the
    host "chathamhouse-events" with no top-level domain; IDNA reads those full stops as dots (UTS #46
    maps them to "."), so the browser goes to "chathamhouse-events.org"."""
    for dot in "\u3002\uff0e\uff61":
        body = f"Please register for the roundtable here:\nhttps://chathamhouse-events{dot}org/events/register\n"
        ev = one(run([LinkCheck()], message("A <a@policy-forum.test>", body))[0], "content.link_lookalike").evidence
        assert ev["host"] == "chathamhouse-events.org" and ev["organisation"] == "Chatham House"
    html = '<p>Register <a href="https://ch\u0430thamhouse\uff61org/events">here</a>.</p>'
    ev = one(run([LinkCheck()], message("A <a@policy-forum.test>", "Register here.", html=html))[0],
             "content.link_lookalike").evidence
    assert ev["host"] == "ch\u0430thamhouse.org"
    assert hosts_of([], "https://ch\u0430thamhouse\u3002org/") == ["ch", "xn--chthamhouse-zij.org"]
    # a full stop of CJK text right after a link ends it
    assert hosts_of([], "https://www.example.com\u3002 https://a%E3%80%82b.test/") == ["www.example.com", "a.b.test"]


def test_a_look_alike_idn_host_with_ideographic_dots_stays_as_written_for_the_link_check() -> None:
    """attack23 K3 (ideo-dot): the view read the Cyrillic letter of "ch\u0430thamhouse\u3002org" as Latin
    (textsafe keeps host names as written, but knew only "." as their dot), so the link check saw the
    real "chathamhouse.org" (caution 4.6). IDNA's dots are host dots to the look-alike reading too."""
    from gateway.textsafe import read_lookalikes
    for dot in "\u3002\uff0e\uff61":
        body = f"Please register for the roundtable here:\nhttps://ch\u0430thamhouse{dot}org/events/register\n"
        ev = one(run([LinkCheck()], message("A <a@policy-forum.test>", body))[0], "content.link_lookalike").evidence
        assert ev["host"] == "xn--chthamhouse-zij.org" and ev["organisation"] == "Chatham House"
    text = "Our p\u0430rtners\u3002 See ch\u0430thamhouse\uff0eorg or wh\u0430tsapp\uff61"
    want = "Our partners\u3002 See ch\u0430thamhouse\uff0eorg or whatsapp\uff61"  # the host as written, dots kept
    assert read_lookalikes(text) == (want, 2, "partners")


def test_hrefs_are_read_as_a_browser_parses_them() -> None:
    r"""attack24 #7: Chromium goes to chathamhouse-events.org for "https:\\host\r", "https:host/r",
    "https:/host/r" (WHATWG URL: for a special scheme "\" is "/" and any run of slashes leads to the
    host) and "https://host\@chathamhouse.org/" ("\" ends the authority: no userinfo); urlsplit read no
    host, or the real organisation's (suspicious 6.8 -> clean 2.6)."""
    look = "chathamhouse-events.org"
    for href in (f"https:\\\\{look}\\r", f"https:{look}/r", f"https:/{look}/r", f"https://{look}\\@chathamhouse.org/",
                 f"HTTPS:\\/\\{look}", f"https:///{look}:443?x", f"\\\\{look}/r", f" https://{look[:4]}\t{look[4:]}/"):
        html = f'<p>Register <a href="{href}">here</a>.</p>'
        ev = one(run([LinkCheck()], message("A <a@policy-forum.test>", "Register here.", html=html))[0],
                 "content.link_lookalike").evidence
        assert ev["host"] == look, href
    from gateway.urlhost import href_host
    assert [href_host(h) for h in ("https://u:p@a@B.test:8080/x", "http://[::1]:80/", "//a.test/x", "/a.test/x",
                                   "a.test/x", "mailto:x@y.test", "javascript:x//a.test", "git://h.test\\x/",
                                   "file://srv.test/x", "file:/srv.test/x", "https://u@/", "https:")] == [
        "b.test", "::1", "a.test", "", "", "", "", "h.test\\x", "srv.test", "", "", ""]


@pytest.mark.parametrize(("where", "url", "kind", "extension", "host"), [
    ("text", "https://novacoinlabs.test/download/NovaTracker-1.8.2.zip", "an archive", ".zip", "novacoinlabs.test"),
    ("text", "https://gulfaero-careers.test/apply/portal.hta?ref=LB-2291", "a script", ".hta", "gulfaero-careers.test"),
    ("html", "https://play-hopebridge.test/app/hopebridge-donate.apk", "a program", ".apk", "play-hopebridge.test"),
    ("html", "https://fileshare.test/s/assessment%20keller.ISO.", "a disk image", ".iso", "fileshare.test"),
    ("text", "www.forum-seoul.test/files/background_paper.7z", "an archive", ".7z", "www.forum-seoul.test"),
    # review36 #3: a program behind any query, ;params, an escaped NUL, a backslash, the query
    ("text", "https://x.test/TermSheet.exe?dl=1", "a program", ".exe", "x.test"),
    ("html", "https://x.test/TermSheet.zip;v=1", "an archive", ".zip", "x.test"),
    ("html", "https://x.test/TermSheet.zip%00.pdf", "an archive", ".zip", "x.test"),
    ("html", "https://x.test/files\\TermSheet.iso", "a disk image", ".iso", "x.test"),
    ("text", "https://x.test/dl.php?f=TermSheet.zip", "an archive", ".zip", "x.test"),
    ("text", "https://example.test/page.html?file=setup.exe", "a program", ".exe", "example.test"),
    ("text", "https://x.test/dl.php?f=Invoice.vbs", "a script", ".vbs", "x.test"),  # review36c #3
    ("text", "https://x.test/get?f=NovaTracker-1.8.2.zip", "an archive", ".zip", "x.test"),
], ids=["zip", "hta-query", "apk-href", "iso-escaped", "www-7z", "exe-query", "params", "nul", "backslash",
        "query-zip", "query-exe", "query-vbs", "query-versioned"])
def test_a_link_to_a_file_that_runs_code_or_holds_files(where, url, kind, extension, host) -> None:
    """A download linked rather than attached (TraderTraitor's trading app, an APK for a cause, a shortcut in a zip
    on a file-sharing look-alike): `content.link_to_file` names what the link's file is and where it is, not the
    link itself (the sender writes it: review36 #9)."""
    body = f"Please install it and log in:\n{url}\n" if where == "text" else "See below.\n"
    html = f'<p>Please install it: <a href="{url}">the app</a></p>' if where == "html" else None
    sig, _ = run([LinkCheck()], message("Anna <anna@novacoinlabs.test>", body, html=html))
    assert one(sig, "content.link_to_file").evidence == {"kind": kind, "extension": extension, "host": host}


def test_a_link_to_a_file_after_many_others_is_read() -> None:
    """review36 #3: 200 harmless links ahead of the file had hidden it (MAX_LINKS); MAX_FILE_LINKS of each kind."""
    from gateway.checks.links import MAX_FILE_LINKS
    body = "".join(f"https://news.test/a{i}\n" for i in range(MAX_LINKS + 50)) + "https://x.test/a.zip\n"
    sig, _ = run([LinkCheck()], message("Anna <anna@x.test>", body))
    assert one(sig, "content.link_to_file").evidence["extension"] == ".zip"
    body = "".join(f"https://news.test/a{i}\n" for i in range(MAX_FILE_LINKS)) + "https://x.test/a.zip\n"
    sig, _ = run([LinkCheck()], message("Anna <anna@x.test>", body))
    assert "content.link_to_file" not in names(sig)  # (bounded)


@pytest.mark.parametrize("url", [
    "https://www.jiscmail.ac.uk/cgi-bin/WA-JISC.exe?SUBED1=SECURITY-STUDIES&A=1",  # a CGI program
    "https://listserv.example.edu/scripts/wa.exe?A0=LIST",
    "www.geocaching.com",  # a host's .com
    "https://example.test/report.pdf", "https://example.test/files/", "https://shop.app/",
    "https://example.test/page?id=42&lang=en",
    "http://cgi.ebay.com/ws/eBayISAPI.dll?ViewItem&item=1234",  # an ISAPI page (real ham)
    # review36b #7: a repository or directory named like a file, a search, a link or a number in a query
    "https://github.com/vercel/next.js", "https://github.com/vercel/next.js/", "https://x.test/docs/setup.zip/",
    "https://www.google.com/search?q=node.js", "https://x.test/go?url=https://files.zip",
    "https://x.test/p?ratio=1.001", "https://lists.example.org/archives/wa.exe?A0=LIST",
], ids=["jiscmail-cgi", "listserv-cgi", "dot-com", "pdf", "directory", "dot-app", "plain-query", "isapi",
        "repo-js", "repo-js-slash", "directory-zip", "search-js", "query-link", "query-number", "listserv-anywhere"])
def test_links_to_pages_and_documents_are_not(url: str) -> None:
    sig, _ = run([LinkCheck()], message("Anna <anna@example.org>", f"Details: {url}\n"))
    assert "content.link_to_file" not in names(sig)

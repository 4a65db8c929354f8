"""Organisations files (gateway/refdata.py): a name listed twice, within a file or across files
(the shipped list included), and a free-mail domain under an organisation are load errors
`file:line: problem; fix` (admin21 00:57: both were accepted silently, the second entry's aliases
replacing the first's). A load error keeps the running set on SIGHUP as any data error does."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gateway.cli import embedded_config
from gateway.config import Config
from gateway.errors import DataError
from gateway.refdata import ReferenceData


def config(tmp_path: Path, orgs: str, **signals: object) -> Config:
    (tmp_path / "orgs.yml").write_text(orgs)
    cfg = embedded_config()
    return replace(cfg, signals=replace(cfg.signals, organisations_files=(str(tmp_path / "orgs.yml"),), **signals))


def errors(cfg: Config) -> list[str]:
    with pytest.raises(DataError) as caught:
        ReferenceData.load(cfg)
    return list(caught.value.errors)


def test_the_shipped_lists_pass() -> None:
    assert len(ReferenceData.load(embedded_config()).organisations) > 700


def test_a_name_listed_twice_in_one_file(tmp_path: Path) -> None:
    cfg = config(tmp_path, "organisations:\n  - {name: Foo Lab, domains: [foolab.example]}\n"
                           "  - {name: foo  lab, aliases: [Foo Labs], domains: [foo-lab.example]}\n")
    assert errors(cfg) == [f"{tmp_path / 'orgs.yml'}:3: organisation 'foo  lab' is listed twice (first at "
                           f"{tmp_path / 'orgs.yml'}:2); merge the two entries into one, or rename one"]


def test_a_name_the_shipped_list_has(tmp_path: Path) -> None:
    (got,) = errors(config(tmp_path, "organisations:\n  - {name: Google, domains: [google-partner.example]}\n"))
    assert got.startswith(f"{tmp_path / 'orgs.yml'}:2: organisation 'Google' is listed twice (first at "
                          "gateway/data/organisations.yml:")


def test_a_free_mail_domain_under_an_organisation(tmp_path: Path) -> None:
    cfg = config(tmp_path, "organisations:\n  - name: Foo Lab\n    domains: [foolab.example, gmail.com, "
                           "mail.yahoo.com, foo-mail.example]\n", freemail_extra=("foo-mail.example",))
    assert errors(cfg) == [
        f"{tmp_path / 'orgs.yml'}:3: Foo Lab: 'gmail.com' is a free-mail domain (listed in "
        "gateway/data/freemail.txt); remove it: anyone can have an address there",
        f"{tmp_path / 'orgs.yml'}:3: Foo Lab: 'mail.yahoo.com' is a free-mail domain (listed in "
        "gateway/data/freemail.txt); remove it: anyone can have an address there",
        f"{tmp_path / 'orgs.yml'}:3: Foo Lab: 'foo-mail.example' is a free-mail domain (listed in "
        "<embedded defaults>: signals.freemail_extra); remove it: anyone can have an address there",
    ]


def test_distinct_names_and_company_domains_load(tmp_path: Path) -> None:
    cfg = config(tmp_path, "organisations:\n  - {name: Foo Lab, domains: [foolab.example]}\n"
                           "  - {name: Foo Laboratories, domains: [foo-laboratories.example]}\n")
    data = ReferenceData.load(cfg)
    assert data.org_owning("foolab.example") is not None and data.org_owning("foolab.example").name == "Foo Lab"


def test_a_reload_that_meets_a_duplicate_keeps_the_running_organisations(tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    from gateway.config import load_config
    from gateway.smtp.service import Gateway

    orgs = tmp_path / "orgs.yml"
    orgs.write_text("organisations:\n  - {name: Foo Lab, domains: [foolab.example]}\n")
    (tmp_path / "gateway.yml").write_text(
        "listen: 127.0.0.1:0\nupstream: {port: 10026}\nhostname: gw.example.org\nlocal_domains: [example.org]\n"
        f"store: {{backend: memory}}\nsignals: {{organisations_files: [{orgs}]}}\n")
    gw = Gateway(load_config(tmp_path / "gateway.yml"))
    running = gw.runtime
    orgs.write_text("organisations:\n  - {name: Foo Lab, domains: [foolab.example]}\n"
                    "  - {name: Foo Lab, domains: [gmail.com]}\n")
    assert gw.reload() is False and gw.runtime is running
    owner = gw.runtime.data.org_owning("foolab.example")
    assert owner is not None and owner.name == "Foo Lab" and gw.runtime.data.org_owning("gmail.com") is None
    assert f"{orgs}:3: organisation 'Foo Lab' is listed twice" in caplog.text
    assert f"{orgs}:3: Foo Lab: 'gmail.com' is a free-mail domain" in caplog.text


def test_an_admins_free_mail_list_may_cover_a_shipped_organisations_domain(tmp_path: Path) -> None:
    """An administrator cannot edit the shipped organisations: making a university's own domain
    free-mail (tests/unit/checks/test_sender.py) stays allowed; their own organisations may not."""
    cfg = config(tmp_path, "organisations: []\n", freemail_extra=("nus.edu.sg",))
    assert ReferenceData.load(cfg).is_freemail("nus.edu.sg")
    cfg = config(tmp_path, "organisations:\n  - {name: NUS Alumni, domains: [nus.edu.sg]}\n",
                 freemail_extra=("nus.edu.sg",))
    assert errors(cfg) == [f"{tmp_path / 'orgs.yml'}:2: NUS Alumni: 'nus.edu.sg' is a free-mail domain (listed in "
                           "<embedded defaults>: signals.freemail_extra); remove it: anyone can have an address there"]


def test_a_domain_list_saved_with_a_bom_and_crlf_loads(tmp_path: Path) -> None:
    """admin21 00:57: the free-mail list loader said "'\\ufeffbom-mail.test' is not a domain name" while the
    organisations and staff names loaders took the same file shape (BOM + CRLF)."""
    (tmp_path / "fm.txt").write_bytes(b"\xef\xbb\xbfbom-mail.test\r\n# a comment\r\nother-mail.test\r\n")
    (tmp_path / "staff.txt").write_bytes(b"\xef\xbb\xbfJane Roe\r\n")
    cfg = config(tmp_path, "\ufefforganisations:\r\n  - {name: Foo Lab, domains: [foolab.example]}\r\n",
                 freemail_files=(str(tmp_path / "fm.txt"),), disposable_files=(str(tmp_path / "fm.txt"),),
                 staff_names_file=str(tmp_path / "staff.txt"))
    data = ReferenceData.load(cfg)
    assert data.is_freemail("bom-mail.test") and data.is_freemail("other-mail.test")
    assert data.is_disposable("bom-mail.test")
    assert data.org_owning("foolab.example") is not None and ("jane", "roe") in data.protected_names


# ops23: shipped domains that free-mail lists other than freemail.txt name (JetBrains' swot list,
# which the gateway also reads as free-mail) and that the organisation really mails from; each
# with why it stays. Every other overlap is an error in organisations.yml.
KNOWN_OVERLAPS = {
    "facebook.com": "Meta's own domain; swot lists it for the @facebook.com addresses Facebook gave users (2010-2014)",
    "alibaba.com": "Alibaba's marketplace domain; swot lists it as free-mail (staff mail: alibaba-inc.com)",
    "indiatimes.com": "The Times of India group; swot lists it for the former Indiatimes Mail service",
}
# domains through which anyone's text arrives (a platform's notifications, a sending service):
# listed under an organisation, a claim of it sent through them read as backed
RELAYS = {"github.com", "linkedin.com", "facebookmail.com", "amazonses.com", "sharepointonline.com"}


def test_no_shipped_organisation_lists_a_free_mail_or_relay_domain_it_does_not_mail_from() -> None:
    """Before: Microsoft listed github.com and linkedin.com (a GitHub notification claiming
    Microsoft Research scanned clean, -2.2, with claim.backed), Amazon amazonses.com (every SES
    customer's MAIL FROM), Meta facebookmail.com (Facebook's notifications of anyone's messages)."""
    from gateway.refdata import _maintained_disposable, _swot_free, registered_domain

    free, disposable = _swot_free(), _maintained_disposable()
    data = ReferenceData.load(embedded_config())
    found = {}
    for org in data.organisations:
        for d in org.domains:
            reg = registered_domain(d)
            if (d in free or reg in free or d in disposable or reg in disposable) and d not in KNOWN_OVERLAPS:
                found[d] = org.name
            if d in RELAYS and org.name != "LinkedIn":  # LinkedIn's own staff do mail from linkedin.com
                found[d] = org.name
    assert found == {}

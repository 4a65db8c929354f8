from __future__ import annotations

import pytest

from gateway.config import ConfigError, SignalsConfig
from tests.support.messages import config


def test_defaults_work_offline():
    s = config().signals
    assert s == SignalsConfig()
    assert s.dnsbl_zones == () and s.indicators == () and s.rdap_url is None  # no third-party lookups by default


def test_relative_files_start_at_the_config_folder(tmp_path):
    (tmp_path / "alerts.yml").write_text("indicators: {personas: [A B]}\n")
    (tmp_path / "staff.txt").write_text("Priya Nair\n")
    cfg = config("signals: {indicators: [alerts.yml], staff_names_file: staff.txt, vip_names: [Dan Oak],\n"
                 "          dnsbl_zones: [zen.example.net], young_domain_days: 30}\n", str(tmp_path / "gw.yml"))
    assert cfg.signals.indicators == (str(tmp_path / "alerts.yml"),)
    assert cfg.signals.staff_names_file == str(tmp_path / "staff.txt")
    assert cfg.signals.vip_names == ("Dan Oak",) and cfg.signals.young_domain_days == 30


@pytest.mark.parametrize("extra, where", [
    ("signals: {indicators: [missing.yml]}\n", r"gw.yml:6: signals.indicators.0: file .* does not exist"),
    ("signals: {rdap_url: 'ftp://x/{domain}'}\n", r"gw.yml:6: signals.rdap_url"),
    ("signals: {dnsbl_zones: ['not a zone']}\n", r"gw.yml:6: signals.dnsbl_zones.0"),
    ("signals: {colour: red}\n", r"gw.yml:6: signals.colour: unknown key"),
    ("signals: {young_domain_days: 0}\n", r"gw.yml:6: signals.young_domain_days"),
])
def test_errors_name_file_line_and_key(tmp_path, extra, where):
    with pytest.raises(ConfigError, match=where):
        config(extra, str(tmp_path / "gw.yml"))

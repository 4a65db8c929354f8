"""The package as a new machine gets it: built into a wheel, installed into an EMPTY venv.

A dependency that is imported but not declared in pyproject.toml, a module or data file left out
of the wheel, or a console script that does not start fails here -- whatever the interpreter
running the tests happens to have installed by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT

MESSAGE = ROOT / "tests" / "corpus" / "approach" / "001-freemail-recruiter-whatsapp.eml"


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv holding only the built wheel and what it declares."""
    work = tmp_path_factory.mktemp("install")
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "*.tmp", "__pycache__", "*.egg-info", "build", "state", "demo", "artifacts"))
    dist = work / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(src)], cwd=work)
    wheel = next(dist.glob("approach_gateway-*.whl"))
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    _run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], cwd=work)
    return env_dir / "bin"


def test_wheel_installs_and_reports_its_version(installed: Path) -> None:
    from gateway import __version__

    out = _run([str(installed / "approach-gateway"), "--version"], cwd=installed)
    assert out.stdout.strip() == f"approach-gateway {__version__}"


def test_installed_package_imports_nothing_from_the_checkout(installed: Path, tmp_path: Path) -> None:
    out = _run([str(installed / "python"), "-c", "import gateway, gateway.cli, gateway.smtp.service; "
                "print(gateway.__file__)"], cwd=tmp_path)
    assert "site-packages" in out.stdout and str(ROOT) not in out.stdout


def test_installed_lint_uses_the_shipped_policies(installed: Path, tmp_path: Path) -> None:
    out = _run([str(installed / "approach-gateway"), "policy", "lint"], cwd=tmp_path)
    assert out.stdout.startswith("ok: ")
    rules = int(out.stdout.split()[1])
    assert rules >= 20, out.stdout


def test_installed_scan_flags_a_real_approach(installed: Path, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yml"
    config.write_text("listen: 127.0.0.1:0\nupstream: {host: 127.0.0.1, port: 10026}\n"
                      "hostname: gw.example.org\nlocal_domains: [example.org]\nstore: {backend: memory}\n")
    out = _run([str(installed / "approach-gateway"), "scan", "--offline", "--json", "--config", str(config),
                str(MESSAGE)], cwd=tmp_path)
    result = json.loads(out.stdout)
    assert result["file"] == str(MESSAGE)
    assert result["verdict"] in ("suspicious", "high"), result
    assert any(h["name"] == "X-Approach-Verdict" for h in result["headers"])

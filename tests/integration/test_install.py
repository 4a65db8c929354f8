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
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `python -m build` makes from a copy of the checkout (no build state in it)."""
    work = tmp_path_factory.mktemp("build")
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "*.tmp", "__pycache__", "*.egg-info", "build", "state", "demo", "artifacts"))
    dist = work / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(src)], cwd=work)
    return next(dist.glob("approach_gateway-*.whl"))


def _venv_with(env_dir: Path, wheel: Path) -> Path:
    """An empty venv (no pip in it: Debian's python3 has no ensurepip without python3-venv)
    into which the test venv's own pip installs the wheel and what it declares."""
    venv.EnvBuilder(with_pip=False, clear=True).create(env_dir)
    _run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"), "install", "-q", str(wheel)],
         cwd=env_dir)
    return env_dir / "bin"


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv holding only the built wheel and what it declares."""
    return _venv_with(tmp_path_factory.mktemp("install") / "venv", wheel)


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


UNIT = ROOT / "deploy" / "systemd" / "approach-gateway.service"


def test_unit_verifies_against_the_documented_installation(wheel: Path, tmp_path: Path) -> None:
    """The install steps written in the unit file's header, carried out under a scratch root
    (venv in opt/approach-gateway/venv, config and policies in etc/approach-gateway, the unit in
    etc/systemd/system), then `systemd-analyze verify --root` on it. The root holds the system's
    own unit directory and /bin/kill (what the unit refers to) and nothing else, so a wrong
    ExecStart path, a missing console script or a bad directive fails."""
    from tests.conftest import need_binary
    analyze = need_binary("systemd-analyze")
    root = tmp_path / "root"
    for d in ("usr/bin", "usr/lib/systemd", "etc/systemd/system", "etc/approach-gateway", "opt/approach-gateway"):
        (root / d).mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")
    (root / "lib").symlink_to("usr/lib")
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    shutil.copy2("/usr/bin/kill", root / "usr/bin/kill")
    # the documented steps (deploy/systemd/approach-gateway.service, header), rooted
    documented = [ln.strip("# ").strip() for ln in UNIT.read_text().splitlines()[:12] if ln.startswith("#   ")]
    assert any(ln.startswith("python3 -m venv /opt/approach-gateway/venv") for ln in documented), documented
    bin_dir = _venv_with(root / "opt/approach-gateway/venv", wheel)
    shutil.copy2(ROOT / "deploy" / "gateway.example.yml", root / "etc/approach-gateway/gateway.yml")
    shutil.copytree(ROOT / "policies", root / "etc/approach-gateway/policies")
    config = root / "etc/approach-gateway/gateway.yml"
    config.write_text(config.read_text().replace("  - ../policies", "  - policies"))
    shutil.copy2(UNIT, root / "etc/systemd/system" / UNIT.name)

    proc = subprocess.run([analyze, "verify", f"--root={root}", UNIT.name], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and UNIT.name not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    # and the ExecStart program exists there and reads the installed config (lint, no listening)
    exec_start = next(ln.split("=", 1)[1] for ln in UNIT.read_text().splitlines() if ln.startswith("ExecStart="))
    program = exec_start.split()[0]
    assert Path(str(root) + program) == bin_dir / "approach-gateway"
    out = _run([str(bin_dir / "approach-gateway"), "policy", "lint", "--config", str(config)], cwd=tmp_path)
    assert out.stdout.startswith("ok: "), out.stdout

    # the same root without the console script: verify names the missing ExecStart
    (bin_dir / "approach-gateway").unlink()
    proc = subprocess.run([analyze, "verify", f"--root={root}", UNIT.name], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and program in proc.stdout + proc.stderr

"""The console run standalone for tests: a real Runtime (offline), a real store and quarantine,
the aiohttp app mounted at /console/ on 127.0.0.1, and accounts made through the CLI code.

`Console.reload` rebuilds the runtime as `Gateway.reload_async` does (the file watcher and
SIGHUP path), so an indicator file or policy the console writes is in force afterwards.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp

from gateway.act.quarantine import QuarantineStore
from gateway.admin.console import ConsoleDeps
from gateway.admin.console.app import serve
from gateway.admin.console.db import ConsoleDB
from gateway.config import Config, parse_config
from gateway.errors import AdminInputError
from gateway.runtime import Runtime
from gateway.store import Store
from gateway.store.memory import MemoryStore
from tests.conftest import ROOT

PASSWORD = "correct horse battery"
USERS = {"vera": "viewer", "anna": "analyst", "adam": "admin", "rita": "reporter"}


def console_config(tmp_path: Path, upstream_port: int = 10026, extra: str = "") -> Config:
    policies = tmp_path / "policies"
    if not policies.exists():  # a private copy: the editor writes into its local.d
        import shutil

        shutil.copytree(ROOT / "policies", policies)
    text = f"""
listen: 127.0.0.1:0
upstream: {{host: 127.0.0.1, port: {upstream_port}, connect_timeout: 2, command_timeout: 5, data_timeout: 5}}
hostname: gw.example.org
local_domains: [example.org]
policies: [{policies}]
store: {{backend: memory}}
quarantine: {{dir: {tmp_path / 'quarantine'}}}
console:
  state_dir: {tmp_path / 'console'}
  report_address: report-approach@example.org
{extra}
"""
    path = tmp_path / "gateway.yml"
    path.write_text(text)
    return parse_config(text, str(path))


class Console:
    def __init__(self, config: Config, store: Store | None = None) -> None:
        self.config = config
        self.store = store if store is not None else MemoryStore(config.store.retention_days)
        self.runtime = Runtime(config, offline=True, store=self.store)
        self.quarantine = QuarantineStore(config.quarantine.dir)
        self.reloads = 0
        self.runner: Any = None
        self.port = 0
        db = ConsoleDB(config.console.state_dir)
        for name, role in USERS.items():
            if db.role_of(name) is None:
                db.add_user(name, role, PASSWORD)

    async def reload(self) -> bool:
        try:
            self.runtime = self.runtime.rebuild()
        except (AdminInputError, OSError):
            return False
        self.reloads += 1
        return True

    @property
    def deps(self) -> ConsoleDeps:
        return ConsoleDeps(config=self.config, runtime=lambda: self.runtime, store=self.store,
                           quarantine=self.quarantine, reload=self.reload)

    async def start(self) -> Console:
        self.runner, self.port = await serve(self.deps)
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/console"


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


async def login(session: aiohttp.ClientSession, base: str, user: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the CSRF token of the first page."""
    async with session.get(f"{base}/login") as r:
        page = await r.text()
    token = re.search(r'name="login_token" value="([^"]+)"', page)
    assert token
    async with session.post(f"{base}/login", data={"login_token": token.group(1), "user": user,
                                                   "password": password, "next": ""}) as r:
        assert r.status == 200, await r.text()
        page = await r.text()
    return csrf_of(page) if 'name="csrf"' in page else ""

"""Debian's chromium, headless, driven over the DevTools protocol (CDP) with aiohttp's websocket
client: no Selenium, no chromedriver, no browser download. Enough for the console's journeys:
navigate, click and wait for the next page, type, read the DOM, screenshots, and the network log
(every request the page made, Network.requestWillBeSent).

Waits are bounded (WAIT seconds) but never measured: a slow machine makes a test slower, not red.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import need_binary

WAIT = 90.0  # seconds any one wait may take (a bound for a wedged browser, not an assertion)


class Browser:
    def __init__(self) -> None:
        self.chromium = need_binary("chromium")
        self.profile = Path(tempfile.mkdtemp(prefix="console-chromium"))
        self.proc: asyncio.subprocess.Process | None = None
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._id = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._waiters: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        self._reader: asyncio.Task[None] | None = None
        self.requests: list[str] = []  # every URL the page requested
        self.console: list[str] = []  # console messages and CSP reports

    async def start(self) -> Browser:
        self.proc = await asyncio.create_subprocess_exec(
            self.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-features=Translate,MediaRouter,OptimizationHints", "--remote-debugging-port=0",
            "--remote-allow-origins=*", f"--user-data-dir={self.profile}", "--window-size=1280,1000",
            "about:blank", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        assert self.proc.stderr is not None
        ws_url = ""
        async with asyncio.timeout(WAIT):
            while not ws_url:
                line = await self.proc.stderr.readline()
                if not line:
                    raise RuntimeError("chromium exited before announcing its DevTools endpoint")
                m = re.search(rb"DevTools listening on (ws://\S+)", line)
                if m:
                    ws_url = m.group(1).decode()
        asyncio.create_task(self._drain(self.proc.stderr))
        port = int(ws_url.split(":")[2].split("/")[0])
        self.http = aiohttp.ClientSession()
        async with self.http.get(f"http://127.0.0.1:{port}/json/list") as r:
            targets = await r.json(content_type=None)
        page = next(t for t in targets if t.get("type") == "page")
        self.ws = await self.http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        await self.send("Network.enable")
        return self

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while await stream.readline():
            pass

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data:
                fut = self._pending.pop(data["id"], None)
                if fut is not None and not fut.done():
                    if "error" in data:
                        fut.set_exception(RuntimeError(f"CDP error: {data['error']}"))
                    else:
                        fut.set_result(data.get("result", {}))
                continue
            method, params = data.get("method", ""), data.get("params", {})
            if method == "Network.requestWillBeSent":
                self.requests.append(params["request"]["url"])
            elif method == "Runtime.consoleAPICalled":
                self.console.append(" ".join(str(a.get("value", "")) for a in params.get("args", [])))
            for name, fut in list(self._waiters):
                if name == method and not fut.done():
                    fut.set_result(params)
                    self._waiters.remove((name, fut))

    async def send(self, method: str, **params: Any) -> Any:
        assert self.ws is not None
        self._id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._id] = fut
        await self.ws.send_str(json.dumps({"id": self._id, "method": method, "params": params}))
        async with asyncio.timeout(WAIT):
            return await fut

    def _waiter(self, event: str) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((event, fut))
        return fut

    async def goto(self, url: str) -> None:
        loaded = self._waiter("Page.loadEventFired")
        await self.send("Page.navigate", url=url)
        async with asyncio.timeout(WAIT):
            await loaded

    async def eval(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def click(self, selector: str) -> None:
        """Click and wait for the page it leads to (a form submit or a link)."""
        loaded = self._waiter("Page.loadEventFired")
        ok = await self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                             " if (!e) return false; e.click(); return true; })()")
        assert ok, f"nothing matches {selector}"
        async with asyncio.timeout(WAIT):
            await loaded

    async def fill(self, selector: str, value: str) -> None:
        """Set a field's value as typing would (an `input` event follows)."""
        ok = await self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                             f" if (!e) return false; e.focus(); e.value = {json.dumps(value)};"
                             " e.dispatchEvent(new Event('input', {bubbles: true})); return true; })()")
        assert ok, f"nothing matches {selector}"

    async def text(self, selector: str) -> str:
        return str(await self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                                   " return e ? e.textContent : ''; })()"))

    async def exists(self, selector: str) -> bool:
        return bool(await self.eval(f"document.querySelector({json.dumps(selector)}) !== null"))

    async def wait_for(self, selector: str) -> None:
        """Until `selector` matches (for what the page's own script adds)."""
        async with asyncio.timeout(WAIT):
            while not await self.exists(selector):
                await asyncio.sleep(0.1)

    async def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                async with asyncio.timeout(30):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

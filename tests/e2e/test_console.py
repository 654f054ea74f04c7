"""The browser console at /console, clicked through in headless Chromium (Debian's `chromium`) over the
Chrome DevTools Protocol: pick a bridged server, open a session, pick a tool, type its argument into
the form built from its inputSchema, call it and watch the result and the event stream. Mouse clicks
and typing are real input events at the elements' positions, not JavaScript calls."""

from __future__ import annotations

import base64
import itertools
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import httpx2 as httpx
import pytest
from websockets.sync.client import connect as ws_connect

from conftest import Server
from test_stdio_bridge import config_file

CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.native_only,  # the console is served by the native binary's bridge
    pytest.mark.skipif(os.environ.get("MCP_EDGE_URL") is not None, reason="starts its own mcp-edge with bridged children"),
]


class Browser:
    """Headless Chromium driven over one DevTools WebSocket (flattened target sessions)."""

    def __init__(self, profile: str) -> None:
        assert CHROMIUM, "tests/run-all.sh installs Debian's chromium"
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1280,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 30
        url = None
        assert self.proc.stderr is not None
        while time.monotonic() < deadline and url is None:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("chromium exited before it listened")
            if "DevTools listening on " in line:
                url = line.split("DevTools listening on ", 1)[1].strip()
        assert url, "chromium did not open its DevTools endpoint within 30 s"
        self.ws = ws_connect(url, max_size=32 * 1024 * 1024, open_timeout=10).__enter__()
        self.ids = itertools.count(1)
        self.session: str | None = None

    def send(self, method: str, params: dict | None = None, timeout: float = 15) -> dict:
        msg_id = next(self.ids)
        msg = {"id": msg_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if reply.get("id") == msg_id:
                assert "error" not in reply, reply
                return reply.get("result", {})
        raise TimeoutError(method)

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Page.navigate", {"url": url})

    def eval(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30):
        """Polls a page expression until it is truthy (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value not in (None, False, 0, ""):  # a DOM node comes back as {}
                return value
            time.sleep(0.05)
        raise AssertionError(f"page never satisfied: {expression}\n{self.eval('document.body.innerText')}")

    def click(self, selector: str) -> None:
        """A real mouse click at the element's centre."""
        box = self.wait_for(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e || e.disabled) return null;"
            f" e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();"
            f" return r.width && r.height ? {{x: r.x + r.width / 2, y: r.y + r.height / 2}} : null; }})()"
        )
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            params = {"type": kind, "x": box["x"], "y": box["y"]}
            if kind != "mouseMoved":
                params.update(button="left", clickCount=1)
            self.send("Input.dispatchMouseEvent", params)

    def type(self, text: str) -> None:
        self.send("Input.insertText", {"text": text})

    def screenshot(self, path: pathlib.Path) -> None:
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"]))

    def close(self) -> None:
        try:
            self.ws.__exit__(None, None, None)
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def test_console_click_through_in_headless_chromium(tmp_path):
    server = Server(["--stdio-config", config_file(tmp_path)], str(tmp_path)).start()
    browser = Browser(tempfile.mkdtemp(prefix="mcp-edge-chromium-"))
    try:
        browser.open(f"{server.url}/console")
        browser.wait_for("document.querySelectorAll('#server option').length >= 4")
        options = browser.eval("[...document.querySelectorAll('#server option')].map(o => o.value)")
        assert {"everything", "everything-shared", "time"} <= set(options)
        # The <select> is set through the DOM (a native dropdown is drawn outside the page in headless
        # Chromium); every other step is a real click or real typing.
        browser.eval("(() => { const s = document.querySelector('#server'); s.value = 'everything'; s.dispatchEvent(new Event('change')); })()")
        browser.click("#open-session")
        browser.wait_for("document.querySelector('#session-id').textContent.length === 32")
        browser.wait_for("document.querySelector('#tools button[data-tool=\"echo\"]')")
        browser.click('#tools button[data-tool="echo"]')
        browser.wait_for("document.querySelector('#arg-message')")
        kind = browser.eval("document.querySelector('#arg-message').dataset.kind")
        assert kind == "string", "the form field follows the tool's inputSchema"
        browser.click("#arg-message")
        browser.type("typed in chromium")
        browser.click("#call")
        result = browser.wait_for("document.querySelector('#result').textContent.includes('Echo: typed in chromium') && document.querySelector('#result').textContent")
        assert json.loads(result)["content"][0]["text"] == "Echo: typed in chromium"
        # A numeric form: get-sum's integer fields, filled by typing.
        browser.click('#tools button[data-tool="get-sum"]')
        browser.click("#arg-a")
        browser.type("19")
        browser.click("#arg-b")
        browser.type("23")
        browser.click("#call")
        browser.wait_for("document.querySelector('#result').textContent.includes('42')")
        # Leaving a required field empty is refused in the page, before any request.
        browser.click('#tools button[data-tool="echo"]')
        browser.click("#call")
        browser.wait_for("document.querySelector('#status').textContent.includes('message is required')")
        # The event stream is open and carries the server's notifications.
        browser.wait_for("document.querySelector('#events').textContent.includes('event stream open')")
        browser.click('#tools button[data-tool="toggle-simulated-logging"]')
        browser.click("#call")
        browser.wait_for("document.querySelector('#events').textContent.includes('notifications/message')")
        browser.screenshot(tmp_path / "console.png")
        assert (tmp_path / "console.png").stat().st_size > 10_000
        # The session the page opened is a real bridged session.
        sid = browser.eval("document.querySelector('#session-id').textContent")
        sessions = httpx.get(f"{server.url}/stats", timeout=10).json()["servers"]["everything"]["sessions"]
        assert sid in [s["id"] for s in sessions]
    finally:
        browser.close()
        assert server.stop() == 0

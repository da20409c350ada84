"""``pipebus inspect --web``: the inspector served by textual-serve, opened in headless Chromium.

The page draws the terminal on a canvas, so its text is not in the DOM: the test
records what the page's websocket received (the app's screen, as terminal output)
and replays it into a terminal emulator (pyte) of the page's size, the screen a
person sees. A screenshot is saved in the test's tmp dir too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyte
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from inspector.web import app_command, page_url
from pipebus.eventlog.store import EventLog

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="headless Chromium is not installed: `apt-get install -y chromium chromium-driver` "
    "(Debian's packages) to run the browser test of `pipebus inspect --web`",
)

RECORD_SOCKET = """
window.__pb = {received: [], sent: []};
const NativeSocket = window.WebSocket;
window.WebSocket = function (...args) {
  const socket = new NativeSocket(...args);
  socket.addEventListener("message", (event) => {
    if (typeof event.data === "string") return;
    const bytes = new Uint8Array(event.data);
    let text = "";
    for (let at = 0; at < bytes.length; at += 8192) {
      text += String.fromCharCode.apply(null, bytes.subarray(at, at + 8192));
    }
    window.__pb.received.push(btoa(text));
  });
  const send = socket.send.bind(socket);
  socket.send = (data) => { window.__pb.sent.push(data); send(data); };
  return socket;
};
window.WebSocket.prototype = NativeSocket.prototype;
"""
"""Injected before the page's own script: keeps what its websocket sends and receives."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served(long_log: Path, tmp_path: Path) -> Iterator[str]:
    """``pipebus inspect LOG --session last --web`` on a free port: its URL."""
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as output:
        command = [sys.executable, "-m", "pipebus.cli", "inspect", str(long_log)]
        server = subprocess.Popen(
            [*command, "--session", "last", "--web", "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            if server.poll() is not None:
                pytest.fail(f"pipebus inspect --web exited: {log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"pipebus inspect --web never listened: {log.read_text()}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def screen_of(driver: webdriver.Chrome) -> list[str]:
    """The lines the page shows: what its websocket received, replayed in its terminal size."""
    recorded = driver.execute_script("return window.__pb")
    sizes = [json.loads(s)[1] for s in recorded["sent"] if s.startswith('["resize"')]
    if not sizes:
        return []
    screen = pyte.Screen(sizes[-1]["width"], sizes[-1]["height"])
    stream = pyte.ByteStream(screen)
    for chunk in recorded["received"]:
        stream.feed(base64.b64decode(chunk))
    return list(screen.display)


@NEEDS_CHROMIUM
@pytest.mark.timeout(120)
async def test_inspect_web_shows_the_timeline_in_headless_chromium(
    served: str, long_log: Path, tmp_path: Path
) -> None:
    async with await EventLog.open(long_log, read_only=True) as log:
        session = (await log.sessions())[0]
        first = (await log.events(session.id, 1, 2))[0]
    # the timeline's first row as the terminal shows it: step, time, short type, route
    short = first.type.removeprefix("Bus").removesuffix("Message")
    route = f"{first.source} → {first.target or '*'}"
    row = re.compile(rf"^\W*1\s+[\d.]+\s?ms\s+{short}\s+{re.escape(route)}\s")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--window-size=1600,1000"):
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium'}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_SOCKET})
        driver.get(served)
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while time.monotonic() < deadline:
            lines = screen_of(driver)
            if any("step 1/" in line for line in lines) and any(map(row.search, lines)):
                break
            await asyncio.sleep(0.5)  # the page draws as the app's frames arrive
        screenshot = tmp_path / "inspect-web.png"
        driver.save_screenshot(str(screenshot))
    finally:
        driver.quit()
    shown = "\n".join(lines)
    assert f"session {session.id[:8]}" in shown, shown
    assert any("step 1/" in line for line in lines), shown
    assert any(map(row.search, lines)), shown
    assert f"#1  {first.type}" in shown, shown  # the message panel, beside the timeline
    assert screenshot.stat().st_size > 10_000  # a drawn page, not an empty one


def test_the_served_command_is_the_terminal_inspector_on_the_same_log() -> None:
    command = app_command(["/logs/a b.db", "--session", "last"])
    assert command.endswith("-m pipebus.cli inspect '/logs/a b.db' --session last")
    assert page_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert page_url("::1", 8000) == "http://[::1]:8000"

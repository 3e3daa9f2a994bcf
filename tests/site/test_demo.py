"""The demo as a new user runs it: the shipped demo config, indexed, served, and asked in a browser
on a machine with no model at all. With CHATKIT_SCREENSHOTS=1 the picture replaces docs/img/demo.png."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import ROOT
from tests.support.server import free_port, wait_healthy
from tests.widget.helpers import Chat

pytestmark = pytest.mark.browser


def test_the_demo_answers_from_the_site_with_a_link_and_no_model(browser: Browser, tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()  # the shipped config's paths start from its own folder
    shutil.copy(ROOT / "demo" / "chatkit.toml", tmp_path / "demo" / "chatkit.toml")
    (tmp_path / "web").symlink_to(ROOT / "web")
    port = free_port()
    env = {**os.environ, "ALLOWED_ORIGINS": f"http://127.0.0.1:{port}",
           "OLLAMA_BASE_URL": "http://127.0.0.1:9", "LOG_LEVEL": "warning"}
    env.pop("CHATKIT_CONFIG", None)
    command = [sys.executable, "-m", "chatkit_core"]
    env["CHATKIT_CONFIG"] = str(tmp_path / "demo" / "chatkit.toml")
    indexed = subprocess.run([*command, "index"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert indexed.returncode == 0, indexed.stderr
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - the server writes to it until it stops
    server = subprocess.Popen([*command, "serve", "--port", str(port)], cwd=tmp_path, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server, tmp_path / "server.log", timeout=30)
        context = browser.new_context(base_url=url, viewport={"width": 1100, "height": 760}, reduced_motion="reduce")
        page = context.new_page()
        page.goto("/")
        chat = Chat(page)
        chat.launcher.click()
        answer = chat.ask("are you open on sunday?")
        expect(answer.locator(".body")).to_contain_text("13:00")
        # The page is linked once, in the sources (a link to it in the text reads as text).
        expect(answer.locator("[part=sources] a").first).to_have_attribute("href", f"{url}/hours.html#weekly")
        expect(answer.locator(".body a")).to_have_count(0)
        folder = Path(__file__).resolve().parents[2] / "docs" / "img" if os.environ.get("CHATKIT_SCREENSHOTS") \
            else tmp_path
        page.evaluate("document.querySelector('.chatkit-host').shadowRoot.activeElement?.blur()")
        page.screenshot(path=folder / "demo.png")
        context.close()
    finally:
        server.terminate()
        server.wait(10)
        log.close()


"""Small leaks: passwords in URLs that ``config check`` prints, and files of web/ that are not
site assets, on a real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.security.conftest import canned
from tests.support.server import running_server

WEB = Path(__file__).resolve().parents[2] / "web"


def test_config_check_prints_no_password_of_any_url(tmp_path: Path) -> None:
    config = tmp_path / "chatkit.toml"
    config.write_text("""
[chain]
order = ["local", "spare"]
[providers.local]
type = "ollama"
base_url = "http://ops:hunter2-ollama@127.0.0.1:11434"
[providers.spare]
type = "openai"
base_url = "https://user:hunter2-openai@llm.example/v1"
api_key = "sk-not-printed"
[providers.unused]
type = "ollama"
base_url = "http://a:hunter2-unused@127.0.0.1:1"
[sessions]
store = "sqlite"
url = "sqlite:///%s"
[rate_limit]
type = "none"
""" % (tmp_path / "s.sqlite3"))
    result = subprocess.run([sys.executable, "-m", "chatkit_core", "config", "check", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "hunter2" not in output and "sk-not-printed" not in output
    assert "http://***@127.0.0.1:11434" in output and "https://***@llm.example/v1" in output


def test_only_site_assets_are_served_from_the_web_folder(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    assets = {"index.html": "<p>home</p>", "docs/index.html": "<p>docs</p>", "app.js": "1", "s.css": "a{}",
              "logo.svg": "<svg/>", "robots.txt": "User-agent: *"}
    private = {"nginx.conf": "server {}", "chatkit.toml": "[server]", ".env": "KEY=1", "notes.md": "# x",
               "backup.tar.gz": "x", "docs/.htpasswd": "u:p", "tool.py": "print()", "Makefile": "all:"}
    for name, text in {**assets, **private}.items():
        (site / name).write_text(text)
    with running_server(canned(extra=f'[server]\nweb_root = "{site}"\n')) as url:
        for name, text in assets.items():
            response = httpx.get(f"{url}/{name}")
            assert response.status_code == 200 and response.text == text, name
        assert httpx.get(f"{url}/docs/").text == "<p>docs</p>"
        for name in private:
            response = httpx.get(f"{url}/{name}")
            assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", name


def test_the_shipped_site_keeps_every_page_and_hides_its_nginx_config() -> None:
    with running_server(canned(extra=f'[server]\nweb_root = "{WEB}"\n')) as url:
        assert httpx.get(f"{url}/nginx.conf").status_code == 404
        for path in [p for p in WEB.rglob("*") if p.is_file() and p.name != "nginx.conf"]:
            assert httpx.get(f"{url}/{path.relative_to(WEB)}").status_code == 200, path

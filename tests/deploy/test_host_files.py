"""`chatkit deploy host` and deploy/host/: what it writes, what it refuses, what it warns about,
and that the host's nginx site keeps in step with the compose edge (web/nginx.conf)."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest

from chatkit_core.builtins.host_deploy import SITE_NAME, UNIT_NAME, host_from, render
from chatkit_core.cli import main
from tests.deploy.conftest import ROOT

HOST = ROOT / "deploy/host"
GOOD = """
[server]
allowed_origins = ["https://chat.example.com"]
trusted_proxies = ["127.0.0.1/32"]
port = 8123

[providers.demo]
type = "canned"

[sessions]
store = "sqlite"
url = "sqlite:///data/sessions.sqlite3"
"""


@pytest.fixture(autouse=True)
def _process_logging_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() points structlog, process-wide, at this test's captured stderr, which pytest then
    closes: later tests in this worker would log into it. Everything else main() does runs."""
    monkeypatch.setattr("chatkit_core.platform.logs.configure_logging", lambda *args, **kwargs: None)


def deploy(tmp_path: Path, config: str | None = GOOD, *args: str) -> Path:
    out = tmp_path / "out"
    if config is not None:
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "chatkit.toml").write_text(config)
        args = ("--config", str(tmp_path / "chatkit.toml"), *args)
    assert main(["deploy", "host", "--domain", "Chat.Example.com", "--out", str(out), *args]) == 0
    return out


def service(unit: str) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for line in unit.split("[Service]")[1].split("[Install]")[0].splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            options.setdefault(key, []).append(value)
    return options


def test_the_shipped_files_are_what_the_command_writes_for_the_documented_paths():
    host, warnings = host_from(HOST / "chatkit.toml", "chat.example.com", None, "chatkit")
    assert host.writable == ("/var/lib/chatkit",) and host.port == 8000
    shipped = dataclasses.replace(host, chatkit="/opt/chatkit/venv/bin/chatkit", config="/etc/chatkit/chatkit.toml")
    for name, text in render(shipped).items():
        assert (HOST / name).read_text() == text, f"deploy/host/{name} differs from `chatkit deploy host`"
    assert not [w for w in warnings if "trusted_proxies" in w or "allowed_origins" in w]


def test_the_files_are_filled_in_for_this_venv_and_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = deploy(tmp_path)
    unit, site = (out / UNIT_NAME).read_text(), (out / SITE_NAME).read_text()
    options = service(unit)
    config = tmp_path / "chatkit.toml"
    assert options["ExecStart"] == [f"{sys.prefix}/bin/chatkit serve --config {config} --host 127.0.0.1 --port 8123"]
    assert options["User"] == options["Group"] == ["chatkit"]
    assert options["EnvironmentFile"] == [f"{tmp_path}/chatkit.env"]
    # A relative sqlite:/// path resolves against the config's folder, the working directory.
    assert options["WorkingDirectory"] == [str(tmp_path)]
    assert options["ReadWritePaths"] == [f"{tmp_path}/data"]
    assert options["Restart"] == ["on-failure"] and options["ProtectSystem"] == ["strict"]
    assert "server 127.0.0.1:8123;" in site and "server_name chat.example.com;" in site
    assert "/etc/letsencrypt/live/chat.example.com/fullchain.pem" in site
    printed = capsys.readouterr()
    assert printed.err == ""  # nothing to warn about
    assert f"install -m 0644 {out}/{UNIT_NAME} /etc/systemd/system/chatkit.service" in printed.out


def test_port_and_user_options_and_a_store_that_writes_nothing(tmp_path: Path):
    memory = GOOD.replace('store = "sqlite"', 'store = "memory"').replace('url = "sqlite:///data/sessions.sqlite3"', "")
    out = deploy(tmp_path, memory, "--port", "9001", "--user", "chat-bot")
    options = service((out / UNIT_NAME).read_text())
    assert options["ExecStart"][0].endswith("--port 9001") and options["User"] == ["chat-bot"]
    assert "ReadWritePaths" not in options  # ProtectSystem=strict: nothing writable at all
    assert "server 127.0.0.1:9001;" in (out / SITE_NAME).read_text()


def test_settings_that_would_not_work_behind_nginx_are_warned_about(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]):
    config = GOOD.replace('["https://chat.example.com"]', '["http://localhost:8080"]')
    config = config.replace('trusted_proxies = ["127.0.0.1/32"]', "hsts = true").replace("data/", "missing/")
    deploy(tmp_path, config)
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 4 and all(line.startswith("warning: ") for line in warnings)
    assert 'add "127.0.0.1/32"' in warnings[0]
    assert "add https://chat.example.com" in warnings[1]
    assert f"install -d -o chatkit -g chatkit -m 0750 {tmp_path}/missing" in warnings[2]
    assert "turn server.hsts off" in warnings[3]


@pytest.mark.parametrize(("args", "says"), [
    (["--domain", "chat.example.com;evil"], "--domain: 'chat.example.com;evil' is not a host name"),
    (["--domain", "chat example.com"], "is not a host name like chat.example.com"),
    (["--user", "root"], "--user: 'root' is not a user name for the service"),
    (["--user", "Bad User"], "--user: 'Bad User'"),
    (["--port", "70000"], "--port: 70000 is not a port number"),
    (["--port", "0"], "--port: 0 is not a port number"),
])
def test_bad_options_are_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args, says):
    (tmp_path / "chatkit.toml").write_text(GOOD)
    argv = ["deploy", "host", "--config", str(tmp_path / "chatkit.toml"), "--out", str(tmp_path / "out"),
            "--domain", "chat.example.com", *args]
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and says in error and error.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_config_is_required_and_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHATKIT_CONFIG", raising=False)
    argv = ["deploy", "host", "--domain", "chat.example.com", "--out", "out"]
    assert main(argv) == 1
    assert "needs the config file the service will run with: --config PATH" in capsys.readouterr().err
    (tmp_path / "chatkit.toml").write_text('[providers.demo]\ntype = "nonexistent"\n')
    assert main(argv) == 1
    assert "providers.demo" in capsys.readouterr().err


def test_paths_a_unit_cannot_hold_as_written_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    folder = tmp_path / "my site"
    folder.mkdir()
    (folder / "chatkit.toml").write_text(GOOD)
    assert main(["deploy", "host", "--config", str(folder / "chatkit.toml"), "--domain", "chat.example.com",
                 "--out", str(tmp_path / "out")]) == 1
    assert "--config: " in capsys.readouterr().err


def test_an_unwritable_out_folder_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "chatkit.toml").write_text(GOOD)
    (tmp_path / "file").write_text("")
    assert main(["deploy", "host", "--config", str(tmp_path / "chatkit.toml"), "--domain", "chat.example.com",
                 "--out", str(tmp_path / "file" / "out")]) == 1
    assert capsys.readouterr().err.startswith(f"error: --out: cannot write {tmp_path}/file/out")


def _blocks(conf: str) -> dict[str, str]:
    """``location`` header -> its body, one level deep."""
    return {m[1].strip(): m[2] for m in re.finditer(r"\n\s*location ([^{]+)\{(.*?)\n\s*\}", conf, re.S)}


# Lines of web/nginx.conf that belong to its container, not to the edge's behaviour.
CONTAINER_ONLY = ("_temp_path ",  # an unprivileged nginx with a read-only root writes to /tmp
                  "proxy_next_upstream ")  # replicas to try next; the host runs one backend


def test_the_host_site_keeps_the_compose_edges_headers_limits_and_proxy_settings():
    edge, host = (ROOT / "web/nginx.conf").read_text(), (HOST / SITE_NAME).read_text()
    lines = {line.strip() for line in host.splitlines()}
    for line in edge.splitlines():
        line = line.strip()
        kept = line.startswith(("add_header", "proxy_", "client_max_body_size", "gzip", "map $request_uri",
                                "\"~*^[^?]*", "server_tokens", "return 40", "return 50", "keepalive_timeout"))
        if kept and not any(part in line for part in CONTAINER_ONLY):
            assert line in lines, f"the host site lacks {line!r} of web/nginx.conf"
    # add_header in a location replaces the server's: each one that adds headers adds HSTS too.
    for where, body in _blocks(host).items():
        if "add_header" in body:
            assert "add_header Strict-Transport-Security $chatkit_hsts always;" in body, where


def test_the_unit_and_the_site_agree_and_the_tls_lines_are_ready():
    unit, site = (HOST / UNIT_NAME).read_text(), (HOST / SITE_NAME).read_text()
    port = re.search(r"--host 127\.0\.0\.1 --port (\d+)$", unit, re.M)
    assert port and f"server 127.0.0.1:{port[1]};" in site
    tls = [line.strip() for line in site.splitlines() if line.strip().startswith("#tls ")]
    assert tls[:2] == ["#tls listen 443 ssl http2;", "#tls listen [::]:443 ssl http2;"]
    assert any("ssl_certificate_key" in line for line in tls) and any("return 301 https://" in line for line in tls)

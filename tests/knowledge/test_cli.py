"""``chatkit index`` and ``chatkit index --status`` through the installed command."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from pathlib import Path

CHATKIT = str(Path(sys.executable).with_name("chatkit"))


def chatkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CHATKIT_CONFIG"}
    return subprocess.run([CHATKIT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def make_site(root: Path) -> None:
    (root / "web").mkdir()
    (root / "web" / "hours.html").write_text("<title>Hours</title><main><p>Open daily.</p></main>")
    (root / "web" / "menu.md").write_text("# Menu\n\nBaguette 1.20\n")
    (root / "web" / "photo.html").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")
    (root / "chatkit.toml").write_text('[providers.site]\ntype = "extractive"\n'
                                       '[knowledge]\ntype = "sqlite"\nsources = ["web/"]\n')


def test_index_builds_with_plain_progress_lines_and_a_summary_then_status_describes_it(tmp_path):
    make_site(tmp_path)
    built = chatkit("index", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert built.stdout.splitlines()[0].endswith("2 added, 0 changed, 0 unchanged, 0 removed, 1 failed, 0 skipped")
    assert "  failed: web/photo.html: not text: binary content" in built.stdout
    assert "[1] /hours.html" in built.stderr.splitlines()  # not a terminal: one plain line per page
    assert (tmp_path / ".chatkit" / "knowledge.sqlite3").is_file()  # the default path, under the working dir
    again = chatkit("index", cwd=tmp_path)
    assert "0 added, 0 changed, 2 unchanged, 0 removed, 1 failed, 0 skipped" in again.stdout
    assert again.stdout.splitlines()[-1] == "  nothing changed: the index file was left as it was"
    status = chatkit("index", "--status", cwd=tmp_path)
    assert status.returncode == 0
    lines = dict(line.split(":", 1) for line in status.stdout.splitlines())
    assert lines["index"].strip().startswith(str(tmp_path / ".chatkit" / "knowledge.sqlite3"))
    assert lines["pages"].strip() == "2" and lines["chunks"].strip() == "2"
    assert lines["sources"].strip() == "web" and lines["built"].strip().endswith("UTC")


def test_operator_errors_are_one_clear_line(tmp_path):
    (tmp_path / "chatkit.toml").write_text('[providers.site]\ntype = "extractive"\n')
    result = chatkit("index", cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.startswith("error: chatkit.toml has no [knowledge] table")
    (tmp_path / "chatkit.toml").write_text('[knowledge]\ntype = "sqlite"\nsources = ["web/"]\nmax_pages = 0\n')
    result = chatkit("index", cwd=tmp_path)
    assert result.returncode == 1 and "max_pages must be at least 1" in result.stderr
    (tmp_path / "chatkit.toml").write_text('[knowledge]\ntype = "sqlite"\nsources = ["web/"]\n')
    status = chatkit("index", "--status", cwd=tmp_path)
    assert status.returncode == 1 and "no index at .chatkit/knowledge.sqlite3: run `chatkit index`" in status.stderr
    nothing = chatkit("index", cwd=tmp_path)
    assert nothing.returncode == 1 and "failed: web: no such file or folder" in nothing.stdout


def test_on_a_terminal_the_progress_is_a_bar(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    make_site(tmp_path)
    parent, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "CHATKIT_CONFIG"}
    with subprocess.Popen([CHATKIT, "index"], cwd=tmp_path, env=env, stdin=child, stdout=subprocess.PIPE,
                          stderr=child, text=True) as process:
        os.close(child)
        summary, _ = process.communicate(timeout=60)
        screen = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(parent, 4096):
                screen += chunk
    os.close(parent)
    assert process.returncode == 0 and "2 added" in summary
    assert b" pages" in screen and b"\r" in screen  # tqdm redraws one line
    assert b"[1] /hours.html" not in screen


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    """``chatkit index | head -1``: the rest of the output has nowhere to go, and that is fine."""
    (tmp_path / "web").mkdir()
    for n in range(300):  # a line each in the summary: 25 KB, several times what the pipe and a read hold
        (tmp_path / "web" / f"page-{n:03}-{'with-a-long-name-' * 3}.html").write_text(
            f"<title>Page {n}</title><p>Text {n}.</p>")
    (tmp_path / "chatkit.toml").write_text('[knowledge]\ntype = "sqlite"\nsources = ["web/"]\n')
    read, write = os.pipe()
    fcntl.fcntl(write, 1031, 4096)  # F_SETPIPE_SZ: the smallest pipe, so the writer must wait for its reader
    env = {k: v for k, v in os.environ.items() if k != "CHATKIT_CONFIG"}
    process = subprocess.Popen([CHATKIT, "index"], cwd=tmp_path, env=env, stdout=write, stderr=subprocess.PIPE)
    os.close(write)
    with os.fdopen(read, "rb") as reader:
        assert reader.readline().startswith(b"300 pages")
    assert process.wait(timeout=60) == 141
    assert b"Traceback" not in process.stderr.read()

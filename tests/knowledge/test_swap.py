"""A running server keeps answering from the old index while ``chatkit index`` rebuilds it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.server import running_server

CHATKIT = str(Path(sys.executable).with_name("chatkit"))


def write_site(web: Path, sunday: str) -> None:
    web.mkdir(exist_ok=True)
    (web / "hours.html").write_text(f"<title>Opening hours</title><main><h2 id='sunday'>Sunday</h2>"
                                    f"<p>On Sunday we open {sunday}.</p></main>")
    for n in range(400):  # enough pages for the rebuild to take a while
        (web / f"news{n}.html").write_text(f"<title>News {n}</title><main><p>Story {n} {sunday} about rye "
                                           f"bread, spelt number {n}.</p></main>")


def ask(client: httpx.Client, session: str) -> str:
    reply = client.post("/api/chat", json={"sessionId": session, "message": "When do you open on Sunday?"})
    assert reply.status_code == 200, reply.text
    return reply.json()["message"]["content"]


def test_answers_come_from_the_old_index_during_a_rebuild_and_the_new_one_after(tmp_path):
    web = tmp_path / "web"
    write_site(web, "from 8:00 to 13:00")
    config = tmp_path / "chatkit.toml"
    config.write_text(f'[chain]\norder = ["site"]\n[providers.site]\ntype = "extractive"\n[rate_limit]\n'
                      f'type = "none"\n[knowledge]\ntype = "sqlite"\nsources = ["{web}"]\n'
                      f'path = "{tmp_path / "index.sqlite3"}"\n')
    subprocess.run([CHATKIT, "index", "--config", str(config)], check=True, capture_output=True, timeout=120)
    with running_server(config.read_text()) as url, httpx.Client(base_url=url, timeout=10) as client:
        session = client.post("/api/create-session").json()["sessionId"]
        assert ask(client, session).startswith("On Sunday we open from 8:00 to 13:00.")
        write_site(web, "from 9:00 to 12:00")
        rebuild = subprocess.Popen([CHATKIT, "index", "--config", str(config)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        during = []
        while rebuild.poll() is None:
            during.append(ask(client, session))
            time.sleep(0.02)
        assert rebuild.returncode == 0
        assert during and all(answer.startswith("On Sunday we open from") for answer in during)
        assert "On Sunday we open from 8:00 to 13:00." in during[0]
        assert ask(client, session).startswith("On Sunday we open from 9:00 to 12:00.")
        health = client.get("/health").json()
        assert health["knowledge"]["status"] == "up"

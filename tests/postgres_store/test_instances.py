"""Real `chatkit serve` processes on one real PostgreSQL: shared conversations and console, one
retention sweeper, and PostgreSQL stopped and started mid-conversation."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.console.helpers import ADMIN, TOKEN, login_nonce
from tests.support.postgres import PASSWORD, PostgresServer
from tests.support.server import running_server

pytestmark = pytest.mark.postgres


def config(url: str, delay: float = 0, extra: str = "") -> str:
    return f"""
[chain]
order = ["demo"]
[providers.demo]
type = "canned"
replies = ["Rye and spelt, every morning. We also bake sourdough on Fridays, and gluten-free loaves on Saturdays."]
delay = {delay}
chunk_chars = 4
[rate_limit]
type = "none"
[sessions]
store = "postgres"
url = "{url}"
new_per_minute = 0
{ADMIN}{extra}"""


def chat(base: str, session: str, text: str) -> httpx.Response:
    return httpx.post(f"{base}/api/chat", json={"sessionId": session, "message": text}, timeout=15)


def history(base: str, session: str) -> list[tuple[str, str]]:
    response = httpx.get(f"{base}/api/session/{session}/messages", timeout=10)
    assert response.status_code == 200, response.text
    return [(m["role"], m["content"]) for m in response.json()["messages"]]


@contextlib.contextmanager
def console(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, timeout=10) as client:
        nonce = login_nonce(client.get("/admin/login").text)
        signed = client.post("/admin/login", data={"token": TOKEN, "login_nonce": nonce})
        assert signed.status_code in (200, 303), signed.text
        yield client


def test_two_instances_share_conversations_feedback_and_the_console(postgres_url, tmp_path: Path):
    with running_server(config(postgres_url)) as a, running_server(config(postgres_url)) as b:
        session = httpx.post(f"{a}/api/create-session", timeout=10).json()["sessionId"]
        first = chat(a, session, "Which breads do you bake?")
        assert first.status_code == 200, first.text
        assert history(b, session)[-2:] == [("user", "Which breads do you bake?"),
                                            ("assistant", first.json()["message"]["content"])]
        second = chat(b, session, "And on Sundays?")  # B continues what A began
        assert second.status_code == 200, second.text
        assert [text for _, text in history(a, session)][::2] == ["Which breads do you bake?", "And on Sundays?"]

        reply = second.json()["message"]["id"]
        rated = httpx.post(f"{b}/api/session/{session}/messages/{reply}/feedback", json={"rating": "down"}, timeout=10)
        assert rated.status_code == 200, rated.text
        assert httpx.get(f"{a}/api/session/{session}/messages", timeout=10).json()["messages"][-1]["feedback"] == {
            "rating": "down", "comment": ""}

        other = httpx.post(f"{b}/api/create-session", timeout=10).json()["sessionId"]
        assert chat(b, other, "Gluten-free loaves?").status_code == 200
        for base in (a, b):  # each console lists both conversations, and the rating
            with console(base) as admin:
                listed = admin.get("/admin/conversations").text
                assert "Which breads do you bake?" in listed and "Gluten-free loaves?" in listed
                rated_down = admin.get("/admin/conversations", params={"down": "1"}).text
                assert "Which breads do you bake?" in rated_down and "Gluten-free loaves?" not in rated_down

        assert httpx.delete(f"{a}/api/session/{other}", timeout=10).status_code == 204
        assert httpx.get(f"{b}/api/session/{other}/messages", timeout=10).status_code == 404


def test_retention_runs_on_one_instance_only(postgres_url, tmp_path: Path):
    retained = config(postgres_url, extra='retention = "2s"\n')
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    info = {"LOG_LEVEL": "info"}
    with running_server(retained, env=info, log=logs[0]) as a, running_server(retained, env=info, log=logs[1]) as b:
        sessions = []
        for base in (a, b):
            session = httpx.post(f"{base}/api/create-session", timeout=10).json()["sessionId"]
            assert chat(base, session, "Erase me later").status_code == 200
            sessions.append(session)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(
                httpx.get(f"{a}/api/session/{s}/messages", timeout=10).status_code != 404 for s in sessions):
            time.sleep(0.2)
        assert all(httpx.get(f"{b}/api/session/{s}/messages", timeout=10).status_code == 404 for s in sessions)
        time.sleep(1.5)  # several more sweeps on each instance
    events = [[json.loads(line)["event"] for line in log.read_text().splitlines() if line.startswith("{")]
              for log in logs]
    sweepers = [index for index, names in enumerate(events) if "postgres_lease_taken" in names]
    erasers = [index for index, names in enumerate(events) if "conversations_erased" in names]
    assert len(sweepers) == 1 and erasers == sweepers, events


def test_postgres_stopped_and_started_mid_conversation(own_postgres: PostgresServer, tmp_path: Path):
    url = own_postgres.create_database("chat")
    log = tmp_path / "server.log"
    with running_server(config(url, delay=0.1), log=log) as base:
        session = httpx.post(f"{base}/api/create-session", timeout=10).json()["sessionId"]
        assert chat(base, session, "Which breads do you bake?").status_code == 200

        events: list[str] = []
        streaming = threading.Event()

        def stream() -> None:  # an answer streaming while PostgreSQL goes away
            with httpx.stream("POST", f"{base}/api/chat", timeout=20,
                              json={"sessionId": session, "message": "And on Sundays?", "stream": True}) as response:
                for line in response.iter_lines():
                    if line.startswith(("event:", "data:")):
                        events.append(line)
                    if line == "event: delta":
                        streaming.set()

        reader = threading.Thread(target=stream)
        reader.start()
        assert streaming.wait(10), events  # the question is stored, the answer under way
        own_postgres.stop()
        reader.join(20)
        assert events[-2:][0] == "event: error" and '"store_unavailable"' in events[-1], events

        down = chat(base, session, "Anyone there?")
        assert down.status_code == 503 and down.json()["error"]["code"] == "store_unavailable", down.text
        assert down.headers["retry-after"]
        create = httpx.post(f"{base}/api/create-session", timeout=10)
        assert create.status_code == 503 and create.json()["error"]["code"] == "store_unavailable"
        health = httpx.get(f"{base}/health", timeout=10).json()
        assert health["status"] == "degraded" and health["sessions"]["status"] == "down"

        own_postgres.start()  # ChatKit is not restarted
        for _ in range(50):
            if httpx.get(f"{base}/health", timeout=10).json()["status"] == "ok":
                break
            time.sleep(0.1)
        again = chat(base, session, "And on Sundays?")  # asked again: stored once, answered now
        assert again.status_code == 200, again.text
        said = history(base, session)
        assert [text for role, text in said if role == "user"] == ["Which breads do you bake?", "And on Sundays?"]
        assert said[-1][0] == "assistant"
    text = log.read_text()
    assert "Traceback" not in text and PASSWORD not in text

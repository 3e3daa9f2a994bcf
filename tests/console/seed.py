"""A real ChatKit server fed by the fake upstreams, and conversations to look at in the console."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.console.helpers import ADMIN
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Script
from tests.support.server import running_server

PAYLOADS = [line.replace("\\n", "\n") for line in
            (Path(__file__).resolve().parents[1] / "widget" / "xss_payloads.txt").read_text().splitlines()
            if line and not line.startswith("# ")]


def config(local: str, cloud: str, database: Path) -> str:
    return f"""
[chain]
order = ["local", "cloud"]
retries = 0

[providers.local]
type = "ollama"
base_url = "{local}"
model = "llama3.2"

[providers.cloud]
type = "openai"
base_url = "{cloud}/v1"
model = "gpt-4o-mini"
api_key = "sk-test"

[sessions]
store = "sqlite"
url = "sqlite:///{database}"
new_per_minute = 0  # the tests seed many conversations from one address

[rate_limit]
type = "none"

[logging]
level = "warning"
{ADMIN}"""


@dataclass
class Deployment:
    url: str
    local: FakeOllama
    cloud: FakeOpenAI
    sessions: dict[str, str] = field(default_factory=dict)

    def chat(self, text: str, session: str | None = None, stream: bool = False) -> tuple[str, dict]:
        session = session or httpx.post(f"{self.url}/api/create-session").json()["sessionId"]
        response = httpx.post(f"{self.url}/api/chat", json={"sessionId": session, "message": text, "stream": stream},
                              timeout=10)
        if stream:
            return session, {}
        assert response.status_code == 200, response.text
        return session, response.json()["message"]


@contextlib.contextmanager
def deployment(tmp: Path) -> Iterator[Deployment]:
    with FakeOllama() as local, FakeOpenAI() as cloud, \
            running_server(config(local.url, cloud.url, tmp / "chat.sqlite3")) as url:
        yield Deployment(url, local, cloud)


def seed(site: Deployment) -> None:
    """Four kinds of conversation: rated down, fallen back, cut off, and a plain one."""
    site.local.script(Script(text="We open at nine and close at five."))
    session, answer = site.chat("What are your opening hours?")
    rated = httpx.post(f"{site.url}/api/session/{session}/messages/{answer['id']}/feedback",
                       json={"rating": "down", "comment": "We asked about Sunday"})
    assert rated.status_code == 200, rated.text
    site.sessions["hours"] = session

    site.local.script(Script(status=500))
    site.cloud.script(Script(text="Yes, we ship to Canada within a week."))
    site.sessions["canada"], _ = site.chat("Do you ship to Canada?")

    site.local.script(Script(text="Our plans start at ten euros and go up to", fault="cut", after=3))
    site.sessions["pricing"], _ = site.chat("Tell me about pricing", stream=True)

    site.local.script(Script(text="Sourdough comes out at seven."))
    session, answer = site.chat("When is the sourdough ready?")
    httpx.post(f"{site.url}/api/session/{session}/messages/{answer['id']}/feedback", json={"rating": "up"})
    site.sessions["bread"] = session

"""The console's experiments table in headless Chromium, against a real server (``chatkit
serve``) whose upstream is the fake OpenAI server; the operator API over real HTTP beside it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console.helpers import TOKEN
from tests.experiments.helpers import BEARER, experiment_config, fake_openai, metric
from tests.support.server import running_server

pytestmark = pytest.mark.browser
ANSWERED = 32  # all in variant a (weights 1:0), two rated up of every three rated


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with fake_openai() as fake, running_server(experiment_config(fake.url, weights=(1, 0))) as url:
        for index in range(ANSWERED):
            session = httpx.post(f"{url}/api/create-session").json()["sessionId"]
            answer = httpx.post(f"{url}/api/chat", json={"sessionId": session, "message": f"question {index}"}).json()
            assert answer["message"]["variant"] == {"experiment": "tone", "name": "a"}
            if index % 8 == 0:
                rating = "down" if index % 3 == 0 else "up"
                httpx.post(f"{url}/api/session/{session}/messages/{answer['message']['id']}/feedback",
                           json={"rating": rating})
        yield url


def test_the_metrics_and_the_operator_api_over_http(server: str):
    metrics = httpx.get(f"{server}/metrics").text
    assert metric(metrics, "chatkit_experiment_answers_total", experiment="tone", variant="a") == ANSWERED
    assert metric(metrics, "chatkit_experiment_feedback_total", experiment="tone", variant="a", rating="up") == 2
    assert metric(metrics, "chatkit_experiment_feedback_total", experiment="tone", variant="a", rating="down") == 2
    assert 'chatkit_experiment_answers_total{experiment="tone",variant="b"} 0.0' in metrics
    assert httpx.get(f"{server}/admin/api/experiments").status_code == 401
    tone = httpx.get(f"{server}/admin/api/experiments", headers=BEARER).json()["experiments"][0]
    a, b = tone["variants"]
    assert (a["answers"], a["up"], a["down"], a["declined"], a["handoffs"]) == (ANSWERED, 2, 2, 0, 0)
    assert b["answers"] == 0 and b["rates"]["up"]["enough"] is False


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(base_url=server, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def test_the_experiments_table(page: Page):
    page.goto("/admin/login")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.click("nav >> text=Experiments")
    expect(page.locator("h1")).to_have_text("Experiments")
    section = page.locator("section.experiment")
    expect(section.locator("h2")).to_have_text("tone running")
    headings = section.locator("thead th").all_inner_texts()
    assert headings[:5] == ["Variant", "Weight", "Conversations", "Answers", "Thumbs up"]
    a, b = section.locator("tbody tr[data-variant=a]"), section.locator("tbody tr[data-variant=b]")
    expect(a.locator("td").nth(2)).to_have_text(str(ANSWERED))
    # 4 ratings of the 30 a rate needs: not enough data yet; 32 answers are enough for the others.
    expect(a.locator("td[data-rate=up]")).to_have_text(re.compile(r"not enough data yet\s+2 of 4"))
    expect(a.locator("td[data-rate=error]")).to_have_text(re.compile(r"0%\s+0\u201311%"))
    expect(a.locator("td[data-rate=followUp] .ci")).to_have_attribute("title", "95% confidence interval")
    expect(b.locator("td[data-rate=error]")).to_have_text(re.compile(r"not enough data yet\s+0 of 0"))
    expect(page.locator("p.counts")).to_have_text("a: 2 up, 2 down, 0 declined, 0 handoffs · "
                                                  "b: 0 up, 0 down, 0 declined, 0 handoffs")

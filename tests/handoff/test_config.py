"""``[handoff]`` is checked at start-up, with a message naming the key."""

from __future__ import annotations

import pytest

from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import ConfigError
from tests.core.conftest import CANNED, config_from, new_session
from tests.handoff.conftest import handoff_config


@pytest.mark.parametrize(("extra", "names"), [
    ('webhook = "ftp://x"\n', "handoff.webhook"),
    ('webhook = "https://hooks.example.com/x"\nwebhook_secret = "short"\n', "handoff.webhook_secret"),
    ('wait_alert = "soon"\n', "handoff.wait_alert"),
    ("max_streams = 0\n", "handoff"),
    ('broker = "amqp://rabbit"\n', "handoff.broker: unknown broker type 'amqp'"),
    ('broker = "redis://"\nnope = 1\n', "unknown key `nope`"),
])
def test_mistakes_are_refused_naming_the_key(extra, names):
    with pytest.raises(ConfigError, match=names.replace("(", r"\(")):
        build_runtime(config_from(handoff_config(extra)))


def test_a_redis_broker_is_built_from_its_url():
    runtime = build_runtime(config_from(handoff_config('broker = "redis://127.0.0.1:1/0"\n')))
    assert runtime.handoff is not None and type(runtime.handoff.broker).__name__ == "RedisBroker"


def test_without_a_broker_several_workers_are_warned_about():
    text = handoff_config() + '[server]\nworkers = 2\n'
    assert any("handoff.broker" in warning for warning in build_runtime(config_from(text)).warnings)


def test_off_by_default():
    assert build_runtime(config_from(CANNED)).handoff is None


async def test_the_widget_reads_the_state_and_when_to_offer_a_person(make_client):
    async with make_client(handoff_config('offer = "after_decline"\n')) as client:
        session = await new_session(client)
        state = await client.get(f"/api/session/{session}/handoff")
        assert state.json() == {"handoff": None, "offer": "after_decline"}
        await client.post(f"/api/session/{session}/handoff")
        assert (await client.get(f"/api/session/{session}/handoff")).json()["handoff"]["state"] == "waiting"
        assert (await client.get("/api/session/nope/handoff")).status_code == 404


def test_config_check_says_whether_a_person_can_take_over(tmp_path, capsys):
    from chatkit_core.cli import main

    path = tmp_path / "chatkit.toml"
    path.write_text(handoff_config('broker = "redis://127.0.0.1:1/0"\n'))
    assert main(["config", "check", "--config", str(path)]) == 0
    assert "talk to a person: on (events: redis broker; webhook: off)" in capsys.readouterr().out
    path.write_text(CANNED)
    assert main(["config", "check", "--config", str(path)]) == 0
    assert "talk to a person: off" in capsys.readouterr().out

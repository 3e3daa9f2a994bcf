"""``[experiments.NAME]`` is checked like the base config: each variant's overrides merged into
the base and built with the same checks, a bad one refused naming its key."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import ConfigError
from tests.conftest import ROOT
from tests.core.conftest import config_from

BASE = """
[chain]
order = ["demo"]
[providers.demo]
type = "canned"
replies = ["Hello there"]
delay = 0
[providers.local]
type = "ollama"
base_url = "http://127.0.0.1:11434"
model = "llama3.2"
[rate_limit]
type = "none"
"""
TWO = """
[experiments.tone.variants.a]
weight = 50
[experiments.tone.variants.b]
weight = 50
"""


def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as refused:
        build_runtime(config_from(BASE + text))
    return str(refused.value)


@pytest.mark.parametrize("text, message", [
    (TWO + '[experiments.tone.variants.b.chat]\nsystem_prompt = 5\n',
     "experiments.tone.variants.b.chat.system_prompt: Expected `str`, got `int`"),
    (TWO + '[experiments.tone.variants.b.chat]\nmax_tokens = -1\n',
     "experiments.tone.variants.b.chat.max_tokens: max_tokens must be 0 (no cap) or more"),
    (TWO + '[experiments.tone.variants.b.chat]\nhistory = 3\n',
     "experiments.tone.variants.b.chat.history: a variant cannot change this; it may change chat.system_prompt, "
     "chat.max_tokens"),
    (TWO + '[experiments.tone.variants.b.chain]\nretries = 3\n',
     "experiments.tone.variants.b.chain.retries: a variant cannot change this; it may change chain.order"),
    (TWO + '[experiments.tone.variants.b.chain]\norder = ["nowhere"]\n',
     "experiments.tone.variants.b.chain.order names 'nowhere' but there is no [providers.nowhere] table"),
    (TWO + '[experiments.tone.variants.b.chain]\norder = ["local"]\n[experiments.tone.variants.b.providers.local]\n'
     'temperature = "hot"\n', "experiments.tone.variants.b.providers.local.temperature: Expected `float"),
    (TWO + '[experiments.tone.variants.b.providers.local]\nmodel = "qwen2.5"\n',
     "experiments.tone.variants.b.providers.local: the variant's chain (demo) does not use this provider"),
    (TWO + '[experiments.tone.variants.b.providers.local]\nbase_url = "http://elsewhere:11434"\n',
     "experiments.tone.variants.b.providers.local.base_url: a variant shares a provider's server and queue"),
    (TWO + '[experiments.tone.variants.b.providers.cloud]\nmodel = "x"\n',
     "experiments.tone.variants.b.providers.cloud: there is no [providers.cloud] table to change"),
    (TWO + '[experiments.tone.variants.b.knowledge]\ntop_k = 6\n',
     "experiments.tone.variants.b.knowledge: there is no [knowledge] table"),
    (TWO + '[experiments.tone.variants.b.server]\nport = 1\n',
     "experiments.tone.variants.b: unknown key `server`; allowed keys: weight, chat, chain, knowledge, providers"),
    ('[experiments.tone.variants.a]\nweight = 1\n',
     "experiments.tone.variants: an experiment needs 2 to 10 variants"),
    ('[experiments.tone]\nenabled = "yes"\n' + TWO, "experiments.tone.enabled: must be true or false"),
    ('[experiments.tone]\nstart = "monday"\n' + TWO,
     "experiments.tone: unknown key `start`; allowed keys: enabled, variants"),
    (TWO.replace("weight = 50\n", "weight = 0.5\n", 1),
     "experiments.tone.variants.a.weight: must be a whole number, 0 or more"),
    (TWO.replace("weight = 50\n", "", 1), "experiments.tone.variants.a.weight: must be a whole number"),
    (TWO.replace("weight = 50\n", "weight = true\n", 1), "experiments.tone.variants.a.weight: must be a whole"),
    (TWO.replace("weight = 50", "weight = 0"), "experiments.tone: every variant has weight 0"),
    (TWO.replace("variants.b]", 'variants."b b"]'), "experiments.tone.variants.b b: 'b b' cannot name"),
    (TWO + TWO.replace("tone", "model"), "experiments: tone and model are both enabled; one experiment runs at a time"),
])
def test_a_bad_experiment_is_refused_naming_the_key(text, message):
    assert refusal(text).startswith(message)


def test_a_variant_may_change_what_the_issue_lists():
    text = TWO + """
[experiments.tone.variants.b.chat]
system_prompt = "Be brief."
max_tokens = 200
[experiments.tone.variants.b.chain]
order = ["local", "demo"]
[experiments.tone.variants.b.providers.local]
model = "qwen2.5"
temperature = 0.2
max_tokens = 100
"""
    runtime = build_runtime(config_from(BASE + text))
    a, b = runtime.experiments.experiments["tone"].variants
    assert [p.name for p in a.chain.providers] == ["demo"] and a.chain.providers[0] is runtime.providers[0]
    assert [(p.name, p.model) for p in b.chain.providers] == [("local", "qwen2.5"), ("demo", "canned")]
    assert b.chain.providers[1] is runtime.providers[0]  # an unchanged provider is the same instance
    assert b.chain.providers[0].options.temperature == 0.2 and b.chain.max_tokens == 200
    assert b.system_prompt == "Be brief." and a.system_prompt == ""
    # The variant's new provider shares its circuit and queue with every chain that names it.
    assert b.chain.breakers is runtime.chain.breakers and "local" in runtime.chain.breakers
    assert b.changes == ["chat.system_prompt", "chat.max_tokens", "chain.order", "providers.local.model",
                         "providers.local.temperature", "providers.local.max_tokens"]
    # providers.local is used by a variant: no "not used" warning for it.
    assert not [w for w in runtime.warnings if "not used" in w]
    assert runtime.experiments.providers()[-1] in runtime.parts()  # started and closed with the rest


def test_an_ended_experiment_is_still_built_and_another_may_run():
    ended = TWO.replace("[experiments.tone.variants.a]", "[experiments.tone]\nenabled = false\n"
                        "[experiments.tone.variants.a]", 1)
    runtime = build_runtime(config_from(BASE + ended + TWO.replace("tone", "model")))
    assert runtime.experiments.running is not None and runtime.experiments.running.name == "model"
    assert [v.name for v in runtime.experiments.experiments["tone"].variants] == ["a", "b"]


def chatkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chatkit_core", *args], capture_output=True, text=True, timeout=60)


def test_config_check_refuses_a_bad_variant_naming_the_key_and_shows_a_good_one(tmp_path):
    path = tmp_path / "chatkit.toml"
    path.write_text(BASE + TWO + '[experiments.tone.variants.b.chat]\nsystem_prompt = ["two", "prompts"]\n')
    refused = chatkit("config", "check", "--config", str(path))
    assert refused.returncode == 1
    assert "error: experiments.tone.variants.b.chat.system_prompt: Expected `str`, got `array`" in refused.stderr
    path.write_text(BASE + TWO.replace("weight = 50", "weight = 25", 1)
                    + '[experiments.tone.variants.b.providers.demo]\nreplies = ["Hi"]\n')
    checked = chatkit("config", "check", "--config", str(path))
    assert checked.returncode == 0, checked.stderr
    assert "experiment tone: running\n  a: weight 25 (33% of new conversations); changes nothing" in checked.stdout
    assert "  b: weight 50 (67% of new conversations); changes providers.demo.replies" in checked.stdout


def test_the_documented_example_builds(tmp_path):
    docs = (ROOT / "docs" / "configuration.md").read_text()
    example = re.search(r"### `\[experiments.NAME\]`.*?```toml\n(.*?)```", docs, re.S)[1]
    base = BASE.replace('order = ["demo"]', 'order = ["local"]') + (
        f'[knowledge]\ntype = "sqlite"\nsources = ["{tmp_path}"]\npath = "{tmp_path}/index.sqlite3"\n')
    b = build_runtime(config_from(base + example)).experiments.experiments["tone"].variants[1]
    assert b.chain.providers[0].model == "qwen2.5:3b" and b.chain.max_tokens == 200
    assert b.knowledge is not None and (b.knowledge.top_k, b.knowledge.min_score) == (6, 0.2)

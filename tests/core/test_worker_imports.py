"""A serving worker loads only what its configuration uses: every module costs RSS in each worker."""

from __future__ import annotations

import json
import subprocess
import sys

SERVED = """
[chain]
order = ["live"]
[providers.live]
type = "ollama"
base_url = "http://127.0.0.1:9"
model = "m"
[rate_limit]
type = "limits"
storage = "memory://"
per_ip = ["100/minute"]
[sessions]
store = "sqlite"
url = "sqlite:///{folder}/chat.sqlite3"
"""

CONSOLE = '\n[admin]\ntoken = "console-test-token-0123456789"\n'

# Only `chatkit index`, the console, an openai provider or embedder and Redis- or
# PostgreSQL-backed plugins need these.
OPTIONAL = ["redis", "asyncpg", "openai", "jinja2", "tqdm", "markdown_it", "selectolax", "defusedxml", "httpx",
            "chatkit_knowledge.build", "chatkit_knowledge.crawl", "chatkit_core.http.admin.views",
            "PIL", "pypdf", "charset_normalizer"]

PROBE = """
import json, sys
from chatkit_core.http.app import create_app
from chatkit_core.platform.assembly import build_runtime
from chatkit_core.platform.config import load_config
create_app(build_runtime(load_config(sys.argv[1])))
print(json.dumps([name for name in sys.argv[2:] if name in sys.modules]))
"""


def loaded(tmp_path, config: str) -> list[str]:
    path = tmp_path / "chatkit.toml"
    path.write_text(config.format(folder=tmp_path))
    done = subprocess.run([sys.executable, "-c", PROBE, str(path), *OPTIONAL], capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_a_worker_without_console_index_or_redis_loads_none_of_them(tmp_path):
    assert loaded(tmp_path, SERVED) == []


def test_the_console_loads_its_views_when_turned_on(tmp_path):
    assert loaded(tmp_path, SERVED + CONSOLE) == ["jinja2", "chatkit_core.http.admin.views"]


def test_uploads_leave_their_readers_to_the_process_that_converts_them(tmp_path):
    assert loaded(tmp_path, SERVED + "\n[uploads]\nenabled = true\n") == []

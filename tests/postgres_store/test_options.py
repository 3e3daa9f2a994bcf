"""The postgres store's options, DATABASE_URL, and URLs that never show their password. No server needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from chatkit_postgres import PostgresStore
from chatkit_postgres.options import redact

from chatkit_core.platform.assembly import build_store
from chatkit_core.platform.config import ConfigError, apply_environment, decode
from tests.core.conftest import CANNED
from tests.support.postgres import PASSWORD


def test_the_core_builds_it_from_sessions_or_database_url():
    postgres_url = f"postgresql://chatkit:{PASSWORD}@db.internal:5432/chat"
    config = decode({"sessions": {"store": "postgres", "url": postgres_url, "ttl": "2h"}})
    built, type_name = build_store(config)
    assert type_name == "postgres" and isinstance(built, PostgresStore) and built.ttl == 7200

    raw = {"sessions": {"store": "postgres"}}
    apply_environment(raw, {"DATABASE_URL": postgres_url})
    built, _ = build_store(decode(raw))
    assert built.options.url == postgres_url
    raw = {"sessions": {"store": "postgres", "url": "postgresql://file@db/chat"}}
    apply_environment(raw, {"DATABASE_URL": postgres_url})
    assert build_store(decode(raw))[0].options.url == "postgresql://file@db/chat"  # the file wins


@pytest.mark.parametrize(("table", "problem"), [
    ({}, r"sessions\.url: no PostgreSQL URL; set url = .* or the DATABASE_URL environment variable"),
    ({"url": "mysql://user:hunter2@db/chat"}, r"sessions\.url: not a PostgreSQL URL \(scheme 'mysql'\)"),
    ({"url": "postgresql://user:hunter2@db:port/chat"}, r"sessions\.url: not a valid URL \(postgresql://user:\*\*\*@"),
    ({"url": "postgresql://db/chat", "max_connections": 0}, "max_connections must be at least 1"),
    ({"url": "postgresql://db/chat", "statement_timeout": 0}, "statement_timeout must be greater than 0"),
    ({"url": "postgresql://db/chat", "sweep_lease": "soon"}, "is not a duration"),
    ({"url": "postgresql://db/chat", "pool": 3}, "unknown key `pool`"),
])
def test_bad_options_are_refused_without_echoing_a_password(table, problem):
    with pytest.raises(ConfigError, match=problem) as refused:
        build_store(decode({"sessions": {"store": "postgres", **table}}))
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://chatkit:hunter2@db:5432/chat", "postgresql://chatkit:***@db:5432/chat"),
    ("postgres://:hunter2@db/chat", "postgres://:***@db/chat"),
    ("postgresql://db/chat?user=chatkit&password=hunter2&sslmode=require",
     "postgresql://db/chat?user=chatkit&password=***&sslmode=require"),
    ("postgresql://chatkit@db/chat", "postgresql://chatkit@db/chat"),
])
def test_redacted_urls(url, shown):
    assert redact(url) == shown


def chatkit(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "chatkit.toml"
    config.write_text(CANNED + f'[sessions]\nstore = "postgres"\nurl = "{url}"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("CHATKIT_CONFIG", "DATABASE_URL")}
    return subprocess.run([sys.executable, "-m", "chatkit_core", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=60, env=env)


def test_config_check_never_prints_the_password(tmp_path):
    url = f"postgresql://chatkit:{PASSWORD}@db.internal:5432/chat"
    checked = chatkit(tmp_path, url, "config", "check")
    assert checked.returncode == 0, checked.stderr
    assert "session store: postgres" in checked.stdout
    assert PASSWORD not in checked.stdout + checked.stderr
    refused = chatkit(tmp_path, url.replace("5432", "port"), "config", "check")
    assert refused.returncode == 1 and "sessions.url: not a valid URL" in refused.stderr
    assert PASSWORD not in refused.stdout + refused.stderr

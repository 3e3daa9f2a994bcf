"""`chatkit db migrate` and `chatkit db status`, and `chatkit config check`, against a real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from chatkit_postgres.migrate import LATEST

from tests.support.postgres import PASSWORD, PostgresServer

pytestmark = pytest.mark.postgres


def chatkit(tmp_path: Path, url: str, *args: str, extra: str = "") -> subprocess.CompletedProcess[str]:
    config = tmp_path / "chatkit.toml"
    config.write_text(f'[sessions]\nstore = "postgres"\nurl = "{url}"\n{extra}')
    env = {k: v for k, v in os.environ.items() if k not in ("CHATKIT_CONFIG", "DATABASE_URL")}
    return subprocess.run([sys.executable, "-m", "chatkit_core", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=60, env=env)


def test_status_then_migrate_then_up_to_date(postgres_url, tmp_path):
    before = chatkit(tmp_path, postgres_url, "db", "status")
    assert before.returncode == 1 and "schema 0" in before.stdout and "pending 1: " in before.stdout, before
    applied = chatkit(tmp_path, postgres_url, "db", "migrate")
    every = ", ".join(str(version) for version in range(1, LATEST + 1))
    assert applied.returncode == 0 and f"schema 0 -> {LATEST} (applied {every})" in applied.stdout, applied
    again = chatkit(tmp_path, postgres_url, "db", "migrate")
    assert again.returncode == 0 and f"schema {LATEST} is up to date" in again.stdout
    after = chatkit(tmp_path, postgres_url, "db", "status")
    assert after.returncode == 0 and "pending" not in after.stdout
    for done in (before, applied, again, after):
        assert PASSWORD not in done.stdout + done.stderr and "chatkit:***@127.0.0.1" in done.stdout


def test_two_migrations_at_once_apply_it_once(postgres_server: PostgresServer, tmp_path):
    url = postgres_server.create_database("together")
    config = tmp_path / "chatkit.toml"
    config.write_text(f'[sessions]\nstore = "postgres"\nurl = "{url}"\n')
    runs = [subprocess.Popen([sys.executable, "-m", "chatkit_core", "db", "migrate", "--config", str(config)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=60)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert sorted("applied" in out for out in outputs) == [False, True], outputs
    assert postgres_server.psql("SELECT count(*) FROM chatkit_migrations", "together") == str(LATEST)


def test_unreachable_or_another_store_is_a_clear_error(own_postgres: PostgresServer, tmp_path):
    url = own_postgres.url("chat")
    own_postgres.stop()
    down = chatkit(tmp_path, url, "db", "migrate", extra="connect_timeout = 1\n")
    assert down.returncode == 1 and down.stderr.startswith("error: postgresql://chatkit:***@127.0.0.1:")
    assert "Traceback" not in down.stderr and PASSWORD not in down.stderr
    config = tmp_path / "sqlite.toml"
    config.write_text('[sessions]\nstore = "sqlite"\n')
    other = subprocess.run([sys.executable, "-m", "chatkit_core", "db", "status", "--config", str(config)],
                           capture_output=True, text=True, timeout=60)
    assert other.returncode == 1 and "sessions.store is 'sqlite'" in other.stderr


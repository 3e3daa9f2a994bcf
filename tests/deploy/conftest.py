"""Fixtures for the deployment files: the parsed compose file and the repository root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """compose.yaml as compose reads it: YAML merge keys resolved, ${VAR:-default} left as text."""
    return yaml.safe_load((ROOT / "compose.yaml").read_text())

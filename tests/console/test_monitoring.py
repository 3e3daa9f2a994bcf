"""The Grafana dashboard and the Prometheus config in deploy/, checked against a live server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.console.helpers import ADMIN
from tests.core.conftest import CANNED
from tests.support.server import free_port, running_server

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "chatkit.json"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
PROMTOOL = shutil.which("promtool")

# Series Prometheus makes itself rather than scraping them.
SYNTHETIC = {"up"}
PROMQL_WORDS = {"sum", "by", "rate", "increase", "histogram_quantile", "max", "le", "without", "on", "ignoring"}

# A chain whose first provider is down (nothing listens on its port), so a chat falls back,
# and a limit tight enough to refuse the fourth request.
SERVER = CANNED.replace('order = ["demo"]', 'order = ["down", "demo"]\nretries = 0').replace(
    'type = "none"', 'type = "limits"\nper_ip = ["3/minute"]\nper_session = ["100/minute"]'
) + '[providers.down]\ntype = "ollama"\nbase_url = "http://127.0.0.1:{port}"\n'



def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def metric_names(expr: str) -> set[str]:
    """Names of series an expression selects: identifiers outside braces, not functions or labels."""
    outside = re.sub(r"\{[^}]*\}|\[[^]]*\]|\"[^\"]*\"", " ", expr)
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", outside))
    grouped = {label for group in re.findall(r"by \(([^)]*)\)", outside) for label in re.split(r"\s*,\s*", group)}
    return {name for name in names - PROMQL_WORDS - grouped if not re.fullmatch(r"\d.*|e\d+", name)}


@pytest.fixture(scope="module")
def exported() -> Iterator[set[str]]:
    """The series names a live server exports after a chat, a rating and a refused request."""
    with running_server(SERVER.format(port=free_port()) + ADMIN) as url:
        session = httpx.post(f"{url}/api/create-session").json()["sessionId"]
        answer = httpx.post(f"{url}/api/chat", json={"sessionId": session, "message": "Hi"}).json()["message"]
        httpx.post(f"{url}/api/session/{session}/messages/{answer['id']}/feedback", json={"rating": "up"})
        assert httpx.post(f"{url}/api/create-session").status_code == 429
        text = httpx.get(f"{url}/metrics").text
    yield {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_dashboard_is_valid_grafana_json():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "chatkit" and dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["type"] in {"timeseries", "stat"} and panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "chatkit-prometheus"
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
    provisioned = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yaml").read_text())
    assert provisioned["datasources"][0]["uid"] == "chatkit-prometheus"


def test_every_query_names_a_metric_the_server_exports(exported):
    wanted = set().union(*(metric_names(expr) for expr in expressions()))
    assert {"chatkit_requests_total", "chatkit_time_to_first_token_seconds_bucket", "chatkit_feedback_total",
            "chatkit_rate_limited_total", "chatkit_active_sessions", "process_resident_memory_bytes"} <= wanted
    assert wanted - SYNTHETIC <= exported, sorted(wanted - SYNTHETIC - exported)


def test_the_dashboard_covers_what_operators_watch():
    text = " ".join(expressions())
    for metric in ("chatkit_request_duration_seconds_bucket", "chatkit_provider_requests_total",
                   "chatkit_fallbacks_total", "chatkit_answers_total"):
        assert metric in text, metric


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_prometheus_config_and_every_query_pass_promtool(tmp_path):
    checked = subprocess.run([PROMTOOL, "check", "config", str(PROMETHEUS)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # promtool parses PromQL in rule files: one recording rule per dashboard query.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"chatkit:query_{index}", "expr": expr.replace("$__rate_interval", "1m")}
        for index, expr in enumerate(expressions())]}]}
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    parsed = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr


def test_prometheus_scrapes_every_backend_replica():
    config = yaml.safe_load(PROMETHEUS.read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "chatkit" and job["metrics_path"] == "/metrics"
    (discovery,) = job["dns_sd_configs"]
    assert discovery == {"names": ["backend"], "type": "A", "port": 8000, "refresh_interval": "30s"}
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert "backend" in compose["services"] and compose["services"]["backend"]["expose"] == ["8000"]
    for name in ("prometheus", "grafana"):
        assert compose["services"][name]["profiles"] == ["monitoring"]
    mounts = compose["services"]["grafana"]["volumes"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in mounts
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in compose["services"][
        "prometheus"]["volumes"]

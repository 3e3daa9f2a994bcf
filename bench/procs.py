"""Starting and measuring the processes under test: mock upstreams, ChatKit, redis-server."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
LOGS = Path(tempfile.gettempdir()) / f"chatkit-bench-{ROOT.name}"
"""Logs, configs and SQLite files of the processes under test; one folder per checkout, so runs from
two checkouts at once do not overwrite each other's configs or delete each other's stores."""


class Service(NamedTuple):
    """A helper process the bench started: where it listens, and its pid for CPU accounting."""

    port: int
    pid: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pinned(command: list[str], cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus, *command] if cpus and shutil.which("taskset") else command


def _raise_fd_limit() -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@contextlib.contextmanager
def process(command: list[str], name: str, cpus: str | None = None, env: dict[str, str] | None = None,
            cwd: Path = ROOT) -> Iterator[subprocess.Popen]:
    LOGS.mkdir(exist_ok=True)
    with open(LOGS / f"{name}.log", "wb") as log:
        proc = subprocess.Popen(_pinned(command, cpus), stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                env={**os.environ, **(env or {})}, preexec_fn=_raise_fd_limit,
                                start_new_session=True)
        try:
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}; see {LOGS}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


def wait_for_health(base_url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ChatKit exited with {proc.returncode}; see {LOGS}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{base_url}/health", timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"ChatKit at {base_url} not healthy after {timeout}s")


@contextlib.contextmanager
def mock(specs: list[str], cpus: str | None) -> Iterator[subprocess.Popen]:
    with process([sys.executable, "-m", "bench.mock", *specs], "mock", cpus) as proc:
        wait_for_port(int(specs[-1].split(":")[0]), proc)
        yield proc


@contextlib.contextmanager
def chatkit(config: str, workers: int, cpus: str | None, core: str | None = None, name: str = "chatkit"
            ) -> Iterator[tuple[int, subprocess.Popen]]:
    """ChatKit serving ``config`` (TOML text) on a free port.

    ``core`` is another source tree (a patched copy) whose core, plugins and examples take
    the place of the installed ones, for measuring a proposed change.
    """
    port = free_port()
    LOGS.mkdir(exist_ok=True)
    path = LOGS / f"{name}.toml"
    path.write_text(config)
    env = {"PYTHONPATH": os.pathsep.join([core, *map(str, Path(core).glob("*/chatkit_*"))])} if core else {}
    command = [sys.executable, "-m", "chatkit_core", "serve", "--config", str(path), "--port", str(port),
               "--workers", str(workers)]
    with process(command, name, cpus, env, Path(core) if core else ROOT) as proc:
        wait_for_health(f"http://127.0.0.1:{port}", proc)
        yield port, proc


@contextlib.contextmanager
def redis_server(cpus: str | None) -> Iterator[Service | None]:
    """A throwaway redis-server, or None when it is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as folder, process(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder],
        "redis", cpus,
    ) as proc:
        wait_for_port(port, proc)
        yield Service(port, proc.pid)


POSTGRES_USER = "postgres"
"""The account PostgreSQL runs as: ``initdb`` refuses root (Debian's package creates this one)."""


def postgres_missing() -> str | None:
    """Why the PostgreSQL store cannot be measured here, or None when it can."""
    if importlib.util.find_spec("chatkit_postgres") is None:
        return "chatkit-postgres is not installed"
    if not (shutil.which("initdb") and shutil.which("postgres")):
        return "PostgreSQL is not installed (apt-get install postgresql)"
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        return "setpriv is missing (util-linux), and PostgreSQL refuses to run as root"
    return None


@contextlib.contextmanager
def postgres_server(cpus: str | None) -> Iterator[Service | None]:
    """A throwaway PostgreSQL cluster in a temporary folder (user ``chatkit``, no password, loopback
    only, settings as installed), or None when :func:`postgres_missing` says why not."""
    if postgres_missing() is not None:
        yield None
        return
    as_user = (["setpriv", f"--reuid={POSTGRES_USER}", f"--regid={POSTGRES_USER}", "--init-groups"]
               if os.geteuid() == 0 else [])
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        if as_user:
            shutil.chown(folder, POSTGRES_USER)
        subprocess.run([*as_user, "initdb", "-D", str(data), "-U", "chatkit", "-A", "trust", "--no-sync"],
                       check=True, capture_output=True)
        command = [*as_user, "postgres", "-D", str(data), "-p", str(port), "-k", folder,
                   "-c", "listen_addresses=127.0.0.1"]
        with process(command, "postgres", cpus) as proc:
            wait_for_port(port, proc)
            yield Service(port, proc.pid)


def tail(name: str, lines: int = 5) -> str:
    """The last lines of a process's log, for a report's note on why it failed."""
    try:
        return "\n".join((LOGS / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def workers(proc: subprocess.Popen) -> list[int]:
    """The uvicorn processes that serve requests: the children when it forked workers, else itself."""
    children = []
    for pid in descendants(proc.pid):
        cmdline = _cmdline(pid)
        if "spawn_main" in cmdline and "resource_tracker" not in cmdline:
            children.append(pid)
    return children or [proc.pid]  # one worker: uvicorn serves in-process (taskset execs into it)


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids = [int(k) for k in (task / "children").read_text().split()]
                found += kids
                todo += kids
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (PostgreSQL's backends, say)."""
    return [pid, *descendants(pid)]


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def machine_seconds() -> tuple[float, float]:
    """CPU seconds the whole machine has been busy (every process of every user) and has had in all,
    since boot, summed over its cores (``/proc/stat``)."""
    # user nice system idle iowait irq softirq steal; guest time is already in user's.
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - fields[3] - fields[4]) / ticks, sum(fields) / ticks

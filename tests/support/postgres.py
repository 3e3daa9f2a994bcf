"""A real PostgreSQL server (Debian's ``postgresql`` package) for tests and benchmarks.

``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` user the
package creates, in a temporary folder owned by it (pytest's own folders are private to
root). It listens on a free loopback port, with its unix socket in that folder, trusts every
connection through that socket and asks for the password over TCP, and keeps nothing worth
syncing (``fsync=off``). One cluster is made per
test process with ``initdb``; every server after it starts from a copy of that folder, which
takes milliseconds where ``initdb`` takes seconds.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import free_port

USER = "chatkit"
PASSWORD = "s3cret-Pa55"  # asked over TCP (tests check it never shows); the unix socket is trusted


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's programs, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    return Path(on_path).resolve().parent if on_path else None


BIN = bin_dir()


def _as_owner() -> list[str]:
    # setpriv execs the program itself (runuser would fork), so the child's pid is the postmaster's.
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] if os.geteuid() == 0 else []


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, entry) for entry in dirs + files)]:
                os.chown(name, user.pw_uid, user.pw_gid)


def make_folder(prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    _own(folder)
    return folder


def init_cluster() -> Path:
    """A fresh cluster folder made by ``initdb`` with the ``chatkit`` superuser."""
    assert BIN is not None
    folder = make_folder("chatkit-pg-template-")
    password_file = folder / "password"
    password_file.write_text(PASSWORD + "\n")
    _own(folder)
    subprocess.run([*_as_owner(), str(BIN / "initdb"), "-D", str(folder / "data"), "-U", USER,
                    "--auth-local=trust", "--auth-host=scram-sha-256",
                    "--pwfile", str(password_file), "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                   check=True, capture_output=True, text=True)
    return folder / "data"


class PostgresServer:
    """One ``postgres`` process on a copy of ``template``.

    ``stop`` is a fast shutdown, ``crash`` an immediate one (as after a power cut: the server
    recovers from its log on the next ``start``); ``start`` brings it back on the same port
    with the same data. ``pause`` freezes it: connections stay open but nothing answers.
    """

    def __init__(self, template: Path) -> None:
        self.folder = make_folder("chatkit-pg-")
        self.data = self.folder / "data"
        subprocess.run([*_as_owner(), "cp", "-a", str(template), str(self.data)], check=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.folder / "postgres.log"

    def url(self, database: str = "postgres", password: bool = True) -> str:
        secret = f":{PASSWORD}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> None:
        assert BIN is not None
        command = [*_as_owner(), str(BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
                   "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.folder}",
                   "-c", "fsync=off", "-c", "full_page_writes=off",
                   "-c", "max_connections=200", "-c", "shared_buffers=32MB"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"postgres did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def ready(self) -> bool:
        assert BIN is not None
        return subprocess.run([str(BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                              check=False).returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        assert BIN is not None
        done = subprocess.run([str(BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-h", str(self.folder), "-p", str(self.port), "-U", USER, "-d", database, "-c", sql],
                              check=True, capture_output=True, text=True)
        return done.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _signal(self, number: int, everyone: bool = False) -> None:
        """Signal the postmaster, or with ``everyone`` its backends too (each is a process group of
        its own, so they are found by their parent)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, number)
        for child in _children(self.process.pid) if everyone else ():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, number)

    def stop(self) -> None:
        self._halt(signal.SIGINT)

    def crash(self) -> None:
        self._halt(signal.SIGQUIT)

    def _halt(self, number: int) -> None:
        if self.process is None:
            return
        self.resume()
        self._signal(number)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def pause(self) -> None:
        self._signal(signal.SIGSTOP, everyone=True)

    def resume(self) -> None:
        self._signal(signal.SIGCONT, everyone=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)



def _children(parent: int) -> list[int]:
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                found.append(int(Path(stat).parent.name))
    return found


def _skip_without_postgres() -> None:
    if BIN is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no `postgres` user to run PostgreSQL as (apt-get install postgresql)")


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[Path]:
    """A cluster made by ``initdb`` once per test process, copied by every server."""
    _skip_without_postgres()
    data = init_cluster()
    yield data
    shutil.rmtree(data.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(postgres_template: Path) -> Iterator[PostgresServer]:
    """One server shared by the tests of a process; each test gets a database of its own."""
    server = PostgresServer(postgres_template)
    server.start()
    yield server
    server.remove()


_names = itertools.count()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL (with the password) of a new, empty database."""
    return postgres_server.create_database(f"test_{os.getpid()}_{next(_names)}")


@pytest.fixture
def own_postgres(postgres_template: Path) -> Iterator[PostgresServer]:
    """A server of the test's own, which it may stop, crash, pause and start again."""
    server = PostgresServer(postgres_template)
    server.start()
    yield server
    server.remove()

"""docs/deployment.md, "Without Docker", followed on this machine (tests/deploy/host_rehearsal.py):
the documented commands set up the host, the unit runs hardened as its own user, and a chat
works over HTTPS through Debian's nginx with the site file `chatkit deploy host` wrote."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.conftest import ROOT
from tests.deploy.edge import NGINX, site_copy
from tests.deploy.host import DEBIAN_NGINX, DOMAIN, delta_times
from tests.deploy.host_rehearsal import DELAY, HERE, REPLY, RULES, outer, script
from tests.deploy.rehearsal import mount_root, rehearsable


def _missing() -> str | None:
    for tool in ("socat", "openssl", "curl", "pgrep", "systemd-analyze", "update-ca-certificates", "runuser",
                 "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/system-deps.sh)"
    if subprocess.run(["/usr/bin/python3", "-c", "import seccomp"], capture_output=True).returncode:
        return "Debian's python3 lacks libseccomp's bindings (apt-get install python3-seccomp)"
    if not DEBIAN_NGINX.is_file() or not os.access(NGINX, os.X_OK):
        return "Debian's nginx is not installed (apt-get install nginx-light)"
    hidden = next((top for top in ("/tmp", "/var/tmp", "/home", "/root") if Path(sys.prefix).is_relative_to(top)), None)
    if hidden:  # the rehearsed service runs this checkout's Python, which PrivateTmp/ProtectHome hide
        return f"this checkout's virtualenv is under {hidden}, which the unit hides from the service; clone elsewhere"
    return rehearsable()


REASON = _missing()
pytestmark = [pytest.mark.nginx, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

UNIT = "/etc/systemd/system/chatkit.service"


@dataclass
class Install:
    work: Path
    upper: Path
    merged: str
    outer_pid: int

    def file(self, path: str) -> Path:
        """Where a path of the installed server lives (everything it wrote is in the overlay)."""
        return self.upper / path.lstrip("/")

    def client(self, https: bool = True) -> httpx.Client:
        tls = ssl.create_default_context(cafile=self.file(f"/etc/letsencrypt/live/{DOMAIN}/fullchain.pem"))
        transport = httpx.HTTPTransport(uds=str(self.work / ("https.sock" if https else "http.sock")), verify=tls)
        return httpx.Client(transport=transport, base_url=f"{'https' if https else 'http'}://{DOMAIN}", timeout=15)

    def as_the_service(self, *command: str) -> subprocess.CompletedProcess:
        """``command`` in the unit's sandbox, in the server's namespaces (systemd-run -p ...)."""
        return subprocess.run(["nsenter", f"--target={self.outer_pid}", "--mount", "--net", "chroot", self.merged,
                               sys.executable, str(HERE / "unit_sandbox.py"), UNIT, "--", *command],
                              capture_output=True, text=True, timeout=60)

    def logs(self) -> str:
        parts = [self.work / "docs.log", self.file("/var/log/chatkit.log"), self.file("/var/log/nginx/error.log")]
        return "\n".join(f"--- {p.name}\n{p.read_text()[-4000:]}" for p in parts if p.is_file())


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    work = tmp_path_factory.mktemp("host-install")
    upper = work / "server"
    upper.mkdir()
    (upper / "rehearsal.sh").write_text(script((ROOT / "docs/deployment.md").read_text()))
    site_copy(upper / "srv" / "site")
    (upper / "etc").mkdir()
    (upper / "etc/hosts").write_text(Path("/etc/hosts").read_text() + f"\n127.0.0.1 {DOMAIN}\n")  # its DNS name
    mounts, merged = mount_root(work, upper)
    with open(work / "namespace.log", "wb") as log:
        process = subprocess.Popen(["unshare", "--mount", "--net", "sh", "-ec", outer(work, mounts, merged)],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    installed = Install(work, upper, merged, process.pid)
    try:
        deadline = time.monotonic() + 600
        while not (work / "status").is_file():
            assert process.poll() is None and time.monotonic() < deadline, (work / "namespace.log").read_text()
            time.sleep(0.2)
        assert (work / "status").read_text().strip() == "ok", installed.logs()
        yield installed
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_every_documented_command_ran(install: Install):
    log = (install.work / "docs.log").read_text()
    assert log.rstrip().endswith("+ done")
    assert [rule.pattern for rule in RULES if not rule.used] == []  # no replacement outlived its command
    assert re.search(r"^ok$", log, re.M), "chatkit config check did not end with ok"
    assert "warning: providers.cloud: no API key" in log  # the example leaves OPENAI_API_KEY empty
    assert "301 Moved Permanently" in log and f"location: https://{DOMAIN}/" in log.lower()


def test_the_installed_files_are_the_shipped_ones_filled_in_for_this_venv(install: Install):
    site = install.file("/etc/nginx/sites-available/chatkit").read_text()
    shipped_site = (ROOT / "deploy/host/nginx-chatkit.conf").read_text()
    assert site == re.sub(r"^( *)#tls ", r"\1", shipped_site, flags=re.M)  # after the docs' sed
    unit = install.file(UNIT).read_text()
    shipped = (ROOT / "deploy/host/chatkit.service").read_text()
    assert unit == shipped.replace("/opt/chatkit/venv/bin/chatkit", f"{sys.prefix}/bin/chatkit")
    assert install.file("/etc/nginx/sites-enabled/chatkit").is_symlink()


def test_the_service_runs_as_its_user_with_nothing_to_spare(install: Install):
    pid = int(install.file("/run/chatkit.pid").read_text())
    status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    uid = next(line.split(":")[2] for line in install.file("/etc/passwd").read_text().splitlines()
               if line.startswith("chatkit:"))
    assert status["Uid"].split() == [uid] * 4 and int(uid) != 0
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"
    assert int(status["CapEff"], 16) == int(status["CapBnd"], 16) == 0
    mounts = {fields[4]: fields[5].split(",") for fields in
              (line.split() for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines())}
    assert "ro" in mounts["/"] and "rw" in mounts["/var/lib/chatkit"] and "rw" in mounts["/tmp"]
    sessions = install.file("/var/lib/chatkit/sessions.sqlite3").stat()
    assert (str(sessions.st_uid), sessions.st_mode & 0o777) == (uid, 0o600)  # UMask=0077
    index = install.file("/var/lib/chatkit/knowledge.sqlite3").stat()
    assert str(index.st_uid) == uid  # built by `runuser -u chatkit -- chatkit index`


PROBE = r"""
import ctypes, errno, json, mmap, os, resource, socket, threading

def attempt(action):
    try:
        action()
        return "allowed"
    except OSError as error:
        return errno.errorcode[error.errno]

def libc(name, *args):
    call = ctypes.CDLL(None, use_errno=True)
    if getattr(call, name)(*args) == -1:
        raise OSError(ctypes.get_errno(), name)

def touch(path, mode=0o600):
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, mode))
    os.chmod(path, mode)

thread = threading.Thread(target=lambda: None)
thread.start()
thread.join()
print(json.dumps({
    "write /etc/chatkit": attempt(lambda: touch("/etc/chatkit/probe")),
    "write /opt": attempt(lambda: touch("/opt/probe")),
    "write /var/lib/chatkit": attempt(lambda: touch("/var/lib/chatkit/probe")),
    "setuid bit": attempt(lambda: touch("/var/lib/chatkit/probe", 0o4755)),
    "read chatkit.env": attempt(lambda: open("/etc/chatkit/chatkit.env").read()),
    "list /root": attempt(lambda: os.listdir("/root")),
    "list /home": attempt(lambda: os.listdir("/home")),
    "tmp": os.listdir("/tmp"),
    "dev": sorted(os.listdir("/dev")),
    "other users' processes": [p for p in os.listdir("/proc")
                               if p.isdigit() and os.stat(f"/proc/{p}").st_uid != os.getuid()],
    "inet socket": attempt(lambda: socket.socket().close()),
    "netlink socket": attempt(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)),
    "packet socket": attempt(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW)),
    "writable code": attempt(lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_WRITE | mmap.PROT_EXEC)),
    "new namespace": attempt(lambda: libc("unshare", 0x10000000)),
    "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    "umask": os.umask(0),
    "secrets": bool(os.environ.get("CHATKIT_ADMIN_TOKEN")),
    "home": os.environ["HOME"],
}))
"""


def test_the_sandbox_denies_what_the_unit_forbids(install: Install):
    """A probe run in the service's place: as its user, in its sandbox."""
    result = install.as_the_service(sys.executable, "-c", PROBE)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen.pop("tmp") == [] and seen.pop("other users' processes") == []
    assert set(seen.pop("dev")) <= {"null", "zero", "full", "random", "urandom", "tty", "shm"}
    assert seen == {
        "write /etc/chatkit": "EROFS", "write /opt": "EROFS", "write /var/lib/chatkit": "allowed",
        "setuid bit": "EPERM", "read chatkit.env": "EACCES", "list /root": "EACCES", "list /home": "EACCES",
        "inet socket": "allowed", "netlink socket": "EAFNOSUPPORT", "packet socket": "EAFNOSUPPORT",
        "writable code": "EPERM", "new namespace": "EPERM", "nofile": 4096, "umask": 0o077, "secrets": True,
        "home": "/var/lib/chatkit",
    }


def test_a_chat_over_https_through_the_host_nginx(install: Install):
    with install.client() as client:
        page = client.get("/")
        assert page.status_code == 200 and 'src="/widget/chatkit.js"' in page.text
        assert page.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert client.get("/widget/chatkit.js").status_code == 200
        session_id = client.post("/api/create-session").json()["sessionId"]
        answer = client.post("/api/chat", json={"sessionId": session_id, "message": "Hello?"})
        assert answer.status_code == 200 and answer.json()["message"]["content"] == REPLY
        times, text = delta_times(client, str(client.base_url), session_id)
        history = client.get(f"/api/session/{session_id}/messages").json()["messages"]
        assert client.get("/health").json()["status"] == "ok"
    assert text == REPLY and len(history) == 4
    assert times[0] < 0.5 and times[-1] - times[0] > 0.6 * (len(times) - 1) * DELAY  # streamed, not buffered
    log = install.file("/var/log/nginx/chatkit.access.log").read_text()
    assert '"POST /api/chat HTTP/1.1" 200' in log and session_id not in log


def test_the_console_signs_in_with_the_token_from_the_environment_file(install: Install):
    token = re.search(r"^CHATKIT_ADMIN_TOKEN=(\S+)$", install.file("/etc/chatkit/chatkit.env").read_text(), re.M)
    assert token and len(token[1]) >= 32  # the random one the docs' sed line wrote
    with install.client() as client:
        nonce = re.search(r'name="login_nonce" value="([^"]+)"', client.get("/admin/login").text)
        assert nonce
        wrong = client.post("/admin/login", data={"token": "x" * 32, "login_nonce": nonce[1]})
        assert wrong.status_code == 401
        signed_in = client.post("/admin/login", data={"token": token[1], "login_nonce": nonce[1]})
        assert signed_in.status_code == 303, signed_in.text
        assert client.get("/admin/conversations").status_code == 200


def test_plain_http_redirects_and_odd_paths_are_refused(install: Install):
    with install.client(https=False) as client:
        moved = client.get("/api/create-session")
        assert moved.status_code == 301 and moved.headers["location"] == f"https://{DOMAIN}/api/create-session"
    with install.client() as client:
        refused = client.post(f"https://{DOMAIN}//api/create-session")
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
        assert client.get("/metrics").status_code == 404  # the backend's, on 127.0.0.1:8000 only


def test_systemd_accepts_the_unit_and_rates_its_exposure(install: Install):
    unit = install.file(UNIT)
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                              capture_output=True, text=True)
    exposure = re.search(r"Overall exposure level for chatkit\.service: ([\d.]+) (\w+)", security.stdout)
    assert exposure and float(exposure[1]) <= 2.0 and exposure[2] == "OK", security.stdout[-2000:]

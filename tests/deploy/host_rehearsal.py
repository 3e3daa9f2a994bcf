"""Follow docs/deployment.md, "Without Docker", command by command, on this machine.

The commands run as root in a chroot on an overlay of this machine's root file system, in
private mount and network namespaces, so they act on the documented paths (/etc/chatkit,
/var/lib/chatkit, /etc/nginx/sites-enabled, ports 80, 443 and 8000) while the host stays
untouched. Each command runs as written, except those this machine cannot do as written, which
``RULES`` replaces, each with the reason:

- systemctl: systemd is not PID 1 here. The unit runs through unit_sandbox.py, which acts out
  its user, environment file and hardening; nginx runs from Debian's own nginx.conf.
- Downloads (apt-get, git clone, pip, certbot): no network. The packages are this machine's
  (scripts/system-deps.sh), the repository and virtualenv are the test's own, and certbot's
  webroot challenge is answered the way Let's Encrypt asks for it, with a self-signed
  certificate that the overlay then trusts.
- The editor: the rehearsal makes the edits the docs ask for (its own pages and a model-free
  provider that streams).

Two Unix sockets bridge the private network: ``http.sock`` to port 80 and ``https.sock`` to 443.
"""

from __future__ import annotations

import importlib.metadata
import re
import shlex
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.conftest import ROOT
from tests.deploy.host import DOMAIN

HERE = Path(__file__).resolve().parent
SECTION = "## Without Docker"
REPLY = "Answered by the service systemd would run, through the host's nginx, a few characters at a time."
DELAY = 0.04


def section_commands(markdown: str) -> list[str]:
    """The shell commands of the section's ```sh blocks, in order; a heredoc or a line ending in
    a backslash is one command with the lines it takes."""
    section = markdown.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        lines = block.splitlines()
        while lines:
            command = [lines.pop(0)]
            while command[-1].endswith("\\"):
                command.append(lines.pop(0))
            if heredoc := re.search(r"<<'(\w+)'$", command[-1]):
                while command[-1] != heredoc[1]:
                    command.append(lines.pop(0))
            commands.append("\n".join(command))
    return commands


def edited_config() -> str:
    """deploy/host/chatkit.toml after the edits step 3 asks for: this machine's copy of the sample
    site as the source, and a provider that answers without a model, slowly enough to time."""
    text = (ROOT / "deploy/host/chatkit.toml").read_text()
    edits = {
        'sources = ["https://www.example.com/sitemap.xml"]': 'sources = ["/srv/site/"]\nexclude = ["examples/*"]',
        'order = ["cloud", "site"]': 'order = ["demo", "cloud", "site"]',
    }
    for old, new in edits.items():
        assert old in text, f"deploy/host/chatkit.toml no longer contains {old!r}"
        text = text.replace(old, new)
    return text + f'\n[providers.demo]\ntype = "canned"\nreplies = ["{REPLY}"]\nchunk_chars = 4\ndelay = {DELAY}\n'


def skip(reason: str) -> str:
    return f": {shlex.quote(reason)}"


def installed(paths: str) -> str:
    """pip's arguments must be this repository's packages, installed in the test's virtualenv."""
    for path in paths.replace("\\\n", " ").split():
        if path.startswith("--"):
            continue
        project = ROOT / path.removeprefix("/opt/chatkit/src").lstrip("/") / "pyproject.toml"
        assert project.is_file(), f"the docs install {path}, which is not a package of this repository"
        importlib.metadata.version(tomllib.loads(project.read_text())["project"]["name"])
    return skip("installed in the test's virtualenv")


def cron_line(command: str, line: str) -> str:
    """Write the cron file as documented, then run its command as its user, as cron would."""
    user, job = line.split(None, 6)[5:]
    return f"{command}\nrunuser -u {user} -- sh -c {shlex.quote(job)}"


@dataclass
class Rule:
    pattern: str
    replace: Callable[[re.Match, str], str]
    used: int = field(default=0)


RULES = [
    Rule(r"apt-get (update|install -y [a-z0-9 .-]+)", lambda m, c: skip("this machine's packages")),
    Rule(r"git clone <this repository> (\S+)", lambda m, c: f"mkdir -p $(dirname {m[1]}) && ln -s {ROOT} {m[1]}"),
    Rule(r"git -C /opt/chatkit/src pull", lambda m, c: skip("the repository is the test's")),
    Rule(r"python3 -m venv (\S+)", lambda m, c: f"ln -s {sys.prefix} {m[1]}"),
    Rule(r"/opt/chatkit/venv/bin/pip install (?:--upgrade )?(.+)", lambda m, c: installed(m[1])),
    Rule(r"nano /etc/chatkit/chatkit\.toml", lambda m, c: f"cat > /etc/chatkit/chatkit.toml <<'EOF'\n"
                                                          f"{edited_config()}EOF"),
    Rule(r"nano /etc/chatkit/chatkit\.env", lambda m, c: skip("the example's values and the token")),
    Rule(r"echo '(.+)' > /etc/cron\.d/chatkit-index", lambda m, c: cron_line(c, m[1])),
    Rule(r"systemctl daemon-reload", lambda m, c: "systemd-analyze verify /etc/systemd/system/chatkit.service"),
    Rule(r"systemctl enable --now chatkit", lambda m, c: "start_service"),
    Rule(r"systemctl status chatkit --no-pager", lambda m, c: 'kill -0 "$service"'),
    Rule(r"systemctl restart chatkit", lambda m, c: "restart_service"),
    Rule(r"systemctl reload nginx", lambda m, c: "reload_nginx"),
    Rule(rf"certbot certonly --webroot -w (\S+) -d ({re.escape(DOMAIN)}) .+",
         lambda m, c: f"certbot_webroot {m[1]} {m[2]}"),
]

FUNCTIONS = f"""
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
service=
nginx=
answers() {{  # $1 answers HTTP (any status) within 30 s
    for i in $(seq 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done
    echo "nothing answers at $1" >&2; return 1
}}
start_service() {{
    {sys.executable} {HERE / "unit_sandbox.py"} /etc/systemd/system/chatkit.service >> /var/log/chatkit.log 2>&1 &
    service=$!
    answers http://127.0.0.1:8000/health
}}
restart_service() {{
    kill "$service" && wait "$service" || true
    start_service
}}
reload_nginx() {{  # nginx stays in the foreground (daemon off), in this process group
    if [ -z "$nginx" ]; then
        nginx -g 'daemon off;' &
        nginx=$!
        answers http://127.0.0.1/
        return
    fi
    old=$(pgrep -P "$nginx")
    nginx -s reload
    for i in $(seq 150); do  # the new configuration serves once the old workers are gone
        alive=
        for pid in $old; do kill -0 "$pid" 2> /dev/null && alive=yes; done
        [ -z "$alive" ] && return 0
        sleep 0.2
    done
    echo "nginx kept its old workers" >&2; return 1
}}
certbot_webroot() {{  # certbot certonly --webroot: the challenge file, fetched over HTTP as Let's Encrypt does
    token=$(python3 -c 'import secrets; print(secrets.token_urlsafe(16))')
    mkdir -p "$1/.well-known/acme-challenge" && echo "$token" > "$1/.well-known/acme-challenge/$token"
    [ "$(curl -fsS "http://$2/.well-known/acme-challenge/$token")" = "$token" ]
    rm "$1/.well-known/acme-challenge/$token"
    mkdir -p "/etc/letsencrypt/live/$2"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$2" \\
        -addext "subjectAltName=DNS:$2" -keyout "/etc/letsencrypt/live/$2/privkey.pem" \\
        -out "/etc/letsencrypt/live/$2/fullchain.pem" 2> /dev/null
    cp "/etc/letsencrypt/live/$2/fullchain.pem" /usr/local/share/ca-certificates/rehearsal.crt
    update-ca-certificates > /dev/null 2>&1
}}
"""


def script(markdown: str) -> str:
    """The section as one shell script: each command announced, then run as written or replaced."""
    lines = [FUNCTIONS]
    for command in section_commands(markdown):
        lines.append(f"echo {shlex.quote('+ ' + command.splitlines()[0])}")
        for rule in RULES:
            if match := re.fullmatch(rule.pattern, command, re.S):
                rule.used += 1
                command = rule.replace(match, command)
                break
        lines.append(command)
    return "\n".join(lines) + "\necho '+ done'\n"


def outer(work: Path, mounts: str, merged: str) -> str:
    """The namespaces' own script: mount the overlay, bridge the ports, run the docs."""
    return mounts + "\n".join([
        f"chroot {merged} chmod o+x /root",  # this machine's Python lives in /root (a server's in /usr)
        "ip link set lo up",
        f"socat UNIX-LISTEN:{work}/http.sock,fork TCP:127.0.0.1:80 &",
        f"socat UNIX-LISTEN:{work}/https.sock,fork TCP:127.0.0.1:443 &",
        f"if chroot {merged} /bin/sh -e /rehearsal.sh > {work}/docs.log 2>&1; then status=ok; else status=failed; fi",
        f"echo $status > {work}/status",
        "wait",
    ]) + "\n"

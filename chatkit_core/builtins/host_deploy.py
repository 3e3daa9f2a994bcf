"""``chatkit deploy host``: a systemd unit and an nginx site file for a server without Docker.

Both are filled in for this virtualenv, one config file, one domain and the backend's port.
With the defaults (``/opt/chatkit/venv``, ``/etc/chatkit/chatkit.toml``, ``chat.example.com``,
port 8000) they are ``deploy/host/chatkit.service`` and ``deploy/host/nginx-chatkit.conf``,
which tests/deploy/test_host_files.py keeps equal to what this module writes.
docs/deployment.md ("Without Docker") walks through installing them.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from chatkit_core import hookimpl
from chatkit_core.platform.commands import Command
from chatkit_core.platform.config import Config, ConfigError, find_config_path, load_config

UNIT_NAME = "chatkit.service"
SITE_NAME = "nginx-chatkit.conf"

_DOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# Written as is into a unit and a site file: no spaces, quotes, $, % or ; to escape.
_PATH = re.compile(r"/[A-Za-z0-9._/+@-]*")


@dataclass(frozen=True)
class Host:
    """What the two files are filled in with."""

    chatkit: str
    """The command that runs ChatKit: this virtualenv's ``bin/chatkit``."""
    config: str
    """The config file, absolute; its folder is the service's working directory and holds the env file."""
    domain: str
    port: int = 8000
    user: str = "chatkit"
    writable: tuple[str, ...] = ()
    """Folders the service writes to (its SQLite session store's), the only ones it may write."""

    @property
    def folder(self) -> str:
        return str(Path(self.config).parent)


def render(host: Host) -> dict[str, str]:
    """File name -> contents."""
    import jinja2  # only this command needs it, not every `chatkit` start

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     trim_blocks=True, lstrip_blocks=True, autoescape=False)
    return {name: environment.from_string(template).render(host=host, csp=CSP, unavailable=UNAVAILABLE)
            for name, template in ((UNIT_NAME, UNIT), (SITE_NAME, SITE))}


def host_from(config_path: Path, domain: str, port: int | None, user: str) -> tuple[Host, list[str]]:
    """The ``Host`` for this virtualenv and ``config_path``, and warnings about the config."""
    from chatkit_core.platform.assembly import build_runtime

    domain = domain.lower().rstrip(".")
    if not _DOMAIN.fullmatch(domain):
        raise ConfigError(f"--domain: {domain!r} is not a host name like chat.example.com")
    if not _USER.fullmatch(user) or user == "root":
        raise ConfigError(f"--user: {user!r} is not a user name for the service; use its own, e.g. chatkit")
    config_path = config_path.absolute()
    config = load_config(config_path)
    port = config.server.port if port is None else port
    if not 0 < port < 65536:
        raise ConfigError(f"--port: {port} is not a port number (1-65535)")
    components = build_runtime(config)  # refuses what `chatkit serve` would refuse
    store_file = getattr(components.store, "path", None)
    writable = (str(_beside(config_path, store_file).parent),) if isinstance(store_file, str) else ()
    chatkit = Path(sys.prefix) / "bin" / "chatkit"
    host = Host(chatkit=str(chatkit) if chatkit.is_file() else f"{sys.executable} -m chatkit_core",
                config=str(config_path), domain=domain, port=port, user=user, writable=writable)
    for what, path in [("the virtualenv", str(sys.prefix)), ("--config", host.config),
                       *(("sessions.url", folder) for folder in writable)]:
        if not _PATH.fullmatch(path):
            raise ConfigError(f"{what}: {path!r} has characters a unit or site file cannot hold as written "
                              "(spaces, quotes, $, %, ;); use a path of letters, digits and . _ - /")
    return host, _warnings(config, host)


def _beside(config_path: Path, file: str) -> Path:
    """A relative path in the config resolves against its folder: the unit's working directory."""
    return Path(file) if Path(file).is_absolute() else config_path.parent / file


def _warnings(config: Config, host: Host) -> list[str]:
    warnings = []
    proxies = [ipaddress.ip_network(proxy, strict=False) for proxy in config.server.trusted_proxies]
    if not any(ipaddress.ip_address("127.0.0.1") in proxy for proxy in proxies):
        warnings.append("server.trusted_proxies does not include 127.0.0.1, where nginx connects from: every "
                        "visitor would share nginx's address for rate limits; add \"127.0.0.1/32\"")
    if not any(origin.startswith("https://") or origin == "*" for origin in config.server.allowed_origins):
        warnings.append(f"server.allowed_origins lists no https:// origin; add https://{host.domain} and those "
                        "of the sites that embed the widget")
    for folder in host.writable:
        if not Path(folder).is_dir():
            warnings.append(f"{folder} (sessions.url) does not exist; create it for the service's user: "
                            f"install -d -o {host.user} -g {host.user} -m 0750 {folder}")
    if config.server.hsts:
        warnings.append("server.hsts is on: nginx sends Strict-Transport-Security itself; turn server.hsts off")
    return warnings


class DeployCommand(Command):
    name = "deploy"
    help = "write the files that run ChatKit on a server: `chatkit deploy host` (systemd and nginx)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("target", choices=["host"],
                            help="host: a systemd unit and an nginx site file, for a server without Docker")
        parser.add_argument("--domain", required=True, help="the chat's host name, e.g. chat.example.com")
        parser.add_argument("--out", required=True, help="folder to write the files in")
        parser.add_argument("--port", type=int, help="the backend's port on 127.0.0.1 (default: server.port)")
        parser.add_argument("--user", default="chatkit", help="the service's own user (default: chatkit)")

    def run(self, args: argparse.Namespace) -> int:
        config_path = find_config_path(args.config)
        if config_path is None:
            raise ConfigError("chatkit deploy host needs the config file the service will run with: "
                              "--config PATH (or $CHATKIT_CONFIG)")
        host, warnings = host_from(config_path, args.domain, args.port, args.user)
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
            for name, text in render(host).items():
                (out / name).write_text(text)
        except OSError as error:
            raise ConfigError(f"--out: cannot write {out}: {error.strerror}") from None
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"wrote {out / UNIT_NAME} and {out / SITE_NAME}; as root, install them with\n"
              f"  install -m 0644 {out / UNIT_NAME} /etc/systemd/system/{UNIT_NAME}\n"
              f"  install -m 0644 {out / SITE_NAME} /etc/nginx/sites-available/chatkit\n"
              "then follow docs/deployment.md, \"Without Docker\"")
        return 0


@hookimpl
def register_commands(register):
    register(DeployCommand())


# web/nginx.conf's, word for word (tests/deploy/test_host_files.py compares them).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'")
UNAVAILABLE = ('{"error": {"code": "service_unavailable", "message": "The chat service is unavailable right now. '
               'Please try again in a moment."}}')

UNIT = """\
# ChatKit as a systemd service on a server without Docker (docs/deployment.md, "Without Docker").
# Written by `chatkit deploy host` for {{ host.config }}; install it as
# /etc/systemd/system/chatkit.service, then: systemctl daemon-reload && systemctl enable --now chatkit
# Logs: journalctl -u chatkit

[Unit]
Description=ChatKit chat server
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
User={{ host.user }}
Group={{ host.user }}
# Secrets (CHATKIT_ADMIN_TOKEN, OPENAI_API_KEY, ...). systemd reads the file as root before
# switching to the service's user, so it can stay root's alone (mode 0600).
EnvironmentFile={{ host.folder }}/chatkit.env
Environment=PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# Relative paths in the config resolve against its folder.
WorkingDirectory={{ host.folder }}
# On loopback only: nginx is the way in, and its upstream names this port.
ExecStart={{ host.chatkit }} serve --config {{ host.config }} --host 127.0.0.1 --port {{ host.port }}
Restart=on-failure
RestartSec=2s
# chatkit serve lets open answers finish for up to 10 s when stopped.
TimeoutStopSec=20s
# Room for 2048 connections: chatkit serve caps them below this limit.
LimitNOFILE=4096
# Files it creates (the session database) are its own alone.
UMask=0077

# Hardening: the service reads its code and config, writes only the folders below, and cannot
# gain privileges, see other users' files and processes, or touch the kernel and devices.
NoNewPrivileges=yes
CapabilityBoundingSet=
ProtectSystem=strict
{% for folder in host.writable %}
ReadWritePaths={{ folder }}
{% endfor %}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
PrivateMounts=yes
ProtectProc=invisible
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
"""

SITE = r"""# ChatKit behind this server's nginx, on a server without Docker (docs/deployment.md,
# "Without Docker"). Written by `chatkit deploy host` for {{ host.domain }}; install it as
# /etc/nginx/sites-available/chatkit, link it into /etc/nginx/sites-enabled, then:
#   nginx -t && systemctl reload nginx
# Debian's nginx.conf includes this file inside its http {} block (which already turns on sendfile
# and gzip); the rest of what web/nginx.conf, the compose edge, does is here, most of it inside
# the server block so that other sites on this nginx keep their own settings.

# A session id is the bearer secret of a conversation: the log keeps its first six
# characters, as the backend's own log does. The query string is left out.
map $uri $chatkit_logged_uri {
    "~^(?<session_path>/api/session/[A-Za-z0-9_-]{6})[A-Za-z0-9_-]*(?<rest>.*)$" "${session_path}...${rest}";
    default $uri;
}
log_format chatkit '$remote_addr "$request_method $chatkit_logged_uri $server_protocol" $status '
                   '$body_bytes_sent $request_time upstream=$upstream_addr upstream_time=$upstream_response_time '
                   'request_id=$request_id';

# proxy_pass without a URI part forwards the path as the client wrote it, not as nginx
# normalised it to pick a location (merge_slashes, dot segments, decoded escapes): so
# //api/chat, /%2fapi/chat or /api/./chat would reach the backend spelled differently
# from the route nginx chose. Such paths are refused here (the backend refuses them too).
map $request_uri $chatkit_non_canonical {
    "~*^[^?]*(?://|/(?:\.|%2e){1,2}(?:/|\?|$)|%2f|%5c)" 1;
    default                                             0;
}

# HTML revalidates on every visit so a deploy shows at once. Assets whose URL carries a
# version (a content hash in the name, or ?v=...) never change and are cached for a year;
# other assets for an hour.
map $uri $chatkit_asset {
    ~*\.html?$                                                                  html;
    "~*\.[0-9a-f]{8,}\.(?:css|js|mjs|map|svg|png|jpe?g|gif|webp|avif|ico|woff2?)$" versioned;
    ~*\.(?:css|js|mjs|map|svg|png|jpe?g|gif|webp|avif|ico|woff2?|json|txt)$     asset;
    default                                                                     html;
}
map "$chatkit_asset:$arg_v" $chatkit_expires {
    ~^html:        epoch;
    ~^versioned:   1y;
    ~^asset:.      1y;
    default        1h;
}

# Strict-Transport-Security on every response over HTTPS; none over plain HTTP, where browsers
# ignore it, so this file works as it is before the certificate exists.
map $scheme $chatkit_hsts {
    https   "max-age=31536000; includeSubDomains";
    default "";
}

# chatkit.service: chatkit serve --host 127.0.0.1 --port {{ host.port }}
upstream chatkit_backend {
    server 127.0.0.1:{{ host.port }};
    keepalive 16;
}

server {
    listen 80;
    listen [::]:80;
    # HTTPS: once certbot has the certificate, turn on the #tls lines (plain HTTP then redirects):
    #   sed -i 's/^\( *\)#tls /\1/' /etc/nginx/sites-available/chatkit && nginx -t && systemctl reload nginx
    # (nginx 1.25.1 and newer warn about "listen ... http2": write "http2 on;" instead.)
    #tls listen 443 ssl http2;
    #tls listen [::]:443 ssl http2;
    #tls ssl_certificate     /etc/letsencrypt/live/{{ host.domain }}/fullchain.pem;
    #tls ssl_certificate_key /etc/letsencrypt/live/{{ host.domain }}/privkey.pem;
    #tls if ($scheme = http) {
    #tls     return 301 https://$server_name$request_uri;
    #tls }
    server_name {{ host.domain }};

    access_log /var/log/nginx/chatkit.access.log chatkit;
    server_tokens off;
    keepalive_timeout 65s;
    # Larger than the backend's own body limit, so the backend answers 413 in the API's error shape.
    client_max_body_size 1m;

    gzip on;
    gzip_vary on;
    gzip_proxied any;
    gzip_min_length 256;
    gzip_comp_level 5;
    # text/event-stream is left out on purpose: compressing a stream would hold back its events.
    gzip_types text/plain text/css text/javascript application/javascript application/json
               application/manifest+json image/svg+xml;

    # Pages this domain serves itself, if any (the widget needs none: it loads from /widget/).
    root /var/www/chatkit;
    index index.html;

    if ($chatkit_non_canonical) {
        rewrite ^ /.chatkit-not-found last;
    }
    location = /.chatkit-not-found {
        internal;
        default_type application/json;
        add_header Cache-Control "no-store" always;
        add_header X-Content-Type-Options "nosniff" always;
        add_header Strict-Transport-Security $chatkit_hsts always;
        return 404 '{"error": {"code": "not_found", "message": "There is nothing at this address."}}';
    }

    # certbot --webroot answers Let's Encrypt's challenge from here.
    location ^~ /.well-known/acme-challenge/ {
        root /var/www/letsencrypt;
        default_type text/plain;
    }

    location / {
        try_files $uri $uri/ =404;
        expires $chatkit_expires;

        add_header X-Content-Type-Options "nosniff" always;
        add_header Referrer-Policy "strict-origin-when-cross-origin" always;
        add_header X-Frame-Options "SAMEORIGIN" always;
        add_header Permissions-Policy "camera=(), microphone=(), geolocation=()" always;
        # The widget loads from this origin, talks to it with fetch and styles its shadow
        # root with constructed stylesheets, so no inline script or style is needed.
        add_header Content-Security-Policy "{{ csp }}" always;
        add_header Strict-Transport-Security $chatkit_hsts always;
    }

    # The API, the widget script, the health check and the console come from the backend,
    # with the backend's own (stricter) headers. /metrics stays on 127.0.0.1:{{ host.port }}.
    location ~ ^/(?:api/|widget/|health$|admin(?:/|$)) {
        proxy_pass http://chatkit_backend;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $http_host;
        # One id for the request in nginx's log, the backend's log and the response.
        proxy_set_header X-Request-ID $request_id;
        add_header Strict-Transport-Security $chatkit_hsts always;

        # Server-Sent Events: pass every byte on as it arrives, keep quiet streams open.
        # A response may still opt in to buffering with X-Accel-Buffering: yes.
        proxy_buffering off;
        proxy_request_buffering off;
        proxy_cache off;
        proxy_read_timeout 600s;
        proxy_send_timeout 600s;
        proxy_connect_timeout 5s;

        error_page 502 504 = @backend_unavailable;
    }

    # nginx's own failures in front of the backend (down, restarting, timed out) answer in
    # the API's error shape instead of an HTML page.
    location @backend_unavailable {
        default_type application/json;
        add_header Retry-After 5 always;
        add_header Cache-Control "no-store" always;
        add_header X-Content-Type-Options "nosniff" always;
        add_header Strict-Transport-Security $chatkit_hsts always;
        return 503 '{{ unavailable }}';
    }
}
"""

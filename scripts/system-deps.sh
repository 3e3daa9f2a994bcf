#!/usr/bin/env bash
# Installs the real programs the integration tests drive (Debian packages): redis-server,
# PostgreSQL, nginx, Chromium, and openssl, wget, iproute2 and util-linux for the TLS and image tests;
# for the host install (tests/deploy/test_host_install.py) systemd's systemd-analyze, socat,
# curl, procps, ca-certificates and libseccomp's Python bindings for Debian's python3.
# Also Node.js and npm, which build the widget bundle (make install runs this script when npm
# is missing). Tests that need one of them are skipped with a reason when it is missing.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v chromium >/dev/null || missing+=(chromium)
command -v openssl >/dev/null || missing+=(openssl)
command -v wget >/dev/null || missing+=(wget)
command -v ip >/dev/null || missing+=(iproute2)
command -v unshare >/dev/null && command -v setpriv >/dev/null && command -v nsenter >/dev/null || missing+=(util-linux)
command -v promtool >/dev/null || missing+=(prometheus)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v socat >/dev/null || missing+=(socat)
command -v curl >/dev/null || missing+=(curl)
command -v pgrep >/dev/null || missing+=(procps)
command -v update-ca-certificates >/dev/null || missing+=(ca-certificates)
/usr/bin/python3 -c 'import seccomp' 2>/dev/null || missing+=(python3-seccomp)
command -v npm >/dev/null || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "system-deps: please install ${missing[*]} (needs root and apt-get); their tests will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" fonts-liberation >/dev/null

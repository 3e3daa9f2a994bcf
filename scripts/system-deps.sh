#!/usr/bin/env bash
# Installs the real programs the integration tests drive (Debian packages): redis-server,
# PostgreSQL, nginx, Chromium, and openssl, wget, iproute2 and util-linux for the TLS and image tests.
# Tests that need one of them are skipped with a reason when it is missing.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v chromium >/dev/null || missing+=(chromium)
command -v openssl >/dev/null || missing+=(openssl)
command -v wget >/dev/null || missing+=(wget)
command -v ip >/dev/null || missing+=(iproute2)
command -v unshare >/dev/null && command -v setpriv >/dev/null || missing+=(util-linux)
command -v promtool >/dev/null || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "system-deps: please install ${missing[*]} (needs root and apt-get); their tests will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" fonts-liberation >/dev/null

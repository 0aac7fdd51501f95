#!/usr/bin/env bash
# Makes sure redis-server is installed: the tests of the shared state start
# real ones (internal/state/redistest), on free ports of 127.0.0.1, and
# fail without it. Nothing to do when it is there; as root it is installed
# with apt-get (Debian/Ubuntu's redis-server package); otherwise this says
# how to install it and fails.
set -euo pipefail

if [ -x /usr/bin/redis-server ] || command -v redis-server >/dev/null 2>&1; then
	exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "hack/ensure-redis.sh: installing redis-server with apt-get" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
	exit 0
fi
echo "redis-server is not installed, and the shared-state tests run a real one:" >&2
echo "  sudo apt-get install -y redis-server    (Debian/Ubuntu; any redis-server or valkey-server 7+ on PATH as redis-server works)" >&2
exit 1

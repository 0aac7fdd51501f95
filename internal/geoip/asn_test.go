// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package geoip_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/internal/geoip"
	"github.com/tokenguard/tokenguard/internal/geoip/geoiptest"
	"github.com/tokenguard/tokenguard/internal/metrics"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

var asnLookups = map[string]geoiptest.AS{
	"175.45.176.0":             {Number: 131279, Org: "Star Joint Venture Co. Ltd."},
	"14.102.69.58":             {Number: 18002, Org: "World Phone Internet Services Pvt. Ltd."},
	"::ffff:14.102.69.58":      {Number: 18002, Org: "World Phone Internet Services Pvt. Ltd."},
	"2001:db8:1::1":            {Number: 64502, Org: "Documentation Six"},
	"2a02:6b8:a::a":            {Number: 13238, Org: "YANDEX LLC"},
	"8.8.8.8":                  {},
	"192.0.2.1":                {},
	"2001:db8:ffff::1":         {},
	"::ffff:192.0.2.1":         {},
	"2001:db9::1":              {},
	"fe80::1%eth0":             {},
	"203.0.113.255":            {Number: 64500, Org: "Documentation One"},
	"::ffff:198.51.100.1":      {Number: 64501, Org: "Documentation Two"},
	"2a02:6b8:ffff:ffff::ffff": {Number: 13238, Org: "YANDEX LLC"},
}

func checkASN(t *testing.T, r *geoip.ASNResolver) {
	t.Helper()
	for ip, want := range asnLookups {
		a := netip.MustParseAddr(ip)
		if got := r.ASN(a); got != want.Number {
			t.Errorf("ASN(%s) = %d, want %d", ip, got, want.Number)
		}
		if n, org := r.Organization(a); n != want.Number || org != want.Org {
			t.Errorf("Organization(%s) = %d %q, want %d %q", ip, n, org, want.Number, want.Org)
		}
	}
	if got := r.ASN(netip.Addr{}); got != 0 {
		t.Errorf("ASN of the zero address = %d", got)
	}
}

// MaxMind's ASN layouts (GeoLite2-ASN, GeoIP2-ISP), hack/asnconv's
// conversion of ip-location-db, and a file keeping IPv4 under
// ::ffff:0:0/96 (ip-location-db's own MMDB files) all answer alike, for
// IPv4, IPv6 and IPv4-mapped addresses.
func TestASNFormats(t *testing.T) {
	for _, typ := range []string{"GeoLite2-ASN", "GeoIP2-ISP", "DBIP-ASN-Lite (compat=GeoLite2-ASN)", "ip-location-db-ASN"} {
		t.Run(typ, func(t *testing.T) {
			d, err := geoip.OpenASNFile(geoiptest.File(t, "asn.mmdb", geoiptest.ASN(t, typ, geoiptest.SeedASNs)))
			if err != nil {
				t.Fatal(err)
			}
			if d.Format != geoip.FormatASN || d.Type != typ || d.Format.String() != "asn" {
				t.Errorf("format %v type %q", d.Format, d.Type)
			}
			checkASN(t, geoip.NewASN(d))
		})
	}
	t.Run("IPv4 under ::ffff:0:0/96", func(t *testing.T) {
		r, err := geoip.OpenASN([]string{geoiptest.File(t, "asn.mmdb", geoiptest.ASNMapped(t, geoiptest.SeedASNs))})
		if err != nil {
			t.Fatal(err)
		}
		checkASN(t, r)
	})
	t.Run("no database", func(t *testing.T) {
		r, err := geoip.OpenASN(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.ASN(netip.MustParseAddr("175.45.176.0")); got != 0 {
			t.Errorf("ASN without a database = %d", got)
		}
	})
}

// The first database that knows an address answers.
func TestASNOrder(t *testing.T) {
	first, err := geoip.OpenASNBytes(geoiptest.ASN(t, "GeoIP2-ISP", map[string]geoiptest.AS{"175.45.176.0/24": {Number: 64511, Org: "Override"}}))
	if err != nil {
		t.Fatal(err)
	}
	second, err := geoip.OpenASNBytes(geoiptest.ASN(t, "ip-location-db-ASN", geoiptest.SeedASNs))
	if err != nil {
		t.Fatal(err)
	}
	r := geoip.NewASN(first, second)
	for ip, want := range map[string]uint32{"175.45.176.1": 64511, "175.45.177.1": 131279, "14.102.69.58": 18002} {
		if got := r.ASN(netip.MustParseAddr(ip)); got != want {
			t.Errorf("ASN(%s) = %d, want %d", ip, got, want)
		}
	}
}

func TestASNRejects(t *testing.T) {
	for name, tc := range map[string]struct{ path, err string }{
		"missing file":   {filepath.Join(t.TempDir(), "none.mmdb"), "no such file"},
		"not a database": {geoiptest.File(t, "x.mmdb", []byte("hello")), "asn database"},
		"a country database": {geoiptest.File(t, "c.mmdb", geoiptest.Country(t, "GeoLite2-Country", geoiptest.SeedNetworks)),
			`database type "GeoLite2-Country" has no autonomous_system_number records`},
		"an empty ASN database": {geoiptest.File(t, "e.mmdb", geoiptest.ASN(t, "GeoLite2-ASN", nil)), "has no autonomous_system_number records"},
	} {
		if _, err := geoip.OpenASN([]string{tc.path}); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want %q", name, err, tc.err)
		}
	}
	// And an ASN database is no country database.
	if _, err := geoip.Open([]string{geoiptest.File(t, "a.mmdb", geoiptest.ASN(t, "ip-location-db-ASN", geoiptest.SeedASNs))}); err == nil {
		t.Error("an ASN database opened as a country database")
	}
}

// ASN files are reloaded as GeoIP files are, under their own reload source.
func TestASNReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "asn.mmdb")
	replace := func(b []byte, at time.Time) { replaceFile(t, path, b, at) }
	db := func(n uint32) []byte {
		return geoiptest.ASN(t, "GeoLite2-ASN", map[string]geoiptest.AS{"14.102.64.0/19": {Number: n}})
	}
	start := time.Now()
	replace(db(18002), start.Add(-time.Hour))
	r, err := geoip.OpenASN([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	var logs testutil.Logs
	reg := prometheus.NewRegistry()
	loaded := make(chan *geoip.Database, 4)
	go r.Watch(t.Context(), 5*time.Millisecond, logs.Logger(), metrics.NewReloads(reg), func(d *geoip.Database) { loaded <- d })
	failing := func() float64 {
		return testutil.MetricValue(t, reg, "tokenguard_reload_failing", "source", metrics.SourceASN)
	}
	ip := netip.MustParseAddr("14.102.69.58")

	replace([]byte("not a database"), start.Add(-time.Minute))
	testutil.Eventually(t, 5*time.Second, "failure", func() error {
		if failing() != 1 {
			return os.ErrNotExist
		}
		return nil
	})
	if got := r.ASN(ip); got != 18002 {
		t.Errorf("after a broken replacement: %d", got)
	}
	if n := logs.Count(`"msg"="asn database changed but cannot be opened; keeping the previous one"`); n != 1 {
		t.Errorf("failure logged %d times, want once: %q", n, logs.Lines())
	}

	replace(db(64500), start)
	testutil.Eventually(t, 5*time.Second, "reload", func() error {
		if r.ASN(ip) != 64500 || failing() != 0 {
			return os.ErrNotExist
		}
		return nil
	})
	if d := <-loaded; d.Format != geoip.FormatASN || d.Path != path {
		t.Errorf("onLoad got %+v", d)
	}
	if n := logs.Count(`"msg"="asn database reloaded"`); n != 1 {
		t.Errorf("reload logged %d times, want once", n)
	}
}

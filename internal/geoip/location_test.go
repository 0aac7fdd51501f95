// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package geoip_test

import (
	"net/netip"
	"testing"

	"github.com/tokenguard/tokenguard/internal/geoip"
	"github.com/tokenguard/tokenguard/internal/geoip/geoiptest"
)

// Coordinates come from GeoIP2-style City databases and from
// ip-location-db city files; country databases have none.
func TestLocation(t *testing.T) {
	places := map[string]geoiptest.Place{
		"203.0.113.0/24":  {Country: "LK", Lat: 6.9271, Lon: 79.8612},
		"198.51.100.0/24": {Country: "DE", Lat: 52.52, Lon: 13.405},
	}
	for name, b := range map[string][]byte{
		"GeoLite2-City":        geoiptest.City(t, "GeoLite2-City", places),
		"DBIP-City-Lite":       geoiptest.City(t, "DBIP-City-Lite", places),
		"ip-location-db city4": geoiptest.FlatCity(t, 4, places),
	} {
		t.Run(name, func(t *testing.T) {
			db, err := geoip.OpenBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			r := geoip.New(db)
			lat, lon, ok := r.Location(netip.MustParseAddr("203.0.113.9"))
			if !ok || lat < 6.92 || lat > 6.93 || lon < 79.86 || lon > 79.87 {
				t.Errorf("Location = %v, %v, %v", lat, lon, ok)
			}
			if c := r.Country(netip.MustParseAddr("198.51.100.1")); c != "DE" {
				t.Errorf("Country = %q", c)
			}
			if _, _, ok := r.Location(netip.MustParseAddr("192.0.2.1")); ok {
				t.Error("an unknown address has a location")
			}
		})
	}
	db, err := geoip.OpenBytes(geoiptest.Country(t, "GeoLite2-Country", geoiptest.SeedNetworks))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := geoip.New(db).Location(netip.MustParseAddr("203.0.113.9")); ok {
		t.Error("a country database has coordinates")
	}
}

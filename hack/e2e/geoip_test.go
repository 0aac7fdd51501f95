//go:build e2e

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/geoip"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
)

// The optional city default (make geoip-city) is fetched pinned and
// checksum-verified, and resolves well-known addresses to their country and
// coordinates in both address families.
func TestCityDatabaseDefault(t *testing.T) {
	out, err := exec.Command(filepath.Join(tu.RepoRoot(), "hack", "fetch-geoip.sh"), "city").Output()
	if err != nil {
		t.Fatalf("fetch-geoip.sh city: %v", err)
	}
	var paths []string
	for _, f := range strings.Fields(string(out)) {
		paths = append(paths, strings.TrimPrefix(f, "--geoip-database="))
	}
	r, err := geoip.Open(paths)
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]struct {
		country  string
		lat, lon float64 // within 5 degrees
	}{
		"14.102.69.58":        {"IN", 11, 79},    // the seed use case's Indian address
		"175.45.176.1":        {"KP", 39, 125.7}, // Pyongyang
		"2a00:1450:4001::1":   {"DE", 50, 8.7},   // Google, Frankfurt
		"::ffff:175.45.176.1": {"KP", 39, 125.7},
	} {
		a := netip.MustParseAddr(ip)
		lat, lon, ok := r.Location(a)
		if c := r.Country(a); c != want.country || !ok || abs(lat-want.lat) > 5 || abs(lon-want.lon) > 5 {
			t.Errorf("%s: %s %.2f %.2f %v, want %s near %.1f %.1f", ip, c, lat, lon, ok, want.country, want.lat, want.lon)
		}
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package geoip_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/maxmind/mmdbwriter"

	"github.com/tokenguard/tokenguard/internal/geoip"
	"github.com/tokenguard/tokenguard/internal/geoip/geoiptest"
)

var lookups = map[string]string{
	"175.45.176.0":        "KP",
	"14.102.69.58":        "IN",
	"::ffff:14.102.69.58": "IN",
	"2001:db8:1::1":       "DE",
	"8.8.8.8":             "",
	"2001:db9::1":         "",
}

func check(t *testing.T, r *geoip.Resolver) {
	t.Helper()
	for ip, want := range lookups {
		if got := r.Country(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Country(%s) = %q, want %q", ip, got, want)
		}
	}
}

func TestFormats(t *testing.T) {
	for _, typ := range []string{"GeoLite2-Country", "GeoIP2-Country", "GeoLite2-City", "GeoIP2-City", "DBIP-Country-Lite", "DBIP-City-Lite"} {
		t.Run(typ, func(t *testing.T) {
			d, err := geoip.OpenFile(geoiptest.File(t, "db.mmdb", geoiptest.Country(t, typ, geoiptest.SeedNetworks)))
			if err != nil {
				t.Fatal(err)
			}
			if d.Format != geoip.FormatGeoIP2 || d.Type != typ {
				t.Errorf("format %v type %q", d.Format, d.Type)
			}
			check(t, geoip.New(d))
		})
	}
	t.Run("ip-location-db IPv4 and IPv6 files", func(t *testing.T) {
		v4 := geoiptest.File(t, "v4.mmdb", geoiptest.Flat(t, 4, geoiptest.SeedNetworks))
		v6 := geoiptest.File(t, "v6.mmdb", geoiptest.Flat(t, 6, geoiptest.SeedNetworks))
		r, err := geoip.Open([]string{v4, v6})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range r.Databases() {
			if d.Format != geoip.FormatFlat {
				t.Errorf("%s: format %v", d.Path, d.Format)
			}
		}
		check(t, r)
	})
}

func TestRejects(t *testing.T) {
	w, _ := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-ASN"})
	asn := filepath.Join(t.TempDir(), "asn.mmdb")
	f, _ := os.Create(asn)
	_, _ = w.WriteTo(f)
	_ = f.Close()
	for name, tc := range map[string]struct{ path, err string }{
		"missing file":             {filepath.Join(t.TempDir(), "none.mmdb"), "no such file"},
		"not a database":           {geoiptest.File(t, "x.mmdb", []byte("hello")), "geoip database"},
		"database without country": {asn, "has no country data"},
	} {
		if _, err := geoip.Open([]string{tc.path}); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want %q", name, err, tc.err)
		}
	}
}

// A database replaced on disk is swapped in while lookups run: no lookup
// fails or sees a half-written state.
func TestReloadWhileServing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "country.mmdb")
	write := func(cc string) {
		tmp := filepath.Join(dir, ".tmp")
		if err := os.WriteFile(tmp, geoiptest.Country(t, "GeoLite2-Country", map[string]string{"14.102.64.0/19": cc}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("IN")
	r, err := geoip.Open([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var loaded atomic.Int32
	go r.Watch(ctx, 10*time.Millisecond, logr.Discard(), nil, func(*geoip.Database) { loaded.Add(1) })
	var wg sync.WaitGroup
	var bad atomic.Int64
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := netip.MustParseAddr("14.102.69.58")
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c := r.Country(ip); c != "IN" && c != "LK" {
					bad.Add(1)
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	_ = os.Chtimes(path, time.Now(), time.Now())
	write("LK")
	_ = os.Chtimes(path, time.Now().Add(time.Second), time.Now().Add(time.Second))
	deadline := time.Now().Add(5 * time.Second)
	for r.Country(netip.MustParseAddr("14.102.69.58")) != "LK" {
		if time.Now().After(deadline) {
			t.Fatal("replaced database not picked up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A broken replacement keeps the previous database.
	if err := os.WriteFile(path, []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if got := r.Country(netip.MustParseAddr("14.102.69.58")); got != "LK" {
		t.Errorf("after a broken replacement: %q", got)
	}
	if bad.Load() != 0 {
		t.Errorf("%d lookups saw neither country", bad.Load())
	}
	if loaded.Load() < 1 {
		t.Error("onLoad not called")
	}
}

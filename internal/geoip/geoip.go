// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package geoip resolves an address to a country from MaxMind-format
// databases: GeoIP2 and GeoLite2 Country and City, DB-IP, and the flat
// country_code files of ip-location-db (one file per address family); and
// to its autonomous system from ASN databases (asn.go). Databases are read
// into memory, so a file replaced on disk can be swapped in while lookups
// run, without a restart and without a failed lookup.
package geoip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	geoip2 "github.com/oschwald/geoip2-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tokenguard/tokenguard/internal/metrics"
)

// Format is the record layout of a database.
type Format uint8

// Formats.
const (
	// FormatGeoIP2 is a GeoIP2, GeoLite2 or DB-IP database read through geoip2-golang.
	FormatGeoIP2 Format = iota
	// FormatFlat is an ip-location-db file whose records are {country_code}.
	FormatFlat
	// FormatASN is an ASN database whose records carry
	// autonomous_system_number at the top (GeoLite2-ASN's layout).
	FormatASN
)

func (f Format) String() string {
	switch f {
	case FormatFlat:
		return "ip-location-db"
	case FormatASN:
		return "asn"
	}
	return "geoip2"
}

// Database is one opened database file.
type Database struct {
	Path      string
	Format    Format
	Type      string
	BuildTime time.Time
	// IPVersion is 4 for an IPv4-only file, 6 otherwise.
	IPVersion uint

	mmdb    *maxminddb.Reader
	modTime time.Time
	size    int64
}

// country path for each format. Decoding one path avoids building the whole
// geoip2 record (names in every language) on each call.
var (
	pathCountry    = []any{"country", "iso_code"}
	pathRegistered = []any{"registered_country", "iso_code"}
	pathFlat       = []any{"country_code"}
)

// coordinates are the location fields of a GeoIP2 / GeoLite2 / DB-IP City
// record, and of an ip-location-db city file.
type coordinates struct {
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
	Latitude  *float64 `maxminddb:"latitude"`
	Longitude *float64 `maxminddb:"longitude"`
}

// lookup finds the record of an (unmapped) address. Files other than
// MaxMind's GeoIP2 layout (ip-location-db's, and ASN files) may be written
// without IPv4 aliasing: a combined file then keeps IPv4 under
// ::ffff:0:0/96 rather than ::/96, where the address is looked up again.
func (d *Database) lookup(ip netip.Addr) maxminddb.Result {
	if d.IPVersion == 4 && !ip.Is4() {
		return maxminddb.Result{}
	}
	res := d.mmdb.Lookup(ip)
	if !res.Found() && d.Format != FormatGeoIP2 && d.IPVersion == 6 && ip.Is4() {
		res = d.mmdb.Lookup(netip.AddrFrom16(ip.As16()))
	}
	return res
}

// location returns the database's coordinates for a (unmapped) address.
func (d *Database) location(ip netip.Addr) (lat, lon float64, ok bool) {
	res := d.lookup(ip)
	if !res.Found() {
		return 0, 0, false
	}
	var c coordinates
	if res.Decode(&c) != nil {
		return 0, 0, false
	}
	switch {
	case c.Location.Latitude != nil && c.Location.Longitude != nil:
		return *c.Location.Latitude, *c.Location.Longitude, true
	case c.Latitude != nil && c.Longitude != nil:
		return *c.Latitude, *c.Longitude, true
	}
	return 0, 0, false
}

// country returns the database's country for a (unmapped) address, or "".
func (d *Database) country(ip netip.Addr) string {
	res := d.lookup(ip)
	if !res.Found() {
		return ""
	}
	var code string
	if d.Format == FormatFlat {
		_ = res.DecodePath(&code, pathFlat...)
		return code
	}
	if err := res.DecodePath(&code, pathCountry...); err == nil && code != "" {
		return code
	}
	code = ""
	_ = res.DecodePath(&code, pathRegistered...)
	return code
}

// OpenFile reads and opens a database file, recognising its format.
func OpenFile(path string) (*Database, error) {
	return openFile(path, "geoip", OpenBytes)
}

func openFile(path, kind string, open func([]byte) (*Database, error)) (*Database, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path) //nolint:gosec // the path is an operator-supplied flag
	if err != nil {
		return nil, err
	}
	d, err := open(b)
	if err != nil {
		return nil, fmt.Errorf("%s database %s: %w", kind, path, err)
	}
	d.Path, d.modTime, d.size = path, st.ModTime(), st.Size()
	return d, nil
}

// OpenBytes opens a database held in memory.
func OpenBytes(b []byte) (*Database, error) {
	m, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, err
	}
	d := &Database{
		mmdb:      m,
		Type:      m.Metadata.DatabaseType,
		BuildTime: time.Unix(int64(m.Metadata.BuildEpoch), 0).UTC(), //nolint:gosec // epoch fits
		IPVersion: m.Metadata.IPVersion,
	}
	// geoip2-golang knows the GeoIP2, GeoLite2 and DB-IP types; it is the
	// check that a file is a country-capable database of those.
	g, gerr := geoip2.OpenBytes(b)
	var unknown geoip2.UnknownDatabaseTypeError
	switch {
	case gerr == nil:
		if _, err := g.Country(netip.IPv4Unspecified()); err != nil && isInvalidMethod(err) {
			return nil, fmt.Errorf("database type %q has no country data", d.Type)
		}
		d.Format = FormatGeoIP2
	case errors.As(gerr, &unknown) && hasFlatCountry(m):
		d.Format = FormatFlat
	default:
		return nil, fmt.Errorf("unsupported database type %q: want a GeoIP2, GeoLite2, DB-IP or ip-location-db country database", d.Type)
	}
	return d, nil
}

func isInvalidMethod(err error) bool {
	var im geoip2.InvalidMethodError
	return errors.As(err, &im)
}

// hasFlatCountry reports whether the database's records look like
// ip-location-db's {country_code}.
func hasFlatCountry(m *maxminddb.Reader) bool {
	for res := range m.Networks() {
		var code string
		if err := res.DecodePath(&code, pathFlat...); err == nil && code != "" {
			return true
		}
		return false
	}
	return false
}

// set is an ordered set of databases of one kind, swapped whole when a
// file is replaced; the first database that knows an address wins.
type set struct {
	dbs atomic.Pointer[[]*Database]
	// open opens a file of the set's kind; kind names it in logs and
	// source in reload metrics.
	open   func(path string) (*Database, error)
	kind   string
	source string
}

func (s *set) init(open func(string) (*Database, error), kind, source string, dbs []*Database) {
	s.open, s.kind, s.source = open, kind, source
	s.dbs.Store(&dbs)
}

func openAll(paths []string, open func(string) (*Database, error)) ([]*Database, error) {
	dbs := make([]*Database, 0, len(paths))
	for _, p := range paths {
		d, err := open(p)
		if err != nil {
			return nil, err
		}
		dbs = append(dbs, d)
	}
	return dbs, nil
}

// Databases returns the databases in use.
func (s *set) Databases() []*Database { return *s.dbs.Load() }

// Resolver answers country lookups from an ordered set of databases: the
// first database that knows an address wins.
type Resolver struct {
	set
}

// Open opens the database files in order.
func Open(paths []string) (*Resolver, error) {
	dbs, err := openAll(paths, OpenFile)
	if err != nil {
		return nil, err
	}
	return New(dbs...), nil
}

// New returns a resolver over already opened databases.
func New(dbs ...*Database) *Resolver {
	r := &Resolver{}
	r.init(OpenFile, "geoip", metrics.SourceGeoIP, dbs)
	return r
}

// Country returns the ISO 3166-1 alpha-2 code of the address's country, or ""
// when no database knows it. IPv4-mapped IPv6 addresses are looked up as IPv4.
func (r *Resolver) Country(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	for _, d := range *r.dbs.Load() {
		if c := d.country(ip); c != "" {
			return c
		}
	}
	return ""
}

// Location returns the coordinates of the address from the first database
// that has them (a City database), for impossible-travel checks.
func (r *Resolver) Location(ip netip.Addr) (lat, lon float64, ok bool) {
	if !ip.IsValid() {
		return 0, 0, false
	}
	ip = ip.Unmap()
	for _, d := range *r.dbs.Load() {
		if lat, lon, ok := d.location(ip); ok {
			return lat, lon, true
		}
	}
	return 0, 0, false
}

// Watch checks the files every interval and swaps in any that changed (by
// modification time or size). A file that fails to open is reported once,
// to reloads and the log, and the previous version kept; it is not opened
// again until it changes. It returns when ctx ends. onLoad, when set, is
// called with each database opened.
func (s *set) Watch(ctx context.Context, interval time.Duration, log logr.Logger, reloads *metrics.Reloads, onLoad func(*Database)) {
	if len(s.Databases()) == 0 {
		return
	}
	w := &watcher{s: s, log: log, rep: reloads.Reporter(s.source, log), onLoad: onLoad, rejected: map[string]fileStat{}}
	w.rep.Succeeded() // the databases in use opened at start
	wait.UntilWithContext(ctx, w.check, interval)
}

// fileStat is what tells a replaced database file.
type fileStat struct {
	modTime time.Time
	size    int64
}

type watcher struct {
	s      *set
	log    logr.Logger
	rep    *metrics.ReloadReporter
	onLoad func(*Database)
	// rejected holds the files that failed to open, by path.
	rejected map[string]fileStat
}

func (w *watcher) check(context.Context) {
	cur := w.s.Databases()
	next := make([]*Database, len(cur))
	changed, broken := false, false
	var failed []error
	for i, d := range cur {
		next[i] = d
		if d.Path == "" {
			continue // opened from memory
		}
		st, err := os.Stat(d.Path)
		if err != nil {
			failed = append(failed, err)
			continue
		}
		seen := fileStat{st.ModTime(), st.Size()}
		switch bad, ok := w.rejected[d.Path]; {
		case seen.modTime.Equal(d.modTime) && seen.size == d.size:
			delete(w.rejected, d.Path) // back to the file in use
			continue
		case ok && seen.modTime.Equal(bad.modTime) && seen.size == bad.size:
			broken = true // reported when it failed
			continue
		}
		nd, err := w.s.open(d.Path)
		if err != nil {
			w.rejected[d.Path] = seen
			failed = append(failed, err)
			continue
		}
		delete(w.rejected, d.Path)
		w.log.Info(w.s.kind+" database reloaded", "path", d.Path, "type", nd.Type, "buildTime", nd.BuildTime)
		if w.onLoad != nil {
			w.onLoad(nd)
		}
		next[i], changed = nd, true
	}
	if changed {
		w.s.dbs.Store(&next)
	}
	switch {
	case len(failed) > 0:
		w.rep.Failed(w.s.kind+" database changed but cannot be opened; keeping the previous one", errors.Join(failed...))
	case broken:
		// Still the file that failed: reported then, not counted again.
	case changed || w.rep.Failing():
		w.rep.Succeeded()
	}
}

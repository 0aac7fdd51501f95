// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package geoip

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/tokenguard/tokenguard/internal/metrics"
)

// The ASN record fields, at the top of the record in MaxMind GeoLite2-ASN
// and GeoIP2-ISP, DB-IP's ASN files, ip-location-db's asn-mmdb and
// TokenGuard's conversion of ip-location-db's ASN CSVs (hack/asnconv).
var pathASN = []any{"autonomous_system_number"}

type asnRecord struct {
	Number uint32 `maxminddb:"autonomous_system_number"`
	Org    string `maxminddb:"autonomous_system_organization"`
}

// asnProbe is how many networks OpenASNBytes reads looking for an ASN.
const asnProbe = 1000

// OpenASNFile reads and opens an ASN database file.
func OpenASNFile(path string) (*Database, error) {
	return openFile(path, "asn", OpenASNBytes)
}

// OpenASNBytes opens an ASN database held in memory: any MaxMind-format
// database whose records carry autonomous_system_number.
func OpenASNBytes(b []byte) (*Database, error) {
	m, err := maxminddb.OpenBytes(b)
	if err != nil {
		return nil, err
	}
	d := &Database{
		mmdb:      m,
		Format:    FormatASN,
		Type:      m.Metadata.DatabaseType,
		BuildTime: time.Unix(int64(m.Metadata.BuildEpoch), 0).UTC(), //nolint:gosec // epoch fits
		IPVersion: m.Metadata.IPVersion,
	}
	// A country or city database given by mistake would make every ASN
	// unknown, silently: refuse it.
	n := 0
	for res := range m.Networks() {
		var asn uint32
		if err := res.DecodePath(&asn, pathASN...); err == nil && asn != 0 {
			return d, nil
		}
		if n++; n == asnProbe {
			break
		}
	}
	return nil, fmt.Errorf("database type %q has no autonomous_system_number records: want a GeoLite2-ASN, GeoIP2-ISP or ip-location-db ASN database", d.Type)
}

// ASNResolver answers autonomous system lookups from an ordered set of ASN
// databases: the first database that knows an address wins.
type ASNResolver struct {
	set
}

// OpenASN opens the ASN database files in order.
func OpenASN(paths []string) (*ASNResolver, error) {
	dbs, err := openAll(paths, OpenASNFile)
	if err != nil {
		return nil, err
	}
	return NewASN(dbs...), nil
}

// NewASN returns an ASN resolver over already opened ASN databases.
func NewASN(dbs ...*Database) *ASNResolver {
	r := &ASNResolver{}
	r.init(OpenASNFile, "asn", metrics.SourceASN, dbs)
	return r
}

// ASN returns the number of the address's autonomous system, or 0 when no
// database knows it. IPv4-mapped IPv6 addresses are looked up as IPv4.
func (r *ASNResolver) ASN(ip netip.Addr) uint32 {
	if !ip.IsValid() {
		return 0
	}
	ip = ip.Unmap()
	for _, d := range r.Databases() {
		var asn uint32
		if res := d.lookup(ip); res.Found() && res.DecodePath(&asn, pathASN...) == nil && asn != 0 {
			return asn
		}
	}
	return 0
}

// Organization returns the address's autonomous system number and the
// organization the database names for it ("" when it names none), for
// explaining a decision; the request path reads only the number.
func (r *ASNResolver) Organization(ip netip.Addr) (uint32, string) {
	if !ip.IsValid() {
		return 0, ""
	}
	ip = ip.Unmap()
	for _, d := range r.Databases() {
		var rec asnRecord
		if res := d.lookup(ip); res.Found() && res.Decode(&rec) == nil && rec.Number != 0 {
			return rec.Number, rec.Org
		}
	}
	return 0, ""
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Command asnconv converts ip-location-db's ASN CSV files (rows
// start,end,asn,org: inclusive address ranges, IPv4 and IPv6) into one
// MaxMind DB with GeoLite2-ASN's record layout
// ({autonomous_system_number, autonomous_system_organization}), so that
// TokenGuard reads its embedded ASN default and a MaxMind GeoLite2-ASN or
// GeoIP2-ISP database the same way. hack/fetch-geoip.sh asn runs it once,
// at fetch time:
//
//	go run ./hack/asnconv --out asn.mmdb --version 2.3.2026061719 asn-ipv4.csv asn-ipv6.csv
//
// The output is reproducible: its build time comes from the package
// version (YYYYMMDDHH), not the clock.
package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// DatabaseType is the metadata type of the converted file.
const DatabaseType = "ip-location-db-ASN"

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "asnconv:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("asnconv", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "the MaxMind DB file to write")
	version := fs.String("version", "", "the @ip-location-db/asn package version (its last part, YYYYMMDDHH, is the build time)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *version == "" || fs.NArg() == 0 {
		return errors.New("usage: asnconv --out FILE --version VERSION CSV [CSV]")
	}
	built, err := buildTime(*version)
	if err != nil {
		return err
	}
	ins := make([]input, 0, fs.NArg())
	for _, p := range fs.Args() {
		f, err := os.Open(p) //nolint:gosec // a file named on the command line
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		ins = append(ins, input{name: filepath.Base(p), r: bufio.NewReaderSize(f, 1<<20)})
	}
	// Written beside the target and renamed: a reader watching the file
	// never sees it half-written.
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".asnconv-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	st, err := convert(tmp, built, "ip-location-db asn "+*version+" (RouteViews, NRO and DB-IP data, CC BY 4.0)", ins)
	if err == nil {
		err = tmp.Close()
	}
	if err != nil {
		_ = tmp.Close()
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { //nolint:gosec // a database anyone may read
		return err
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "asnconv: %d ranges (%d ASNs) into %s\n", st.ranges, st.asns, *out)
	return nil
}

// buildTime reads the build time out of a version such as 2.3.2026061719.
func buildTime(version string) (time.Time, error) {
	i := len(version) - 10
	if i < 1 || version[i-1] != '.' {
		return time.Time{}, fmt.Errorf("version %q does not end in .YYYYMMDDHH", version)
	}
	t, err := time.Parse("2006010215", version[i:])
	if err != nil {
		return time.Time{}, fmt.Errorf("version %q does not end in .YYYYMMDDHH: %w", version, err)
	}
	return t, nil
}

type input struct {
	name string
	r    io.Reader
}

type stats struct {
	ranges int
	asns   int
}

// keys deduplicates records by ASN and organization, cheaper than the
// writer's default (a SHA-256 of each serialized record) at a million
// inserts.
type keys struct{}

func (keys) Key(v mmdbtype.DataType) ([]byte, error) {
	m, ok := v.(mmdbtype.Map)
	if !ok {
		return nil, fmt.Errorf("unexpected record %T", v)
	}
	n, _ := m["autonomous_system_number"].(mmdbtype.Uint32)
	o, _ := m["autonomous_system_organization"].(mmdbtype.String)
	return strconv.AppendUint([]byte(o+"\x00"), uint64(n), 10), nil
}

// convert writes one IPv6 tree (IPv4 under ::/96, as MaxMind's own files
// keep it) holding every range of the inputs.
func convert(w io.Writer, built time.Time, description string, ins []input) (stats, error) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: DatabaseType,
		Description:  map[string]string{"en": description},
		BuildEpoch:   built.Unix(),
		// The data maps 2001::/32 and 2002::/16 to their relays'
		// networks; aliasing them to the IPv4 tree would hide those rows.
		// TokenGuard looks up the IPv4 address they carry itself.
		DisableIPv4Aliasing:     true,
		IncludeReservedNetworks: true,
		RecordSize:              28,
		KeyGenerator:            keys{},
	})
	if err != nil {
		return stats{}, err
	}
	var st stats
	seen := map[uint32]struct{}{}
	// One record value per ASN and organization, shared by its ranges.
	records := map[string]mmdbtype.Map{}
	for _, in := range ins {
		cr := csv.NewReader(in.r)
		cr.FieldsPerRecord = 4
		cr.ReuseRecord = true
		for line := 1; ; line++ {
			row, err := cr.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return st, fmt.Errorf("%s: %w", in.name, err)
			}
			start, end, asn, err := parseRow(row)
			if err != nil {
				return st, fmt.Errorf("%s:%d: %w", in.name, line, err)
			}
			key := row[2] + "\x00" + row[3]
			rec, ok := records[key]
			if !ok {
				rec = mmdbtype.Map{
					"autonomous_system_number":       mmdbtype.Uint32(asn),
					"autonomous_system_organization": mmdbtype.String(row[3]),
				}
				records[key] = rec
			}
			if err := tree.InsertRange(net.IP(start.AsSlice()), net.IP(end.AsSlice()), rec); err != nil {
				return st, fmt.Errorf("%s:%d: %w", in.name, line, err)
			}
			st.ranges++
			seen[asn] = struct{}{}
		}
	}
	st.asns = len(seen)
	if st.ranges == 0 {
		return st, errors.New("no ranges in the input")
	}
	_, err = tree.WriteTo(w)
	return st, err
}

func parseRow(row []string) (start, end netip.Addr, asn uint32, err error) {
	if start, err = netip.ParseAddr(row[0]); err != nil {
		return
	}
	if end, err = netip.ParseAddr(row[1]); err != nil {
		return
	}
	start, end = start.Unmap(), end.Unmap()
	if start.Is4() != end.Is4() || end.Less(start) {
		return start, end, 0, fmt.Errorf("%s-%s is not a range", row[0], row[1])
	}
	n, err := strconv.ParseUint(row[2], 10, 32)
	if err != nil || n == 0 {
		return start, end, 0, fmt.Errorf("%q is not an AS number", row[2])
	}
	return start, end, uint32(n), nil
}

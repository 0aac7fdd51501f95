// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package iplist reads lists of addresses and networks (IP lists) from the
// places operators keep them: inline entries, ConfigMaps, files and HTTP(S)
// URLs such as FireHOL's netsets or the Tor bulk exit list. It keeps each
// list's last good content when a source fails, and builds the content
// into a policy.NetSet, the set the compiler merges into policies.
//
// It imports nothing from Kubernetes: the controller and standalone mode
// give it their sources through small interfaces.
package iplist

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// bom is the UTF-8 byte-order mark some editors write first.
const bom = "\ufeff"

// MaxLineBytes is the longest line a list may have.
const MaxLineBytes = 4096

// SyntaxError is the first line of a list that is neither an address, a
// network, a range, a comment nor blank, or where a JSON list stops being
// JSON (Line 0 and the byte Offset).
type SyntaxError struct {
	Line   int
	Text   string
	Offset int64
	Err    string
}

func (e *SyntaxError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("byte %d: %s", e.Offset, e.Err)
	}
	return fmt.Sprintf("line %d: %q: %s", e.Line, e.Text, e.Err)
}

// TooLargeError is a source larger than its limit; reading stopped there.
type TooLargeError struct {
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("larger than the limit of %d bytes", e.Limit)
}

// Read parses a list and calls add for each network it names, in order:
// one address, network (CIDR) or range (first-last, converted to the
// fewest networks that cover it) per line. It skips blank lines and
// comments: from # or ; to the end of the line, so FireHOL netsets (#
// headers) and Spamhaus DROP (; SBL references) read as they are. Tor's
// exit-addresses format is understood too: the address of each ExitAddress
// line, the ExitNode, Published and LastStatus lines skipped. An
// IPv4-mapped IPv6 address (::ffff:a.b.c.d) is taken as its IPv4 address,
// since TokenGuard judges such a client by it.
//
// A JSON document (one that starts with { or [) is read by readJSON: every
// string in it that is an address, network or range is an entry, so cloud
// providers' range files read as they are published.
//
// With limit above 0, a list longer than limit bytes fails with a
// *TooLargeError as soon as the limit is passed, whatever was read. A bad
// line fails with a *SyntaxError. Read returns the number of entries
// (lines that named an address, network or range).
func Read(r io.Reader, limit int64, add func(netip.Prefix)) (int, error) {
	lr := &limitedReader{r: r, left: limit, limit: limit}
	if limit <= 0 {
		lr.left = -1
	}
	br := bufio.NewReaderSize(lr, MaxLineBytes)
	if isJSON(br) {
		if b, _ := br.Peek(len(bom)); string(b) == bom {
			_, _ = br.Discard(len(bom))
		}
		return readJSON(br, add)
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, MaxLineBytes), MaxLineBytes)
	entries, line := 0, 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte(bom))
		}
		n, err := parseLine(b, add)
		if err != nil && lr.exceeded {
			// The scanner hands over a last, cut line before the error.
			return entries, &TooLargeError{Limit: limit}
		}
		if err != nil {
			return entries, &SyntaxError{Line: line, Text: clip(string(b)), Err: err.Error()}
		}
		entries += n
	}
	if err := sc.Err(); err != nil {
		var tl *TooLargeError
		switch {
		case errors.As(err, &tl):
			return entries, tl
		case errors.Is(err, bufio.ErrTooLong):
			return entries, &SyntaxError{Line: line + 1, Text: "", Err: fmt.Sprintf("longer than %d bytes", MaxLineBytes)}
		}
		return entries, err
	}
	return entries, nil
}

// ParseEntry parses one inline entry (an address, network or range, no
// comment) and calls add for each network it names.
func ParseEntry(s string, add func(netip.Prefix)) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return errors.New("empty")
	}
	return parseToken(s, add)
}

func clip(s string) string {
	const max = 100
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// parseLine parses one line; it returns 1 when the line named networks, 0
// when it was blank or a comment.
func parseLine(b []byte, add func(netip.Prefix)) (int, error) {
	if i := bytes.IndexAny(b, "#;"); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0, nil
	}
	if !bytes.ContainsAny(b, " \t") {
		// The usual line: one token.
		return 1, parseToken(string(b), add)
	}
	fields := strings.Fields(string(b))
	switch {
	case len(fields) == 0:
		return 0, nil
	case len(fields) == 1:
		return 1, parseToken(fields[0], add)
	case len(fields) == 3 && fields[1] == "-":
		return 1, parseToken(fields[0]+"-"+fields[2], add)
	}
	// Tor's exit-addresses: "ExitAddress 185.220.101.1 2026-11-27 10:00:00".
	switch fields[0] {
	case "ExitAddress":
		return 1, parseToken(fields[1], add)
	case "ExitNode", "Published", "LastStatus":
		return 0, nil
	}
	return 0, errors.New("one address, network or range per line")
}

func parseToken(s string, add func(netip.Prefix)) error {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return errors.New("not an address, network or range")
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		add(p.Masked())
		return nil
	}
	if first, last, ok := strings.Cut(s, "-"); ok {
		return parseRange(strings.TrimSpace(first), strings.TrimSpace(last), add)
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return errors.New("not an address, network or range")
	}
	a = a.Unmap()
	add(netip.PrefixFrom(a, a.BitLen()))
	return nil
}

// parseRange adds the fewest networks that cover first to last.
func parseRange(first, last string, add func(netip.Prefix)) error {
	a, err1 := netip.ParseAddr(first)
	b, err2 := netip.ParseAddr(last)
	if err1 != nil || err2 != nil || a.Zone() != "" || b.Zone() != "" {
		return errors.New("not an address, network or range")
	}
	a, b = a.Unmap(), b.Unmap()
	if a.Is4() != b.Is4() {
		return errors.New("a range's ends must both be IPv4 or both IPv6")
	}
	if b.Less(a) {
		return errors.New("a range must go from the lower address to the higher")
	}
	for {
		// The shortest prefix that starts at a and ends at or before b.
		var p netip.Prefix
		for bits := 0; bits <= a.BitLen(); bits++ {
			p = netip.PrefixFrom(a, bits)
			if p.Masked().Addr() == a && !b.Less(lastAddr(p)) {
				break
			}
		}
		add(p)
		end := lastAddr(p)
		next := end.Next()
		if end == b || !next.IsValid() {
			return nil
		}
		a = next
	}
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr()
	if a.Is4() {
		b := a.As4()
		for i := p.Bits(); i < 32; i++ {
			b[i/8] |= 1 << (7 - i%8)
		}
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	return netip.AddrFrom16(b)
}

// limitedReader fails with a *TooLargeError once more than limit bytes
// were read, and at every read after that; left is -1 without a limit.
type limitedReader struct {
	r        io.Reader
	left     int64
	limit    int64
	exceeded bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return l.r.Read(p)
	}
	if l.exceeded {
		// Sticky: a reader in front (bufio's Peek) may have dropped the
		// first error.
		return 0, &TooLargeError{Limit: l.limit}
	}
	if l.left == 0 {
		// Allowed exactly limit bytes: one more byte fails.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			l.exceeded = true
			return 0, &TooLargeError{Limit: l.limit}
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package iplist

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// MaxJSONDepth is how deeply a JSON list may nest objects and arrays:
// cloud providers' files nest three or four levels, and a document of
// nothing but [ must not cost memory in proportion to its size.
const MaxJSONDepth = 32

// isJSON reports whether the buffered content starts, after a byte-order
// mark and blank space, with an object or an array: a line list never
// does.
func isJSON(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Size())
	b = bytes.TrimLeft(bytes.TrimPrefix(b, []byte(bom)), " \t\r\n")
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}

// readJSON reads one JSON document, such as a cloud provider's published
// ranges (AWS ip-ranges.json, Google cloud.json and goog.json, Azure
// service tags, Oracle public_ip_ranges.json, GitHub meta): every string
// value that is an address, network or range is an entry; keys, numbers
// and other strings (regions, service names, dates) are skipped.
//
// It never loads a list in part. A *SyntaxError fails the document when it
// is truncated, invalid, followed by more than blank space, nested deeper
// than MaxJSONDepth, holds no entry at all, or holds a string shaped like
// an address that is not one (10.0.0.300, 192.0.2.0/33): the line format
// refuses such a line, and a block list must not lose an entry silently.
// An error of the reader (a connection reset, a timeout, a size limit) is
// returned as it is.
func readJSON(r io.Reader, add func(netip.Prefix)) (int, error) {
	src := &errReader{r: r}
	dec := json.NewDecoder(src)
	dec.UseNumber() // numbers are skipped: spare converting them
	// open holds, for each container the decoder is in, whether it is an
	// object; key says whether the object's next token is a key.
	var open []bool
	key, entries := false, 0
	fail := func(err error) (int, error) {
		if src.err != nil {
			return entries, src.err
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return entries, &SyntaxError{Offset: dec.InputOffset(), Err: "not a whole JSON document: " + err.Error()}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				if len(open) == MaxJSONDepth {
					return fail(fmt.Errorf("nested deeper than %d", MaxJSONDepth))
				}
				open = append(open, t == '{')
				key = t == '{'
				continue
			}
			open = open[:len(open)-1]
		case string:
			if key {
				key = false
				continue
			}
			s := strings.TrimSpace(t)
			if err := parseToken(s, add); err == nil {
				entries++
			} else if addressShaped(s) {
				return entries, &SyntaxError{Offset: dec.InputOffset(), Err: fmt.Sprintf("%q: %s", clip(t), err)}
			}
		}
		if len(open) == 0 {
			break // the document is read
		}
		// A value ended: in an object, a key comes next.
		key = open[len(open)-1]
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("more than one JSON value")
		}
		return fail(err)
	}
	if entries == 0 {
		return 0, &SyntaxError{Offset: dec.InputOffset(), Err: "no address, network or range in the JSON document"}
	}
	return entries, nil
}

// addressShaped reports whether s looks like an IPv4 or IPv6 address,
// network or range, so that one that does not parse is an error rather
// than a string to skip: four dot-separated decimal numbers (10.0.0.300),
// or hexadecimal groups with :: or seven colons, each with an optional
// /bits; a range is two of them around a dash. A date, a time (10:00:00),
// a version (1.2.3) or a region name is not.
func addressShaped(s string) bool {
	if first, last, ok := strings.Cut(s, "-"); ok {
		return addressShaped(strings.TrimSpace(first)) && addressShaped(strings.TrimSpace(last))
	}
	addr, bits, hasBits := strings.Cut(s, "/")
	if hasBits && (bits == "" || strings.Trim(bits, "0123456789") != "") {
		return false
	}
	if strings.Count(addr, ".") == 3 && strings.Trim(addr, "0123456789.") == "" {
		return !strings.Contains(addr, "..") && addr[0] != '.' && addr[len(addr)-1] != '.'
	}
	if strings.Trim(addr, "0123456789abcdefABCDEF:.") != "" {
		return false
	}
	return strings.Contains(addr, "::") || strings.Count(addr, ":") == 7
}

// errReader remembers the first error of its reader other than io.EOF,
// so that readJSON can tell a failed read from a bad document.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
	return n, err
}

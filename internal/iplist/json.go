// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package iplist

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
)

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
// and other strings (regions, service names, dates) are skipped. The
// document must be whole: a truncated or invalid one, or one followed by
// more than blank space, fails with a *SyntaxError and never loads in
// part.
func readJSON(r io.Reader, add func(netip.Prefix)) (int, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber() // numbers are skipped: spare converting them
	// open holds, for each container the decoder is in, whether it is an
	// object; key says whether the object's next token is a key.
	var open []bool
	key, entries := false, 0
	fail := func(err error) (int, error) {
		var tl *TooLargeError
		if errors.As(err, &tl) {
			return entries, tl
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
			if parseToken(t, add) == nil {
				entries++
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
	return entries, nil
}

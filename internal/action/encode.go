// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package action

import (
	"bytes"
	"encoding/json"
	"errors"
)

// AppendJSON appends r encoded exactly as json.Marshal(r) encodes it (the
// same bytes, HTML-safe escaping included) and returns the result, without
// reflection. A value that is not valid JSON is an error, as with
// json.Marshal.
func (r *Response) AppendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"actionStatus":`...)
	dst = appendString(dst, r.ActionStatus)
	if len(r.Operations) > 0 {
		dst = append(dst, `,"operations":[`...)
		for i := range r.Operations {
			op := &r.Operations[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"op":`...)
			dst = appendString(dst, op.Op)
			dst = append(dst, `,"path":`...)
			dst = appendString(dst, op.Path)
			if len(op.Value) > 0 {
				var err error
				dst = append(dst, `,"value":`...)
				if dst, err = appendRaw(dst, op.Value); err != nil {
					return nil, err
				}
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	for _, f := range [...]struct{ name, v string }{
		{`,"failureReason":`, r.FailureReason}, {`,"failureDescription":`, r.FailureDescription},
		{`,"errorMessage":`, r.ErrorMessage}, {`,"errorDescription":`, r.ErrorDescription},
	} {
		if f.v != "" {
			dst = append(dst, f.name...)
			dst = appendString(dst, f.v)
		}
	}
	return append(dst, '}'), nil
}

// plain reports whether c stands for itself in a JSON string encoding/json
// writes: printable ASCII other than the quote, the backslash and the
// HTML-sensitive <, > and &.
func plain(c byte) bool {
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plain(s[i]) {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

var errInvalidValue = errors.New("json: invalid operation value")

// appendRaw appends a raw value as json.Marshal does: checked, compacted and
// HTML-escaped. The values TokenGuard sends are compact and plain already.
func appendRaw(dst, v []byte) ([]byte, error) {
	if !json.Valid(v) {
		return nil, errInvalidValue
	}
	simple := true
	for _, c := range v {
		if c < 0x21 || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			simple = false // white space, HTML-sensitive or non-ASCII
			break
		}
	}
	if simple {
		return append(dst, v...), nil
	}
	var compact, escaped bytes.Buffer
	if err := json.Compact(&compact, v); err != nil {
		return nil, err
	}
	json.HTMLEscape(&escaped, compact.Bytes())
	return append(dst, escaped.Bytes()...), nil
}

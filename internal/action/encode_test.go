// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package action

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// AppendJSON writes the bytes json.Marshal writes, for every kind of text
// and value an answer can carry.
func TestAppendJSONAsMarshal(t *testing.T) {
	texts := []string{"", "SUCCESS", "access_denied", "Blocked from your region (KP).", `quote " and \ backslash`,
		"<script>&amp;</script>", "tab\there\nnew line\r\x00\x1f\b\f", "café ✓", "\u2028\u2029", "bad \xff utf-8", "/accessToken/claims/a~1b"}
	values := []string{"", "900", `"IN"`, `["a","b"]`, `{"a":1}`, ` [ 1 , 2 ] `, `"<&>"`, `"é"`, `"\u2028"`, "\"\u2028\"", `null`, `-1.5e3`, `{"x":[{"y":"z w"}]}`}
	r := rand.New(rand.NewPCG(9, 10))
	pick := func(vs []string) string { return vs[r.IntN(len(vs))] }
	for range 3000 {
		resp := &Response{ActionStatus: pick(texts), FailureReason: pick(texts), FailureDescription: pick(texts),
			ErrorMessage: pick(texts), ErrorDescription: pick(texts)}
		for range r.IntN(4) {
			resp.Operations = append(resp.Operations, Operation{Op: pick(texts), Path: pick(texts), Value: json.RawMessage(pick(values))})
		}
		if r.IntN(5) == 0 {
			resp.Operations = []Operation{}
		}
		want, werr := json.Marshal(resp)
		got, gerr := resp.AppendJSON(nil)
		if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("%+v:\nAppendJSON %s (%v)\njson.Marshal %s (%v)", resp, got, gerr, want, werr)
		}
	}
	for _, bad := range []string{`{`, `nul`, `1 2`, `"a`} {
		resp := &Response{ActionStatus: "SUCCESS", Operations: []Operation{{Op: "add", Path: "/a", Value: json.RawMessage(bad)}}}
		if _, err := resp.AppendJSON(nil); err == nil {
			t.Errorf("value %q: no error", bad)
		}
	}
}

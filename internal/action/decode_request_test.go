// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package action_test

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/action"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

// sameDecode fails unless DecodeRequest and json.Unmarshal agree on doc.
func sameDecode(t *testing.T, doc []byte) {
	t.Helper()
	var fast, std action.Request
	ef, es := action.DecodeRequest(doc, &fast), json.Unmarshal(doc, &std)
	if (ef == nil) != (es == nil) || ef != nil && ef.Error() != es.Error() {
		t.Fatalf("%s\nDecodeRequest error %v, json.Unmarshal error %v", doc, ef, es)
	}
	if !reflect.DeepEqual(fast, std) {
		a, _ := json.Marshal(fast)
		b, _ := json.Marshal(std)
		t.Fatalf("%s\nDecodeRequest %s\njson.Unmarshal %s", doc, a, b)
	}
}

// mutate writes v as JSON with random white space and key order, and now
// and then a key in other case, a repeated or unknown key, a null or a
// value of another type, or an escaped string.
func mutate(r *rand.Rand, v any, sb *strings.Builder) {
	ws := func() {
		if r.IntN(6) == 0 {
			sb.WriteString([]string{" ", "\n", "\t ", "\r\n"}[r.IntN(4)])
		}
	}
	odd := func() bool { return r.IntN(40) == 0 }
	ws()
	if odd() {
		sb.WriteString([]string{"null", "1", `"x"`, "[]", "{}", "true", "-0", "2.5", "[null]", `"\u0041"`}[r.IntN(10)])
		ws()
		return
	}
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		if odd() && len(keys) > 0 {
			keys = append(keys, keys[0]) // repeated
		}
		sb.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				sb.WriteByte(',')
			}
			name := k
			switch {
			case odd():
				name = strings.ToUpper(k)
			case odd():
				name = strings.Replace(k, "e", `\u0065`, 1)
			}
			ws()
			sb.WriteString(`"` + name + `"`)
			ws()
			sb.WriteByte(':')
			mutate(r, v[k], sb)
		}
		if odd() {
			if len(keys) > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(`"unknown":{"a":[1,"}"]}`)
		}
		sb.WriteByte('}')
	case []any:
		sb.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				sb.WriteByte(',')
			}
			mutate(r, e, sb)
		}
		sb.WriteByte(']')
	case string:
		if odd() {
			b, _ := json.Marshal(v + "\u00e9\"")
			sb.Write(b)
		} else {
			b, _ := json.Marshal(v)
			sb.Write(b)
		}
	case float64:
		sb.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
	default:
		b, _ := json.Marshal(v)
		sb.Write(b)
	}
	ws()
}

func TestDecodeRequestAsEncodingJSON(t *testing.T) {
	var bases []any
	for _, req := range []*action.Request{testutil.Request("203.0.113.9"), testutil.UserRequest("203.0.113.9"), testutil.Request("")} {
		var v any
		if err := json.Unmarshal(testutil.JSON(t, req), &v); err != nil {
			t.Fatal(err)
		}
		bases = append(bases, v)
	}
	for _, doc := range []string{"", "null", "[]", "{}", `{"event":null}`, `{"event":{"user":null,"user":{"id":"u"}}}`,
		`{"event":{"user":{"id":"u"},"user":{"organization":{"depth":2}}}}`, `{"event":{"organization":{"depth":1.5}}}`,
		`{"event":{"organization":{"depth":99999999999999999999}}}`, `{"event":{"request":{"additionalHeaders":{"x":"1"}}}}`,
		`{"requestId":"a"} x`, `{"requestId":"a"`, "{\"requestId\":\"\xff\"}"} {
		sameDecode(t, []byte(doc))
	}
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 3000 {
		var sb strings.Builder
		mutate(r, bases[i%len(bases)], &sb)
		sameDecode(t, []byte(sb.String()))
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(testutil.JSON(f, testutil.Request("203.0.113.9")))
	f.Add(testutil.JSON(f, testutil.UserRequest("203.0.113.9")))
	f.Fuzz(func(t *testing.T, doc []byte) { sameDecode(t, doc) })
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package action

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
)

// fill sets every field reachable from v to a value of its own: strings
// to distinct texts, numbers to distinct numbers, pointers to new values,
// slices to two elements, raw JSON to a small array.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + strconv.Itoa(*n))
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(*n))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			v.SetBytes([]byte(`[` + strconv.Itoa(*n) + `,{"a":"b"}]`))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(v.Index(0), n)
		fill(v.Index(1), n)
	default:
		panic("fill: add " + v.Kind().String())
	}
}

// The fast decoder knows every field of Request: a field added to the
// request's types and not to decode.go fails here, rather than being
// silently left empty on the request path.
func TestDecodeRequestKnowsEveryField(t *testing.T) {
	var want Request
	n := 0
	fill(reflect.ValueOf(&want).Elem(), &n)
	b, err := json.Marshal(&want)
	if err != nil {
		t.Fatal(err)
	}
	d := requestDecoder{lexer: lexer{s: string(b)}}
	d.raw = []byte(d.s)
	var got Request
	if !d.request(&got) {
		t.Fatalf("the fast path gave up on %s", b)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		t.Fatalf("fast path lost fields:\ngot  %s\nwant %s", g, b)
	}
}

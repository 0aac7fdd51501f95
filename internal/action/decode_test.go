// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package action

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// fastDoc holds the lists as Request does; stdDoc as encoding/json alone
// would decode them.
type fastDoc struct {
	Claims  Claims            `json:"claims"`
	Allowed AllowedOperations `json:"allowedOperations"`
	Headers Headers           `json:"additionalHeaders"`
}

type stdDoc struct {
	Claims  []Claim            `json:"claims"`
	Allowed []AllowedOperation `json:"allowedOperations"`
	Headers []Header           `json:"additionalHeaders"`
}

// sameAsEncodingJSON fails unless doc decodes to the same lists, or the
// same kind of error, both ways. Header maps are not compared: only the
// array form has a fast path.
func sameAsEncodingJSON(t *testing.T, doc string) {
	t.Helper()
	var f fastDoc
	var s stdDoc
	ef, es := json.Unmarshal([]byte(doc), &f), json.Unmarshal([]byte(doc), &s)
	if (ef == nil) != (es == nil) {
		t.Fatalf("%s\nfast error %v, encoding/json error %v", doc, ef, es)
	}
	if ef != nil {
		var tf, ts *json.UnmarshalTypeError
		if errors.As(ef, &tf) != errors.As(es, &ts) || tf != nil && (tf.Field != ts.Field || tf.Value != ts.Value) {
			t.Fatalf("%s\nfast error %#v, encoding/json error %#v", doc, ef, es)
		}
		return
	}
	if !reflect.DeepEqual([]Claim(f.Claims), s.Claims) || !reflect.DeepEqual([]AllowedOperation(f.Allowed), s.Allowed) ||
		!reflect.DeepEqual([]Header(f.Headers), s.Headers) {
		t.Fatalf("%s\nfast     %#v\nencoding/json %#v", doc, f, s)
	}
}

func TestListsDecodeAsEncodingJSON(t *testing.T) {
	for _, doc := range []string{
		`{}`,
		`{"claims":null,"allowedOperations":null,"additionalHeaders":null}`,
		`{"claims":[],"allowedOperations":[],"additionalHeaders":[]}`,
		`{"claims":[{"name":"aud","value":["a","b"]},{"name":"exp","value":3600},{"name":"x","value":{"a":[1,{"b":"}]"}]}}]}`,
		`{"claims":[ { "value" : "v\"]}" , "name" : "n" } , {"name":"t","value":true}, {"name":"f","value":false}, {"name":"z","value":null} ]}`,
		`{"claims":[{"name":"a","value":1,"name":"b","value":2}]}`,                             // last wins
		`{"claims":[{"name":null,"value":1},{"other":{"x":[1,2]},"name":"o","value":-1.5e3}]}`, // null name, unknown key
		`{"claims":[{"Name":"a","value":1}]}`,                                                  // case folding
		`{"claims":[{"NAME":"a","VALUE":1}]}`,
		`{"claims":[{"na\u006de":"a","value":1}]}`, // escaped key
		`{"claims":[{"name":"caf\u00e9","value":"\u2028"}]}`,
		`{"claims":[{"name":"café ✓","value":"ok"}]}`,
		"{\"claims\":[{\"name\":\"bad\xffutf8\",\"value\":1}]}",
		`{"claims":[null]}`,
		`{"claims":[{"name":5,"value":1}]}`,
		`{"claims":{"name":"a"}}`,
		`{"claims":"x"}`,
		`{"claims":[[]]}`,
		`{"allowedOperations":[{"op":"add","paths":["/accessToken/claims/","/accessToken/scopes/"]},{"op":"remove","paths":[]},{"op":"replace","paths":null}]}`,
		`{"allowedOperations":[{"op":"add","paths":["a"],"paths":["b","c"]}]}`,
		`{"allowedOperations":[{"op":"add","pathſ":["a"]}]}`, // U+017F folds to s
		`{"allowedOperations":[{"op":"add","paths":["a",1]}]}`,
		`{"allowedOperations":[{"op":"add","paths":"a"}]}`,
		`{"allowedOperations":[{"op":null,"paths":[null]}]}`,
		`{"allowedOperations":[{"op":"add","paths":["a\/b"]}]}`,
		`{"additionalHeaders":[{"name":"x-client-source-ip","value":["203.0.113.9"]},{"name":"host","value":["a","b"]}]}`,
		`{"additionalHeaders":[{"name":"x","value":"not an array"}]}`,
		`{"additionalHeaders":[{"name":"x","value":null},{"value":["v"]}]}`,
		"{\"claims\" : [\n\t{\"name\":\"a\",\r\n\"value\":\n[ 1 , 2 ]\n}\n]\n}",
	} {
		sameAsEncodingJSON(t, doc)
	}
}

// A thousand random documents built from the pieces that matter: key
// order and case, repeated and unknown keys, nulls, escapes, white space,
// nested values and wrong types.
func TestListsDecodeRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pick := func(vs ...string) string { return vs[r.IntN(len(vs))] }
	ws := func() string { return pick("", "", " ", "\n  ", "\t") }
	str := func() string {
		return pick(`"a"`, `"x-client-source-ip"`, `""`, `"\u0041"`, `"é"`, `"a\"b"`, `"/accessToken/claims/"`, `null`, `1`, `["a"]`)
	}
	value := func() string {
		return pick(`1`, `-2.5e3`, `"v"`, `true`, `null`, `[]`, `["a","b"]`, `{"a":{"b":[1,"]"]}}`, `"\\"`, `[1,[2,[3]]]`)
	}
	obj := func(keys map[string]func() string) string {
		var parts []string
		for k, v := range keys {
			if r.IntN(4) > 0 {
				parts = append(parts, ws()+`"`+k+`"`+ws()+":"+ws()+v()+ws())
			}
		}
		if r.IntN(5) == 0 {
			parts = append(parts, `"extra":`+value())
		}
		if r.IntN(5) == 0 && len(parts) > 0 {
			parts = append(parts, parts[0])
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	arr := func(elem func() string) string {
		switch r.IntN(10) {
		case 0:
			return "null"
		case 1:
			return `{"a":1}`
		}
		var parts []string
		for range r.IntN(5) {
			if r.IntN(20) == 0 {
				parts = append(parts, "null")
				continue
			}
			parts = append(parts, ws()+elem()+ws())
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	strs := func() string {
		if r.IntN(8) == 0 {
			return str()
		}
		return arr(str)
	}
	nameKey := func() string { return pick("name", "name", "name", "Name") }
	for range 1000 {
		claims := arr(func() string { return obj(map[string]func() string{nameKey(): str, pick("value", "Value"): value}) })
		allowed := arr(func() string { return obj(map[string]func() string{pick("op", "OP"): str, "paths": strs}) })
		headers := "{"
		for strings.HasPrefix(headers, "{") { // the map form has no fast path
			headers = arr(func() string { return obj(map[string]func() string{nameKey(): str, "value": strs}) })
		}
		sameAsEncodingJSON(t, `{"claims":`+claims+`,"allowedOperations":`+allowed+`,"additionalHeaders":`+headers+`}`)
	}
}

func FuzzListsDecode(f *testing.F) {
	f.Add(`{"claims":[{"name":"aud","value":["a"]}],"allowedOperations":[{"op":"add","paths":["/a/"]}],"additionalHeaders":[{"name":"x","value":["1"]}]}`)
	f.Add(`{"claims":[{"name":"a\"","value":{"x":"]"}}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		if !json.Valid([]byte(doc)) {
			return
		}
		var m map[string]any
		if json.Unmarshal([]byte(doc), &m) != nil {
			return
		}
		if h, ok := m["additionalHeaders"]; ok {
			if _, isMap := h.(map[string]any); isMap {
				return // the map form has no fast path
			}
		}
		sameAsEncodingJSON(t, doc)
	})
}

// Values point into one copy of the list: appending to one must not
// overwrite the next.
func TestClaimValuesDoNotShareCapacity(t *testing.T) {
	var cs Claims
	if err := json.Unmarshal([]byte(`[{"name":"a","value":1},{"name":"b","value":2}]`), &cs); err != nil {
		t.Fatal(err)
	}
	_ = append(cs[0].Value, '9', '9', '9')
	if string(cs[1].Value) != "2" {
		t.Fatalf("second value is %s after appending to the first", cs[1].Value)
	}
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package action

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The three lists that make up most of a call, the access token's claims,
// the forwarded headers and allowedOperations, are decoded here rather than
// by encoding/json's reflection, which spends an allocation and a reflective
// store on every name, value and path (about 60 of a call's allocations).
//
// encoding/json calls UnmarshalJSON only after it has checked that the whole
// document is valid JSON, so these decoders read valid input: each list is
// copied once (one string for names, paths and values, one byte slice for
// raw claim values) and its elements point into the copy. Anything outside
// the plain shapes the platform sends (a name that needs unescaping or is
// not valid UTF-8, a key that differs from a field's name only by case, a
// value of an unexpected type, an element that is not an object) makes the
// decoder give up and decode the list with encoding/json instead, so the
// result, and the error, are always exactly encoding/json's. The tests
// compare both on every shape they can think of (decode_test.go).

// The keys of claims and headers.
const (
	keyName  = "name"
	keyValue = "value"
)

// Claims are token claims (event.accessToken.claims,
// event.refreshToken.claims): names and values as sent, values raw.
type Claims []Claim

// UnmarshalJSON decodes the claims; see the note at the top of decode.go.
func (cs *Claims) UnmarshalJSON(b []byte) error {
	if out, ok := fastClaims(b); ok {
		*cs = out
		return nil
	}
	return json.Unmarshal(b, (*[]Claim)(cs))
}

// AllowedOperations are the call's allowedOperations.
type AllowedOperations []AllowedOperation

// UnmarshalJSON decodes the operations; see the note at the top of decode.go.
func (as *AllowedOperations) UnmarshalJSON(b []byte) error {
	if out, ok := fastAllowed(b); ok {
		*as = out
		return nil
	}
	return json.Unmarshal(b, (*[]AllowedOperation)(as))
}

// lexer reads valid JSON. s is the input as a string (names, paths and
// header values are substrings of it, without copies).
type lexer struct {
	s    string
	i    int
	slab []string
}

func (l *lexer) ws() {
	for l.i < len(l.s) {
		switch l.s[l.i] {
		case ' ', '\t', '\n', '\r':
			l.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end.
func (l *lexer) peek() byte {
	l.ws()
	if l.i < len(l.s) {
		return l.s[l.i]
	}
	return 0
}

// eat consumes c if it is the next byte after white space.
func (l *lexer) eat(c byte) bool {
	if l.peek() == c {
		l.i++
		return true
	}
	return false
}

// str reads a string and returns its value; ok is false when the next value
// is not a string, or is one whose value is not its text (escapes, invalid
// UTF-8, which encoding/json replaces).
func (l *lexer) str() (string, bool) {
	if !l.eat('"') {
		return "", false
	}
	start := l.i
	for l.i < len(l.s) {
		switch c := l.s[l.i]; {
		case c == '"':
			v := l.s[start:l.i]
			l.i++
			return v, true
		case c == '\\':
			return "", false
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(l.s[l.i:])
			if r == utf8.RuneError && n == 1 {
				return "", false
			}
			l.i += n
		default:
			l.i++
		}
	}
	return "", false
}

// skip passes over any value and returns where it starts and ends.
func (l *lexer) skip() (int, int) {
	l.ws()
	start, depth := l.i, 0
	for l.i < len(l.s) {
		c := l.s[l.i]
		switch c {
		case '"':
			l.i++
			for l.i < len(l.s) && l.s[l.i] != '"' {
				if l.s[l.i] == '\\' {
					l.i++
				}
				l.i++
			}
			l.i++
		case '{', '[':
			depth++
			l.i++
		case '}', ']':
			if depth == 0 {
				return start, l.i // the end of the enclosing value
			}
			depth--
			l.i++
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return start, l.i
			}
			l.i++
		default:
			l.i++
		}
		if depth == 0 && (c == '"' || c == '}' || c == ']') {
			return start, min(l.i, len(l.s))
		}
	}
	return start, l.i
}

// key reads an object key and its colon. ok is false for a key that needs
// unescaping or that encoding/json could take for one of fields by case
// folding without being equal to it.
func (l *lexer) key(fields ...string) (string, bool) {
	k, ok := l.str()
	if !ok || !l.eat(':') {
		return "", false
	}
	for _, f := range fields {
		if k != f && strings.EqualFold(k, f) {
			return "", false
		}
	}
	return k, true
}

// strings reads an array of strings, or null (nil). The slices of one
// lexer share a backing array, each capped at its length.
func (l *lexer) strings() ([]string, bool) {
	if l.peek() == 'n' {
		return nil, l.null()
	}
	if !l.eat('[') {
		return nil, false
	}
	if l.slab == nil {
		l.slab = make([]string, 0, 32)
	}
	start := len(l.slab)
	for !l.eat(']') {
		v, ok := l.str()
		if !ok {
			return nil, false
		}
		l.slab = append(l.slab, v)
		l.eat(',')
	}
	if start == len(l.slab) {
		return []string{}, true
	}
	return l.slab[start:len(l.slab):len(l.slab)], true
}

func (l *lexer) null() bool {
	if strings.HasPrefix(l.s[l.i:], "null") {
		l.i += 4
		return true
	}
	return false
}

// object walks a JSON object, calling field with each key; field must read
// the value. It reports false where the fast path does not apply.
func (l *lexer) object(field func(k string) bool, fields ...string) bool {
	if !l.eat('{') {
		return false
	}
	for !l.eat('}') {
		k, ok := l.key(fields...)
		if !ok || !field(k) {
			return false
		}
		l.eat(',')
	}
	return true
}

// string reads a string into *dst; null leaves it as it is, as
// encoding/json does.
func (l *lexer) string(dst *string) bool {
	if l.peek() == 'n' {
		return l.null()
	}
	v, ok := l.str()
	*dst = v
	return ok
}

// list walks a JSON array of objects, calling elem before each element and
// field for each key of it. It reports whether the array was null, and
// false in ok where the fast path does not apply.
func (l *lexer) list(elem func(), field func(k string) bool, fields ...string) (null, ok bool) {
	if l.peek() == 'n' {
		return true, l.null()
	}
	if !l.eat('[') {
		return false, false
	}
	for !l.eat(']') {
		elem()
		if !l.object(field, fields...) {
			return false, false
		}
		l.eat(',')
	}
	return false, true
}

// claimList reads claims; raw is the same text as l.s, as bytes, for the
// values.
func claimList(l *lexer, raw []byte) (Claims, bool) {
	out := make(Claims, 0, 12)
	null, ok := l.list(func() { out = append(out, Claim{}) }, func(k string) bool {
		c := &out[len(out)-1]
		switch k {
		case keyName:
			return l.string(&c.Name)
		case keyValue:
			s, e := l.skip()
			c.Value = raw[s:e:e]
		default:
			l.skip()
		}
		return true
	}, keyName, keyValue)
	if null {
		out = nil
	}
	return out, ok
}

func allowedList(l *lexer) (AllowedOperations, bool) {
	out := make(AllowedOperations, 0, 4)
	null, ok := l.list(func() { out = append(out, AllowedOperation{}) }, func(k string) bool {
		a := &out[len(out)-1]
		switch k {
		case "op":
			return l.string(&a.Op)
		case "paths":
			v, ok := l.strings()
			a.Paths = v
			return ok
		default:
			l.skip()
		}
		return true
	}, "op", "paths")
	if null {
		out = nil
	}
	return out, ok
}

// headerList reads the array form of additionalHeaders.
func headerList(l *lexer) (Headers, bool) {
	out := make(Headers, 0, 4)
	null, ok := l.list(func() { out = append(out, Header{}) }, func(k string) bool {
		h := &out[len(out)-1]
		switch k {
		case keyName:
			return l.string(&h.Name)
		case keyValue:
			v, ok := l.strings()
			h.Value = v
			return ok
		default:
			l.skip()
		}
		return true
	}, keyName, keyValue)
	if null {
		out = nil
	}
	return out, ok
}

func fastClaims(b []byte) (Claims, bool) {
	l := lexer{s: string(b)}
	out, ok := claimList(&l, []byte(l.s))
	return out, ok && l.peek() == 0
}

func fastAllowed(b []byte) (AllowedOperations, bool) {
	l := lexer{s: string(b)}
	out, ok := allowedList(&l)
	return out, ok && l.peek() == 0
}

func fastHeaders(b []byte) (Headers, bool) {
	l := lexer{s: string(b)}
	out, ok := headerList(&l)
	return out, ok && l.peek() == 0
}

// DecodeRequest decodes a call into req, which must be zero, exactly as
// json.Unmarshal(b, req) does (same values, same errors), but reads the
// plain shapes the platform sends in one pass over one copy of b, after
// json.Valid has checked it: no reflection, a few allocations in all. On
// anything else it is json.Unmarshal.
func DecodeRequest(b []byte, req *Request) error {
	if json.Valid(b) {
		d := requestDecoder{lexer: lexer{s: string(b)}}
		d.raw = []byte(d.s)
		var fast Request
		if d.request(&fast) && d.peek() == 0 {
			*req = fast
			return nil
		}
	}
	return json.Unmarshal(b, req)
}

type requestDecoder struct {
	lexer
	raw []byte // the same copy as s, for raw claim values
}

func (d *requestDecoder) request(r *Request) bool {
	return d.object(func(k string) bool {
		switch k {
		case "requestId":
			return d.string(&r.RequestID)
		case "actionType":
			return d.string(&r.ActionType)
		case "event":
			return ptr(d, &r.Event, d.event)
		case "allowedOperations":
			return d.allowed(&r.AllowedOperations)
		}
		d.skip()
		return true
	}, "requestId", "actionType", "event", "allowedOperations")
}

// ptr decodes an object into *p, allocating it first; null sets it to nil.
// A repeated key decodes into the same value, as encoding/json does.
func ptr[T any](d *requestDecoder, p **T, decode func(*T) bool) bool {
	if d.peek() == 'n' {
		*p = nil
		return d.null()
	}
	if *p == nil {
		*p = new(T)
	}
	return decode(*p)
}

// inline decodes an object into a struct field; null leaves it as it is.
func inline[T any](d *requestDecoder, v *T, decode func(*T) bool) bool {
	if d.peek() == 'n' {
		return d.null()
	}
	return decode(v)
}

func (d *requestDecoder) event(e *Event) bool {
	return d.object(func(k string) bool {
		switch k {
		case "request":
			return inline(d, &e.Request, d.tokenRequest)
		case "tenant":
			return inline(d, &e.Tenant, d.tenant)
		case "organization":
			return ptr(d, &e.Organization, d.organization)
		case "user":
			return ptr(d, &e.User, d.user)
		case "userStore":
			return ptr(d, &e.UserStore, d.userStore)
		case "accessToken":
			return inline(d, &e.AccessToken, d.accessToken)
		case "refreshToken":
			return ptr(d, &e.RefreshToken, func(t *RefreshToken) bool {
				return d.object(func(k string) bool {
					if k == "claims" {
						return d.claims(&t.Claims)
					}
					d.skip()
					return true
				}, "claims")
			})
		case "response":
			return ptr(d, &e.Response, func(t *TokenResponse) bool {
				return d.object(func(k string) bool {
					if k == "parameters" {
						return d.strs(&t.Parameters)
					}
					d.skip()
					return true
				}, "parameters")
			})
		}
		d.skip()
		return true
	}, "request", "tenant", "organization", "user", "userStore", "accessToken", "refreshToken", "response")
}

func (d *requestDecoder) tokenRequest(t *TokenRequest) bool {
	return d.object(func(k string) bool {
		switch k {
		case "clientId":
			return d.string(&t.ClientID)
		case "grantType":
			return d.string(&t.GrantType)
		case "scopes":
			return d.strs(&t.Scopes)
		case "additionalHeaders":
			return d.headers(&t.AdditionalHeaders)
		}
		d.skip()
		return true
	}, "clientId", "grantType", "scopes", "additionalHeaders")
}

func (d *requestDecoder) tenant(t *Tenant) bool { return d.idAndName(&t.ID, &t.Name) }

func (d *requestDecoder) userStore(u *UserStore) bool { return d.idAndName(&u.ID, &u.Name) }

// idAndName reads an object of an id and a name (event.tenant,
// event.userStore).
func (d *requestDecoder) idAndName(id, name *string) bool {
	return d.object(func(k string) bool {
		switch k {
		case "id":
			return d.string(id)
		case keyName:
			return d.string(name)
		}
		d.skip()
		return true
	}, "id", "name")
}

func (d *requestDecoder) organization(o *Organization) bool {
	return d.object(func(k string) bool {
		switch k {
		case "id":
			return d.string(&o.ID)
		case keyName:
			return d.string(&o.Name)
		case "orgHandle":
			return d.string(&o.Handle)
		case "depth":
			if d.peek() == 'n' {
				return d.null()
			}
			s, e := d.skip()
			n, err := strconv.ParseInt(d.s[s:e], 10, 0)
			o.Depth = int(n)
			return err == nil
		}
		d.skip()
		return true
	}, "id", "name", "orgHandle", "depth")
}

func (d *requestDecoder) user(u *User) bool {
	return d.object(func(k string) bool {
		switch k {
		case "id":
			return d.string(&u.ID)
		case "organization":
			return ptr(d, &u.Organization, d.organization)
		}
		d.skip()
		return true
	}, "id", "organization")
}

func (d *requestDecoder) accessToken(t *AccessToken) bool {
	return d.object(func(k string) bool {
		switch k {
		case "tokenType":
			return d.string(&t.TokenType)
		case "scopes":
			return d.strs(&t.Scopes)
		case "claims":
			return d.claims(&t.Claims)
		}
		d.skip()
		return true
	}, "tokenType", "scopes", "claims")
}

func (d *requestDecoder) strs(dst *[]string) bool {
	v, ok := d.strings()
	*dst = v
	return ok
}

func (d *requestDecoder) claims(dst *Claims) bool {
	v, ok := claimList(&d.lexer, d.raw)
	*dst = v
	return ok
}

func (d *requestDecoder) allowed(dst *AllowedOperations) bool {
	v, ok := allowedList(&d.lexer)
	*dst = v
	return ok
}

func (d *requestDecoder) headers(dst *Headers) bool {
	if d.peek() == '{' {
		return false // the map form: encoding/json and Headers.UnmarshalJSON
	}
	v, ok := headerList(&d.lexer)
	*dst = v
	return ok
}

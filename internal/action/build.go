// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package action

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/platform"
	"github.com/tokenguard/tokenguard/internal/policy"
)

// Paths the platform lets the action change (contract 2.2).
const (
	pathClaims    = "/accessToken/claims/"
	pathScopes    = "/accessToken/scopes/"
	pathAudiences = "/accessToken/claims/aud/"
	pathExpiresIn = "/accessToken/claims/expires_in"
	pathRefreshIn = "/refreshToken/claims/expires_in"
	pathParams    = "/response/parameters/"
	appendIndex   = "-"
)

// Skipped is a change the decision asked for that the platform would not
// apply to this call, so no operation was sent for it.
type Skipped struct {
	// Kind is one of the Change* constants; Subject the scope, audience or claim.
	Kind    string
	Subject string
	Reason  string
}

// Kinds of change.
const (
	ChangeExpiry         = "expires_in"
	ChangeRemoveScope    = "remove scope"
	ChangeAddScope       = "add scope"
	ChangeRemoveAudience = "remove audience"
	ChangeAddAudience    = "add audience"
	ChangeClaim          = "claim"
	ChangeRemoveClaim    = "remove claim"
	ChangeRemoveElement  = "remove element"
	ChangeReplaceElement = "replace element"
	ChangeRefreshExpiry  = "refresh expires_in"
	ChangeWithhold       = "withhold"
)

// Change describes the change, such as "add scope read".
func (s Skipped) Change() string {
	if s.Subject == "" {
		return s.Kind
	}
	return s.Kind + " " + s.Subject
}

// Allowed reports whether the platform keeps an operation, by its filter
// (contract 4.3): same op, and the path equal to an allowed path or its
// prefix up to the last slash equal to one.
func Allowed(allowed []AllowedOperation, op, path string) bool {
	base := path[:strings.LastIndexByte(path, '/')+1]
	for i := range allowed {
		if allowed[i].Op != op {
			continue
		}
		for _, p := range allowed[i].Paths {
			if p == path || p == base {
				return true
			}
		}
	}
	return false
}

// Operations turns an allowing decision into the operations for this call.
// Every operation it returns passes the platform's filter and semantic rules
// for this request; a change that would not is reported as skipped instead
// of being sent and silently dropped.
func Operations(req *Request, d *engine.Decision) ([]Operation, []Skipped) {
	b := builder{req: req, tok: &req.Event.AccessToken, ops: make([]Operation, 0, 4)}
	b.expiry(d.ExpiresIn)
	b.scopes(d.RemoveScopes, d.AddScopes)
	b.audiences(d.RemoveAudiences, d.AddAudiences)
	for _, c := range d.Claims {
		b.claim(c)
	}
	for _, n := range d.RemoveClaims {
		b.removeClaim(n)
	}
	for i := range d.ArrayClaims {
		b.arrayClaim(&d.ArrayClaims[i], d.RemoveClaims)
	}
	b.refreshExpiry(d.RefreshExpiresIn)
	if d.WithholdRefreshToken {
		b.withhold("refresh_token")
	}
	if d.WithholdIDToken {
		b.withhold("id_token")
	}
	return b.ops, b.skipped
}

type builder struct {
	req     *Request
	tok     *AccessToken
	ops     []Operation
	skipped []Skipped
}

// emit adds an operation, or records the change as skipped when the call's
// allowedOperations would make the platform drop it.
func (b *builder) emit(op, path string, value json.RawMessage, kind, subject string) {
	if !Allowed(b.req.AllowedOperations, op, path) {
		b.skip(kind, subject, "the call does not allow "+op+" on "+path)
		return
	}
	b.ops = append(b.ops, Operation{Op: op, Path: path, Value: value})
}

func (b *builder) skip(kind, subject, reason string) {
	b.skipped = append(b.skipped, Skipped{Kind: kind, Subject: subject, Reason: reason})
}

func (b *builder) claim0(name string) (json.RawMessage, bool) {
	for i := range b.tok.Claims {
		if b.tok.Claims[i].Name == name {
			return b.tok.Claims[i].Value, true
		}
	}
	return nil, false
}

// expiry caps the token lifetime; it never lengthens a token.
func (b *builder) expiry(to int64) {
	if to <= 0 {
		return
	}
	if raw, ok := b.claim0("expires_in"); ok {
		if cur, ok := parseInt(raw); ok && cur > 0 && cur <= to {
			return
		}
	}
	b.emit(OpReplace, pathExpiresIn, strconv.AppendInt(nil, to, 10), ChangeExpiry, "")
}

func parseInt(raw json.RawMessage) (int64, bool) {
	s := strings.Trim(string(bytes.TrimSpace(raw)), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// scopes removes by the index in the request's list (indexes are not shifted
// by earlier removals, contract O6) and appends additions the token lacks.
func (b *builder) scopes(remove, add []string) {
	for i, s := range b.tok.Scopes {
		if slices.Contains(remove, s) {
			b.emit(OpRemove, pathScopes+strconv.Itoa(i), nil, ChangeRemoveScope, s)
		}
	}
	for _, s := range add {
		switch {
		case slices.Contains(b.tok.Scopes, s):
		case !platform.ValidScope(s):
			b.skip(ChangeAddScope, s, "not a valid scope token")
		default:
			b.emit(OpAdd, pathScopes+appendIndex, quote(s), ChangeAddScope, s)
		}
	}
}

func (b *builder) audiences(remove, add []string) {
	if len(remove) == 0 && len(add) == 0 {
		return
	}
	raw, _ := b.claim0("aud")
	var aud []string
	if err := json.Unmarshal(raw, &aud); err != nil {
		for _, a := range remove {
			b.skip(ChangeRemoveAudience, a, "the token's aud claim is not an array")
		}
		for _, a := range add {
			b.skip(ChangeAddAudience, a, "the token's aud claim is not an array")
		}
		return
	}
	for i, a := range aud {
		if slices.Contains(remove, a) {
			b.emit(OpRemove, pathAudiences+strconv.Itoa(i), nil, ChangeRemoveAudience, a)
		}
	}
	for _, a := range add {
		switch {
		case slices.Contains(aud, a):
		case !platform.ValidAudience(a):
			b.skip(ChangeAddAudience, a, "the platform accepts only URIs or names of letters, digits, dots and hyphens")
		default:
			b.emit(OpAdd, pathAudiences+appendIndex, quote(a), ChangeAddAudience, a)
		}
	}
}

// claim adds a claim the token lacks, replaces one it has with another value,
// and leaves one with the same value alone (the refresh flow re-sends claims
// an earlier call added, contract O16).
func (b *builder) claim(c policy.Claim) {
	cur, ok := b.claim0(c.Name)
	if !ok {
		v := make([]byte, 0, len(c.Name)+len(c.Value)+22)
		v = append(v, `{"name":`...)
		v = append(v, quote(c.Name)...)
		v = append(v, `,"value":`...)
		v = append(v, c.Value...)
		v = append(v, '}')
		b.emit(OpAdd, pathClaims+appendIndex, v, ChangeClaim, c.Name)
		return
	}
	if jsonEqual(cur, c.Value) {
		return
	}
	if engine.IsArray(cur) {
		b.skip(ChangeClaim, c.Name, "the platform cannot replace a whole array claim")
		return
	}
	b.emit(OpReplace, pathClaims+c.Name, c.Value, ChangeClaim, c.Name)
}

// removeClaim removes a claim the token has. The platform removes an array
// claim only element by element, by the index in the token as sent (O12).
func (b *builder) removeClaim(name string) {
	cur, ok := b.claim0(name)
	if !ok {
		return
	}
	if !engine.IsArray(cur) {
		b.emit(OpRemove, pathClaims+name, nil, ChangeRemoveClaim, name)
		return
	}
	for i := range engine.ClaimElements(cur) {
		b.emit(OpRemove, pathClaims+name+"/"+strconv.Itoa(i), nil, ChangeRemoveClaim, name)
	}
}

// arrayClaim removes and replaces elements of an array claim by value,
// translated to the indexes of the token as sent (O12). A replacement whose
// new value the claim already has would be skipped by the platform as a
// duplicate: the old element is removed instead, which leaves the same set.
// A claim that is removed as a whole needs no element changes.
func (b *builder) arrayClaim(a *policy.ArrayClaimChange, removed []string) {
	if slices.Contains(removed, a.Name) {
		return
	}
	cur, ok := b.claim0(a.Name)
	if !ok {
		return
	}
	if !engine.IsArray(cur) {
		b.skip(ChangeRemoveElement, a.Name, "the token's "+a.Name+" claim is not an array")
		return
	}
	elems := engine.ClaimElements(cur)
	path := pathClaims + a.Name + "/"
	for i, v := range elems {
		subject := a.Name + " " + v
		if slices.Contains(a.Remove, v) {
			b.emit(OpRemove, path+strconv.Itoa(i), nil, ChangeRemoveElement, subject)
			continue
		}
		j := slices.IndexFunc(a.Replace, func(r policy.Replacement) bool { return r.From == v })
		if j < 0 {
			continue
		}
		to := a.Replace[j].To
		if slices.Contains(elems, to) || slices.Index(elems, v) != i {
			// The new value is there already, or this is a second copy of
			// the old one: removing it leaves what the replacement means.
			b.emit(OpRemove, path+strconv.Itoa(i), nil, ChangeReplaceElement, subject)
			continue
		}
		b.emit(OpReplace, path+strconv.Itoa(i), quote(to), ChangeReplaceElement, subject)
	}
}

// refreshExpiry caps the refresh token's lifetime; it never lengthens one.
// A call without a refresh token has nothing to change.
func (b *builder) refreshExpiry(to int64) {
	rt := b.req.Event.RefreshToken
	if to <= 0 || rt == nil {
		return
	}
	for i := range rt.Claims {
		if rt.Claims[i].Name != "expires_in" {
			continue
		}
		if cur, ok := parseInt(rt.Claims[i].Value); ok && cur > 0 && cur <= to {
			return
		}
		b.emit(OpReplace, pathRefreshIn, strconv.AppendInt(nil, to, 10), ChangeRefreshExpiry, "")
		return
	}
}

// withhold removes a parameter (refresh_token, id_token) from the token
// response. Only contract v1.3 calls list the parameters (event.response);
// with an older version the platform cannot withhold, which is reported.
func (b *builder) withhold(param string) {
	resp := b.req.Event.Response
	if resp == nil {
		b.skip(ChangeWithhold, param, "the call has no response parameters: withholding needs action version v1.3")
		return
	}
	if slices.Contains(resp.Parameters, param) {
		b.emit(OpRemove, pathParams+param, nil, ChangeWithhold, param)
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return false
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

func quote(s string) json.RawMessage {
	v, _ := json.Marshal(s)
	return v
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package actiontest is a test model of the identity platform's side of the
// Pre-Issue Access Token action: it checks an answer the way the platform
// does (HTTP status, content type, body model, text rules, sections 4.1 and
// 4.2 of docs/action-contract.md), filters operations by the call's
// allowedOperations (4.3) and applies them by the platform's rules O1 to O16
// (4.4). Where the platform would drop or skip an operation, the model
// fails instead, so a test learns of every change that would silently not
// happen.
package actiontest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tokenguard/tokenguard/internal/action"
)

// Token is the access token after the platform applied an answer.
type Token struct {
	ExpiresIn int64
	Scopes    []string
	Audiences []string
	// Claims are every claim: the request's, changed, plus those added.
	Claims []action.Claim
	// RefreshExpiresIn is the refresh token's lifetime (0 without one).
	RefreshExpiresIn int64
	// ResponseParameters are the token response's parameters (v1.3).
	ResponseParameters []string
}

// Claim returns a claim's raw value.
func (t *Token) Claim(name string) (json.RawMessage, bool) {
	for _, c := range t.Claims {
		if c.Name == name {
			return c.Value, true
		}
	}
	return nil, false
}

// Outcome is what the platform makes of an answer.
type Outcome struct {
	Status             string
	FailureReason      string
	FailureDescription string
	Token              Token
}

var (
	textRE     = regexp.MustCompile(`^[a-zA-Z0-9\s\-_.!?;:'()\[\]]+$`)
	nqchar     = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)
	audienceRE = regexp.MustCompile(`^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/$.?#].\S*|[a-zA-Z0-9.-]+)$`)
)

// Model bodies with exactly the documented fields: the platform's Jackson
// models fail on anything else (B9).
type modelResponse struct {
	ActionStatus       string            `json:"actionStatus"`
	Operations         *[]modelOperation `json:"operations"`
	FailureReason      *string           `json:"failureReason"`
	FailureDescription *string           `json:"failureDescription"`
	ErrorMessage       *string           `json:"errorMessage"`
	ErrorDescription   *string           `json:"errorDescription"`
}

type modelOperation struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

// Apply runs the platform's handling of an HTTP answer to req.
func Apply(req *action.Request, status int, contentType string, body []byte) (*Outcome, error) {
	if !strings.Contains(contentType, "application/json") {
		return nil, fmt.Errorf("H6: content type %q does not contain application/json", contentType)
	}
	var r modelResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("B9: body does not fit the platform's model: %w", err)
	}
	if r.ActionStatus == "" {
		return nil, fmt.Errorf("H7: no actionStatus")
	}
	switch status {
	case 200:
		switch r.ActionStatus {
		case action.StatusSuccess:
			if r.FailureReason != nil || r.FailureDescription != nil || r.ErrorMessage != nil || r.ErrorDescription != nil {
				return nil, fmt.Errorf("B9: SUCCESS with failure or error fields")
			}
			if r.Operations != nil && *r.Operations == nil {
				return nil, fmt.Errorf("B8: operations is null")
			}
			var ops []modelOperation
			if r.Operations != nil {
				ops = *r.Operations
			}
			tok, err := applyOps(req, ops)
			if err != nil {
				return nil, err
			}
			return &Outcome{Status: action.StatusSuccess, Token: *tok}, nil
		default:
			// H1: anything else at 200 is read as FAILED.
			if r.ActionStatus != action.StatusFailed {
				return nil, fmt.Errorf("H1: actionStatus %q at 200 does not parse as FAILED", r.ActionStatus)
			}
			if r.Operations != nil || r.ErrorMessage != nil || r.ErrorDescription != nil {
				return nil, fmt.Errorf("B9: FAILED with operations or error fields")
			}
			if r.FailureReason == nil || !textRE.MatchString(*r.FailureReason) || len(*r.FailureReason) > 100 {
				return nil, fmt.Errorf("B2: failureReason %v is refused", r.FailureReason)
			}
			switch strings.ToLower(*r.FailureReason) {
			case "server_error", "internal_server_error", "500":
				return nil, fmt.Errorf("3.2: failureReason %q is refused", *r.FailureReason)
			}
			if r.FailureDescription == nil || !textRE.MatchString(*r.FailureDescription) || len(*r.FailureDescription) > 300 {
				return nil, fmt.Errorf("B3: failureDescription %v is refused", r.FailureDescription)
			}
			return &Outcome{Status: action.StatusFailed, FailureReason: *r.FailureReason, FailureDescription: *r.FailureDescription}, nil
		}
	case 400, 401, 500:
		if r.ActionStatus != action.StatusError {
			return nil, fmt.Errorf("H2/H3: HTTP %d with actionStatus %q, want ERROR", status, r.ActionStatus)
		}
		if r.Operations != nil || r.FailureReason != nil || r.FailureDescription != nil {
			return nil, fmt.Errorf("B9: ERROR with operations or failure fields")
		}
		if r.ErrorMessage == nil || !textRE.MatchString(*r.ErrorMessage) || len(*r.ErrorMessage) > 100 {
			return nil, fmt.Errorf("B4: errorMessage %v is refused", r.ErrorMessage)
		}
		if d := r.ErrorDescription; d != nil && *d != "" && (!textRE.MatchString(*d) || len(*d) > 300) {
			return nil, fmt.Errorf("B4: errorDescription %q is refused", *d)
		}
		return &Outcome{Status: action.StatusError}, nil
	default:
		return nil, fmt.Errorf("H5: HTTP %d is an unexpected response", status)
	}
}

// allowed is the platform's operation filter (4.3).
func allowed(req *action.Request, op, path string) bool {
	return action.Allowed(req.AllowedOperations, op, path)
}

type tokenState struct {
	origScopes  []string
	scopes      []string
	origAud     []string
	audIsArray  bool
	aud         []string
	origClaims  []action.Claim
	claims      []action.Claim
	removed     map[string]bool
	expiresIn   int64
	addedClaims int
	// Array claim elements removed and replaced, by claim and original index.
	elemRemoved  map[string]map[int]bool
	elemReplaced map[string]map[int]string
	refreshIn    int64
	params       []string
}

func applyOps(req *action.Request, ops []modelOperation) (*Token, error) {
	at := req.Event.AccessToken
	st := &tokenState{
		origScopes: at.Scopes, scopes: slices.Clone(at.Scopes),
		origClaims: at.Claims, claims: slices.Clone(at.Claims), removed: map[string]bool{},
		elemRemoved: map[string]map[int]bool{}, elemReplaced: map[string]map[int]string{},
	}
	if rt := req.Event.RefreshToken; rt != nil {
		for _, c := range rt.Claims {
			if c.Name == "expires_in" {
				st.refreshIn, _ = strconv.ParseInt(strings.Trim(string(c.Value), `"`), 10, 64)
			}
		}
	}
	if r := req.Event.Response; r != nil {
		st.params = slices.Clone(r.Parameters)
	}
	for _, c := range at.Claims {
		switch c.Name {
		case "aud":
			if json.Unmarshal(c.Value, &st.origAud) == nil {
				st.audIsArray = true
				st.aud = slices.Clone(st.origAud)
			}
		case "expires_in":
			st.expiresIn, _ = strconv.ParseInt(strings.Trim(string(c.Value), `"`), 10, 64)
		}
	}
	removedScopes := map[int]bool{}
	removedAud := map[int]bool{}
	for i, o := range ops {
		switch o.Op {
		case "add", "remove", "replace":
		default:
			return nil, fmt.Errorf("B5: operation %d has op %q", i, o.Op)
		}
		if !allowed(req, o.Op, o.Path) {
			return nil, fmt.Errorf("4.3: operation %d (%s %s) is not allowed by the call: the platform drops it", i, o.Op, o.Path)
		}
		if err := st.apply(o, removedScopes, removedAud); err != nil {
			return nil, fmt.Errorf("operation %d (%s %s) is skipped by the platform: %w", i, o.Op, o.Path, err)
		}
	}
	var scopes []string
	for i, s := range st.origScopes {
		if !removedScopes[i] {
			scopes = append(scopes, s)
		}
	}
	scopes = append(scopes, st.scopes[len(st.origScopes):]...)
	aud := st.aud
	if st.audIsArray {
		aud = nil
		for i, a := range st.origAud {
			if !removedAud[i] {
				aud = append(aud, a)
			}
		}
		aud = append(aud, st.aud[len(st.origAud):]...)
	}
	var claims []action.Claim
	for _, c := range st.claims {
		if st.removed[c.Name] {
			continue
		}
		if rm, rp := st.elemRemoved[c.Name], st.elemReplaced[c.Name]; rm != nil || rp != nil {
			var orig, out []string
			_ = json.Unmarshal(c.Value, &orig)
			out = []string{}
			for i, v := range orig {
				switch {
				case rm[i]:
				case rp[i] != "":
					out = append(out, rp[i])
				default:
					out = append(out, v)
				}
			}
			c.Value, _ = json.Marshal(out)
		}
		claims = append(claims, c)
	}
	return &Token{ExpiresIn: st.expiresIn, Scopes: scopes, Audiences: aud, Claims: claims,
		RefreshExpiresIn: st.refreshIn, ResponseParameters: st.params}, nil
}

func index(seg string, n int) (int, error) {
	if seg == "-" {
		return n - 1, nil
	}
	i, err := strconv.Atoi(seg)
	if err != nil || i < 0 || i >= n {
		return 0, fmt.Errorf("index %q out of range 0..%d", seg, n-1)
	}
	return i, nil
}

func stringValue(v json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

func validClaimValue(v json.RawMessage) bool {
	var x any
	if json.Unmarshal(v, &x) != nil {
		return false
	}
	switch t := x.(type) {
	case string, float64, bool:
		return true
	case []any:
		for _, e := range t {
			if _, ok := e.(string); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// element removes or replaces an element of an array claim by its index in
// the claim as sent (O12): "-" is not supported, a replacement must be a
// string, number or boolean and is stored as a string, a duplicate value is
// skipped.
func (st *tokenState) element(o modelOperation, seg string) error {
	name := strings.TrimPrefix(o.Path, "/accessToken/claims/")
	name = name[:strings.IndexByte(name, '/')]
	i := slices.IndexFunc(st.origClaims, func(c action.Claim) bool { return c.Name == name })
	if i < 0 {
		return fmt.Errorf("O12: claim %q not found", name)
	}
	var orig []string
	if json.Unmarshal(st.origClaims[i].Value, &orig) != nil {
		return fmt.Errorf("O12: claim %q is not an array of strings", name)
	}
	if seg == "-" {
		return fmt.Errorf("O12: index - is not supported on array claims")
	}
	n, err := index(seg, len(orig))
	if err != nil {
		return fmt.Errorf("O12: %w", err)
	}
	if st.elemRemoved[name] == nil {
		st.elemRemoved[name], st.elemReplaced[name] = map[int]bool{}, map[int]string{}
	}
	if o.Op == "remove" {
		st.elemRemoved[name][n] = true
		return nil
	}
	var x any
	if json.Unmarshal(o.Value, &x) != nil {
		return fmt.Errorf("O12: value %s is not JSON", o.Value)
	}
	var v string
	switch t := x.(type) {
	case string:
		v = t
	case float64, bool:
		v = strings.TrimSpace(string(o.Value))
	default:
		return fmt.Errorf("O12: value %s is not a string, number or boolean", o.Value)
	}
	if slices.Contains(orig, v) || slices.ContainsFunc(mapValues(st.elemReplaced[name]), func(s string) bool { return s == v }) {
		return fmt.Errorf("O12: value %q is a duplicate", v)
	}
	st.elemReplaced[name][n] = v
	return nil
}

func mapValues(m map[int]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func (st *tokenState) apply(o modelOperation, removedScopes, removedAud map[int]bool) error {
	last := o.Path[strings.LastIndexByte(o.Path, '/')+1:]
	switch {
	case (o.Path == "/accessToken/claims/expires_in" || o.Path == "/refreshToken/claims/expires_in") && o.Op == "replace":
		n, err := strconv.ParseInt(strings.Trim(string(o.Value), `"`), 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("O1: expires_in value %s is not a positive whole number", o.Value)
		}
		if strings.HasPrefix(o.Path, "/refreshToken/") {
			st.refreshIn = n
		} else {
			st.expiresIn = n
		}
		return nil
	case strings.HasPrefix(o.Path, "/response/parameters/"):
		if o.Op != "remove" || (last != "refresh_token" && last != "id_token") {
			return fmt.Errorf("O13/O14: %s on %s is not modelled", o.Op, o.Path)
		}
		i := slices.Index(st.params, last)
		if i < 0 {
			return fmt.Errorf("O14: the response has no %s", last)
		}
		st.params = slices.Delete(st.params, i, i+1)
		return nil
	case strings.HasPrefix(o.Path, "/accessToken/claims/") && o.Op != "add" &&
		!strings.HasPrefix(o.Path, "/accessToken/claims/aud/") && strings.Count(o.Path, "/") == 4:
		return st.element(o, last)
	case strings.HasPrefix(o.Path, "/accessToken/scopes/"):
		switch o.Op {
		case "add":
			if _, err := index(last, len(st.scopes)+1); err != nil && last != "-" {
				return fmt.Errorf("O5: %w", err)
			}
			s, ok := stringValue(o.Value)
			if !ok || !nqchar.MatchString(s) {
				return fmt.Errorf("O5: scope %s is not NQCHAR", o.Value)
			}
			if slices.Contains(st.scopes, s) {
				return fmt.Errorf("O5: scope %q is a duplicate", s)
			}
			st.scopes = append(st.scopes, s)
		case "remove":
			i, err := index(last, len(st.origScopes))
			if err != nil {
				return fmt.Errorf("O6: %w", err)
			}
			removedScopes[i] = true
		default:
			return fmt.Errorf("O7: replace on scopes is not modelled")
		}
		return nil
	case strings.HasPrefix(o.Path, "/accessToken/claims/aud/"):
		if !st.audIsArray {
			return fmt.Errorf("O8: aud is not an array")
		}
		switch o.Op {
		case "add":
			s, ok := stringValue(o.Value)
			if !ok || !audienceRE.MatchString(s) {
				return fmt.Errorf("O8: audience %s is refused", o.Value)
			}
			if slices.Contains(st.aud, s) {
				return fmt.Errorf("O8: audience %q is a duplicate", s)
			}
			st.aud = append(st.aud, s)
		case "remove":
			i, err := index(last, len(st.origAud))
			if err != nil {
				return fmt.Errorf("O10: %w", err)
			}
			removedAud[i] = true
		default:
			return fmt.Errorf("O9: replace on aud is not modelled")
		}
		return nil
	case strings.HasPrefix(o.Path, "/accessToken/claims/") && o.Op == "add":
		if _, err := index(last, len(st.origClaims)); err != nil && last != "-" {
			return fmt.Errorf("O2: %w", err)
		}
		var c action.Claim
		if json.Unmarshal(o.Value, &c) != nil || c.Name == "" {
			return fmt.Errorf("O2: value is not {name, value}")
		}
		if strings.EqualFold(c.Name, "scope") {
			return fmt.Errorf("O4: claim name scope is refused")
		}
		for _, oc := range st.origClaims {
			if oc.Name == c.Name {
				return fmt.Errorf("O4: claim %q is already in the token", c.Name)
			}
		}
		if !validClaimValue(c.Value) {
			return fmt.Errorf("O3: claim value %s is refused", c.Value)
		}
		st.claims = append(st.claims, c)
		st.addedClaims++
		return nil
	case strings.HasPrefix(o.Path, "/accessToken/claims/"):
		name := strings.TrimPrefix(o.Path, "/accessToken/claims/")
		i := slices.IndexFunc(st.origClaims, func(c action.Claim) bool { return c.Name == name })
		if i < 0 {
			return fmt.Errorf("O11: claim %q not found", name)
		}
		if o.Op == "remove" {
			st.removed[name] = true
			return nil
		}
		for j := range st.claims {
			if st.claims[j].Name == name {
				st.claims[j].Value = o.Value
			}
		}
		return nil
	}
	return fmt.Errorf("path not modelled")
}

// platformClaims are the standard claims the platform never offers to
// remove or replace as claims (contract 2.2); aud and expires_in have their
// own paths.
var platformClaims = []string{"iss", "client_id", "aut", "expires_in", "aud", "sub", "subject_type", "binding_ref", "binding_type"}

// AllowedOperations builds a call's allowedOperations the way the platform
// does (contract 2.2, getAllowedOperations): remove and replace paths for
// every other claim in the token (with a trailing slash for array claims),
// the refresh token's expires_in when the call has a refresh token, and the
// v1.3 response parameters when the call lists them.
func AllowedOperations(ev *action.Event) []action.AllowedOperation {
	add := []string{"/accessToken/claims/", "/accessToken/scopes/", "/accessToken/claims/aud/"}
	var claims []string
	for _, c := range ev.AccessToken.Claims {
		if slices.Contains(platformClaims, c.Name) {
			continue
		}
		p := "/accessToken/claims/" + c.Name
		if v := bytes.TrimSpace(c.Value); len(v) > 0 && v[0] == '[' {
			p += "/"
		}
		claims = append(claims, p)
	}
	remove := append(slices.Clone(claims), "/accessToken/scopes/", "/accessToken/claims/aud/")
	replace := append(slices.Clone(claims), "/accessToken/scopes/", "/accessToken/claims/aud/", "/accessToken/claims/expires_in")
	if ev.RefreshToken != nil {
		replace = append(replace, "/refreshToken/claims/expires_in")
	}
	if r := ev.Response; r != nil {
		add = append(add, "/response/parameters/")
		for _, p := range []string{"refresh_token", "id_token"} {
			if slices.Contains(r.Parameters, p) {
				remove = append(remove, "/response/parameters/"+p)
			}
		}
	}
	return []action.AllowedOperation{{Op: "add", Paths: add}, {Op: "remove", Paths: remove}, {Op: "replace", Paths: replace}}
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package actiontest is a test model of the identity platform's side of the
// Pre-Issue Access Token action: it checks an answer the way the platform
// does (HTTP status, content type, body model, text rules, sections 4.1 and
// 4.2 of docs/action-contract.md), filters operations by the call's
// allowedOperations (4.3) and applies them by the platform's rules O1 to O13
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
}

func applyOps(req *action.Request, ops []modelOperation) (*Token, error) {
	at := req.Event.AccessToken
	st := &tokenState{
		origScopes: at.Scopes, scopes: slices.Clone(at.Scopes),
		origClaims: at.Claims, claims: slices.Clone(at.Claims), removed: map[string]bool{},
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
		if !st.removed[c.Name] {
			claims = append(claims, c)
		}
	}
	return &Token{ExpiresIn: st.expiresIn, Scopes: scopes, Audiences: aud, Claims: claims}, nil
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

func (st *tokenState) apply(o modelOperation, removedScopes, removedAud map[int]bool) error {
	last := o.Path[strings.LastIndexByte(o.Path, '/')+1:]
	switch {
	case o.Path == "/accessToken/claims/expires_in" && o.Op == "replace":
		n, err := strconv.ParseInt(strings.Trim(string(o.Value), `"`), 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("O1: expires_in value %s is not a positive whole number", o.Value)
		}
		st.expiresIn = n
		return nil
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

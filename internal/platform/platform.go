// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package platform holds the identity platform's own text and value rules
// for the Pre-Issue Access Token action (docs/action-contract.md): what it
// accepts in a failure reason, a description, a scope, an added audience,
// and which claims it never lets the service change. It is a leaf: it
// imports only the standard library, so the answer builder, the compile
// step and the tools can all use this one copy. The test model
// (internal/action/actiontest) keeps an independent copy on purpose: it is
// the oracle these are checked against.
package platform

import (
	"regexp"
	"strings"
)

// Limits of the platform's text fields (contract B2 to B4).
const (
	MaxReasonLen      = 100
	MaxDescriptionLen = 300
)

// textChar reports whether the platform accepts c in a failure reason or
// description: letters, digits, white space and _ . ! ? ; : ' ( ) [ ] -.
func textChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\v', '-', '_', '.', '!', '?', ';', ':', '\'', '(', ')', '[', ']':
		return true
	}
	return false
}

// ValidText reports whether s is a text the platform accepts, 1 to max characters.
func ValidText(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !textChar(s[i]) {
			return false
		}
	}
	return true
}

// SafeText returns s if the platform accepts it; otherwise s with every
// refused character replaced by a space (runs folded) and cut to max, or
// fallback when nothing is left. It keeps an answer acceptable even when a
// message carries text from elsewhere (an error, a header).
func SafeText(s string, max int, fallback string) string {
	if ValidText(s, max) {
		return s
	}
	var b strings.Builder
	space := false
	for i := 0; i < len(s) && b.Len() < max; i++ {
		c := s[i]
		if !textChar(c) || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
			space = true
			continue
		}
		if space && b.Len() > 0 && b.Len() < max-1 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(c)
	}
	out := strings.TrimSpace(b.String())
	if out == "" {
		return fallback
	}
	return out
}

// RefusedReason reports whether the platform turns a FAILED answer with
// this failure reason into a server error (contract 3.2).
func RefusedReason(r string) bool {
	switch strings.ToLower(r) {
	case "server_error", "internal_server_error", "500":
		return true
	}
	return false
}

// audiencePattern is the platform's rule for added audiences (contract O8).
var audiencePattern = regexp.MustCompile(`^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/$.?#].\S*|[a-zA-Z0-9.-]+)$`)

// ValidAudience reports whether the platform accepts v as an added audience.
func ValidAudience(v string) bool { return audiencePattern.MatchString(v) }

// ValidScope reports whether v is a scope token the platform accepts (NQCHAR, O5).
func ValidScope(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}

// fixedClaims are the claims the platform sets itself and never lets the
// service remove or replace (contract 2.2, O15), with the JWT registered
// claims it computes.
var fixedClaims = []string{"iss", "sub", "aud", "client_id", "aut", "expires_in", "scope",
	"binding_ref", "binding_type", "subject_type", "exp", "iat", "nbf", "jti"}

// FixedClaim reports whether name (in any case) is a claim the platform
// manages: the service may not add, remove or replace it as a claim (aud,
// scope and expires_in have their own paths). Policies are held to it by a
// CEL rule of the CRD, which the API server and policy files both run;
// crdvalidation's tests check that rule against this list.
func FixedClaim(name string) bool {
	for _, f := range fixedClaims {
		if strings.EqualFold(f, name) {
			return true
		}
	}
	return false
}

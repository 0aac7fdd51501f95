// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package action

import "strings"

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

// Success is a SUCCESS answer.
func Success(ops []Operation) *Response {
	return &Response{ActionStatus: StatusSuccess, Operations: ops}
}

// Failed is a FAILED answer: the platform refuses the token and shows the
// reason and description to the token client.
func Failed(reason, description string) *Response {
	r := SafeText(reason, MaxReasonLen, "access_denied")
	switch strings.ToLower(r) {
	case "server_error", "internal_server_error", "500":
		// The platform turns these into a server error (contract 3.2).
		r = "access_denied"
	}
	return &Response{
		ActionStatus:       StatusFailed,
		FailureReason:      r,
		FailureDescription: SafeText(description, MaxDescriptionLen, "Access token issuance was denied."),
	}
}

// Error is an ERROR answer. The platform fails the token request with a
// server error and does not pass the message on to the client.
func Error(message, description string) *Response {
	return &Response{
		ActionStatus:     StatusError,
		ErrorMessage:     SafeText(message, MaxReasonLen, "server_error"),
		ErrorDescription: SafeText(description, MaxDescriptionLen, "The request could not be processed."),
	}
}

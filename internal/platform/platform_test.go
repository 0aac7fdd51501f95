// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package platform_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/action"
	"github.com/tokenguard/tokenguard/internal/action/actiontest"
	"github.com/tokenguard/tokenguard/internal/platform"
)

func TestSafeText(t *testing.T) {
	for in, want := range map[string]string{
		"fine text (KP).":        "fine text (KP).",
		`a, b / "c" & d`:         "a b c d",
		"tabs\tand\nnewlines":    "tabs\tand\nnewlines",
		"fine, but a comma":      "fine but a comma",
		"":                       "fallback",
		"///":                    "fallback",
		strings.Repeat("a", 400): strings.Repeat("a", 300),
	} {
		if got := platform.SafeText(in, 300, "fallback"); got != want {
			t.Errorf("SafeText(%q) = %q, want %q", in, got, want)
		}
	}
}

// The rules here and the test model's independent copy agree: a text this
// package accepts is one the model of the platform accepts in a FAILED
// answer, and the other way round.
func TestTextAgreesWithPlatformModel(t *testing.T) {
	req := &action.Request{ActionType: action.ActionType, Event: &action.Event{}}
	for _, s := range []string{"access_denied", "a, b", "ok (KP) [x]: yes!", "a/b", "tab\there", "caf\u00e9",
		"quote'ok", `quote"no`, "50%", "a#b", "x=y", strings.Repeat("z", 100), strings.Repeat("z", 101), ""} {
		body, _ := json.Marshal(map[string]string{"actionStatus": "FAILED", "failureReason": s, "failureDescription": "d"})
		_, err := actiontest.Apply(req, 200, "application/json", body)
		if model, ours := err == nil, platform.ValidText(s, platform.MaxReasonLen); model != ours {
			t.Errorf("reason %q: the platform model accepts it: %v, ValidText: %v", s, model, ours)
		}
	}
}

func TestFixedClaim(t *testing.T) {
	for _, n := range []string{"sub", "ISS", "client_id", "aut", "Subject_Type", "binding_ref", "binding_type", "aud", "scope"} {
		if !platform.FixedClaim(n) {
			t.Errorf("%s is managed by the platform", n)
		}
	}
	for _, n := range []string{"groups", "email", "given_name", "country"} {
		if platform.FixedClaim(n) {
			t.Errorf("%s is a user claim", n)
		}
	}
}

func TestRefusedReason(t *testing.T) {
	for r, want := range map[string]bool{"server_error": true, "Internal_Server_Error": true, "500": true, "access_denied": false} {
		if platform.RefusedReason(r) != want {
			t.Errorf("%s: want %v", r, want)
		}
	}
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/tokenguard/tokenguard/internal/action"
)

// Baseline is a yardstick for performance targets (docs/performance.md): a
// bare net/http handler that decodes the same request into the same structs
// with json.Unmarshal (and so the lists' own UnmarshalJSON methods) and
// answers a fixed SUCCESS. It does no policy work at all.
type Baseline struct{}

var baselineAnswer = []byte(`{"actionStatus":"SUCCESS"}`)

func (Baseline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	var req action.Request
	if err != nil || json.Unmarshal(body, &req) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(baselineAnswer)
}

// MinimalBaseline is the stricter yardstick: a bare net/http handler that
// decodes the call with encoding/json into structs holding only what a
// decision needs (tenant, client, grant type, headers, the access token's
// scopes and claims, values raw, for expires_in and aud; allowedOperations) and answers
// a fixed SUCCESS. It is what any service deciding this call has to pay at
// least; Baseline decodes everything TokenGuard reads, user-aware parts too.
type MinimalBaseline struct{}

type minimalRequest struct {
	ActionType string `json:"actionType"`
	Event      *struct {
		Request struct {
			ClientID          string `json:"clientId"`
			GrantType         string `json:"grantType"`
			AdditionalHeaders []struct {
				Name  string   `json:"name"`
				Value []string `json:"value"`
			} `json:"additionalHeaders"`
		} `json:"request"`
		Tenant struct {
			Name string `json:"name"`
		} `json:"tenant"`
		AccessToken struct {
			Scopes []string `json:"scopes"`
			// Claims keep their values raw: a decision reads expires_in
			// and aud only, when it changes them.
			Claims []struct {
				Name  string          `json:"name"`
				Value json.RawMessage `json:"value"`
			} `json:"claims"`
		} `json:"accessToken"`
	} `json:"event"`
	AllowedOperations []action.AllowedOperation `json:"allowedOperations"`
}

func (MinimalBaseline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	var req minimalRequest
	if err != nil || json.Unmarshal(body, &req) != nil || req.Event == nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(baselineAnswer)
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package action is the wire contract of the Asgardeo / WSO2 Identity Server
// "Pre-Issue Access Token" action: the request the platform sends, the
// answers it accepts, and the translation of a decision into operations the
// platform applies rather than silently drops. See
// docs/action-contract.md for the rules and their sources.
package action

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/tokenguard/tokenguard/internal/engine"
)

// ActionType is the only action type this endpoint serves.
const ActionType = "PRE_ISSUE_ACCESS_TOKEN"

// Request is the platform's call (contract versions v1.0 to v1.3). Parts this
// service does not use (additionalParams, session) are not decoded; unknown
// fields are ignored.
type Request struct {
	RequestID         string            `json:"requestId"`
	ActionType        string            `json:"actionType"`
	Event             *Event            `json:"event"`
	AllowedOperations AllowedOperations `json:"allowedOperations"`
}

// Event is the token issuance event.
type Event struct {
	Request      TokenRequest   `json:"request"`
	Tenant       Tenant         `json:"tenant"`
	Organization *Organization  `json:"organization"`
	User         *User          `json:"user"`
	UserStore    *UserStore     `json:"userStore"`
	AccessToken  AccessToken    `json:"accessToken"`
	RefreshToken *RefreshToken  `json:"refreshToken"`
	Response     *TokenResponse `json:"response"`
}

// Organization is event.organization or event.user.organization (v1.1+).
type Organization = engine.Organization

// User is event.user: present only when the token is for a user.
type User = engine.User

// UserStore is event.userStore: the user store's name (id is its base64).
type UserStore struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// RefreshToken is event.refreshToken (v1.1+): present when the application
// has the refresh_token grant; its claims carry expires_in.
type RefreshToken struct {
	Claims Claims `json:"claims"`
}

// TokenResponse is event.response (v1.3): the parameters of the token
// endpoint's answer, such as refresh_token and id_token.
type TokenResponse struct {
	Parameters []string `json:"parameters"`
}

// TokenRequest is the OAuth2 token request.
type TokenRequest struct {
	ClientID          string   `json:"clientId"`
	GrantType         string   `json:"grantType"`
	Scopes            []string `json:"scopes"`
	AdditionalHeaders Headers  `json:"additionalHeaders"`
}

// Tenant is the tenant the token is issued in.
type Tenant struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// AccessToken is the token about to be issued.
type AccessToken struct {
	TokenType string   `json:"tokenType"`
	Scopes    []string `json:"scopes"`
	Claims    Claims   `json:"claims"`
}

// Claim is a token claim; its value stays raw until needed.
type Claim = engine.Claim

// AllowedOperation lists the paths the platform lets one op change.
type AllowedOperation struct {
	Op    string   `json:"op"`
	Paths []string `json:"paths"`
}

// Header is one forwarded header or parameter.
type Header = engine.Header

// Headers decodes the documented array form
// [{"name": "x", "value": ["v"]}] and the older map form {"x": ["v"]} or
// {"x": "v"} that early documentation showed.
type Headers []Header

// UnmarshalJSON accepts the array and the map form.
func (h *Headers) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		*h = nil
		return nil
	}
	switch b[0] {
	case '[':
		if list, ok := fastHeaders(b); ok {
			*h = list
			return nil
		}
		var list []Header
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
		*h = list
		return nil
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		out := make(Headers, 0, len(m))
		for name, raw := range m {
			var vs []string
			if err := json.Unmarshal(raw, &vs); err != nil {
				var s string
				if err2 := json.Unmarshal(raw, &s); err2 != nil {
					return fmt.Errorf("header %q: value must be a string or an array of strings", name)
				}
				vs = []string{s}
			}
			out = append(out, Header{Name: name, Value: vs})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		*h = out
		return nil
	default:
		return errors.New("additionalHeaders must be an array of {name, value} objects")
	}
}

// Status values of an answer.
const (
	StatusSuccess = "SUCCESS"
	StatusFailed  = "FAILED"
	StatusError   = "ERROR"
)

// Response is an answer to the platform. Only documented fields exist, and
// each is omitted when empty, so every answer has exactly the fields its
// status allows.
type Response struct {
	ActionStatus       string      `json:"actionStatus"`
	Operations         []Operation `json:"operations,omitempty"`
	FailureReason      string      `json:"failureReason,omitempty"`
	FailureDescription string      `json:"failureDescription,omitempty"`
	ErrorMessage       string      `json:"errorMessage,omitempty"`
	ErrorDescription   string      `json:"errorDescription,omitempty"`
}

// Operation is one change to the token. Value is pre-encoded JSON and is
// omitted for remove operations.
type Operation struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Operation kinds.
const (
	OpAdd     = "add"
	OpRemove  = "remove"
	OpReplace = "replace"
)

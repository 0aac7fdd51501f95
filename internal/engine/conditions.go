// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/tokenguard/tokenguard/internal/policy"
)

// Holds reports whether every condition that is set holds for the call.
// Conditions on the user (user store, user organization, sub-organization)
// never hold for a call without a user; conditions on the issuing
// organization never hold for a call without one. Claim and scope
// conditions read absent values as described on policy.Operator.
func Holds(c *policy.Conditions, call *Call) bool {
	if len(c.Aut) > 0 {
		aut, ok := call.Claim("aut")
		if !ok || !slices.Contains(c.Aut, claimText(aut)) {
			return false
		}
	}
	if len(c.UserStores) > 0 && (call.User == nil || !slices.Contains(c.UserStores, call.UserStore)) {
		return false
	}
	if len(c.Organizations) > 0 && !orgIn(call.Organization, c.Organizations) {
		return false
	}
	if c.UserOrganizations != nil || c.SubOrganization != policy.Unset {
		var org *Organization
		if call.User != nil {
			org = call.User.Organization
		}
		if len(c.UserOrganizations) > 0 && !orgIn(org, c.UserOrganizations) {
			return false
		}
		switch c.SubOrganization {
		case policy.True:
			if org == nil || org.Depth <= 0 {
				return false
			}
		case policy.False:
			if org == nil || org.Depth > 0 {
				return false
			}
		}
	}
	if rs := c.RequestedScopes; rs != nil && !listHolds(rs.Op, rs.Values, call.RequestedScopes) {
		return false
	}
	for i := range c.Claims {
		if !claimHolds(&c.Claims[i], call) {
			return false
		}
	}
	return true
}

// Claim returns the raw value of the access token's claim.
func (c *Call) Claim(name string) (json.RawMessage, bool) {
	for i := range c.Claims {
		if c.Claims[i].Name == name {
			return c.Claims[i].Value, true
		}
	}
	return nil, false
}

func orgIn(o *Organization, refs []string) bool {
	if o == nil {
		return false
	}
	for _, r := range refs {
		if r != "" && (r == o.ID || r == o.Name || r == o.Handle) {
			return true
		}
	}
	return false
}

func claimHolds(cc *policy.ClaimCondition, call *Call) bool {
	raw, ok := call.Claim(cc.Name)
	switch cc.Op {
	case policy.Exists:
		return ok
	case policy.DoesNotExist:
		return !ok
	case policy.In, policy.NotIn:
		in := ok && !IsArray(raw) && slices.Contains(cc.Values, claimText(raw))
		return in == (cc.Op == policy.In)
	default:
		var elems []string
		if ok {
			elems = ClaimElements(raw)
		}
		return listHolds(cc.Op, cc.Values, elems)
	}
}

// listHolds compares a list (an array claim's elements, the requested
// scopes) with values; an absent list is empty.
func listHolds(op policy.Operator, values, list []string) bool {
	switch op {
	case policy.ContainsAny:
		for _, v := range values {
			if slices.Contains(list, v) {
				return true
			}
		}
		return false
	case policy.ContainsAll:
		for _, v := range values {
			if !slices.Contains(list, v) {
				return false
			}
		}
		return true
	case policy.ContainsNone:
		for _, v := range values {
			if slices.Contains(list, v) {
				return false
			}
		}
		return true
	}
	return false
}

// IsArray reports whether a raw claim value is a JSON array.
func IsArray(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '['
}

// claimText is a single claim value as text: a string's content, a number or
// boolean as written in JSON.
func claimText(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) >= 2 && t[0] == '"' {
		if bytes.IndexByte(t, '\\') < 0 {
			return string(t[1 : len(t)-1])
		}
		var s string
		if json.Unmarshal(t, &s) == nil {
			return s
		}
	}
	return string(t)
}

// ClaimElements returns the elements of an array claim as text (see
// claimText); a single value is an array of one, null none.
func ClaimElements(raw json.RawMessage) []string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	if t[0] != '[' {
		return []string{claimText(t)}
	}
	var elems []json.RawMessage
	if json.Unmarshal(t, &elems) != nil {
		return nil
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		out[i] = claimText(e)
	}
	return out
}

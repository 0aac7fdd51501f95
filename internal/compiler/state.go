// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package compiler

import (
	"fmt"
	"time"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/policy"
)

// Defaults of the rules on shared state (the CRD applies the same ones).
const (
	DefaultRetentionDays = 30
	DefaultMaxSpeedKmh   = 1000
	DefaultMinDistanceKm = 200
)

var velocityKeys = map[v1alpha1.VelocityKey]policy.VelocityKey{
	v1alpha1.VelocityClient: policy.ByClient, v1alpha1.VelocityClientAddress: policy.ByClientAddress,
	v1alpha1.VelocityUser: policy.ByUser, v1alpha1.VelocityUserAddress: policy.ByUserAddress,
}

// stateRules converts velocity limits, user history and onStoreFailure.
func (c *compilation) stateRules(s *v1alpha1.TokenPolicySpec, p *policy.Policy) {
	for i, v := range s.Velocity {
		field := fmt.Sprintf("spec.velocity[%d]", i)
		by, ok := velocityKeys[v.By]
		if !ok {
			c.unconvertible(field+".by", v.By)
		}
		if v.WindowSeconds < 1 || v.Limit < 1 {
			c.unconvertible(field, v.Name)
		}
		act, to := signal(string(v.Action), v.ExpiresInSeconds)
		p.Velocity = append(p.Velocity, policy.VelocityLimit{Name: string(v.Name), By: by,
			Window: time.Duration(v.WindowSeconds) * time.Second, Limit: int64(v.Limit), Action: act, ExpiresIn: to})
	}
	if h := s.UserHistory; h != nil {
		days := h.RetentionDays
		if days == 0 {
			days = DefaultRetentionDays
		}
		out := &policy.History{Retention: time.Duration(days) * 24 * time.Hour}
		if n := h.NewCountry; n != nil {
			act, to := signal(string(n.Action), n.ExpiresInSeconds)
			out.NewCountry = &policy.SignalAction{Action: act, ExpiresIn: to}
		}
		if t := h.ImpossibleTravel; t != nil {
			act, to := signal(string(t.Action), t.ExpiresInSeconds)
			tr := &policy.Travel{SignalAction: policy.SignalAction{Action: act, ExpiresIn: to},
				MaxSpeedKmh: DefaultMaxSpeedKmh, MinDistanceKm: DefaultMinDistanceKm}
			if t.MaxSpeedKmh > 0 {
				tr.MaxSpeedKmh = float64(t.MaxSpeedKmh)
			}
			if t.MinDistanceKm > 0 {
				tr.MinDistanceKm = float64(t.MinDistanceKm)
			}
			out.Travel = tr
		}
		p.History = out
	}
	p.OnStoreFailure = policy.Deny
	if f := s.OnStoreFailure; f != nil {
		p.OnStoreFailure, p.StoreFailureTo = signal(string(f.Action), f.ExpiresInSeconds)
		if f.Action == v1alpha1.ActionAllow {
			p.OnStoreFailure = policy.Allow
		}
	}
}

// signal reads an action that may be Deny, Shorten (with a lifetime) or
// Flag. Anything unreadable denies: a signal that fires never lets a call
// through by mistake.
func signal(action string, expires *v1alpha1.ExpiresInSeconds) (policy.Action, int64) {
	switch {
	case action == v1alpha1.ActionShorten && expires != nil:
		return policy.Shorten, int64(*expires)
	case action == "Flag":
		return policy.Flag, 0
	default:
		return policy.Deny, 0
	}
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package compiler

import (
	"time"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/iplist"
)

// ListSpec converts an IPList's spec into the sources internal/iplist
// reads; the controller and standalone mode both use it. Unset durations
// stay zero: iplist applies the CRD's defaults.
func ListSpec(l *v1alpha1.IPList) iplist.Spec {
	s := l.Spec
	out := iplist.Spec{File: s.File}
	for _, e := range s.Entries {
		out.Entries = append(out.Entries, string(e))
	}
	for _, c := range s.ConfigMaps {
		out.ConfigMaps = append(out.ConfigMaps, iplist.ConfigMapRef{Name: c.Name, Key: c.Key})
	}
	if u := s.URL; u != nil {
		out.URL = &iplist.URLSource{URL: u.URL, Refresh: time.Duration(u.RefreshIntervalSeconds) * time.Second,
			MaxBytes: u.MaxBytes, Timeout: time.Duration(u.TimeoutSeconds) * time.Second}
	}
	return out
}

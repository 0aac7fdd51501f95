// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package app

import (
	"github.com/tokenguard/tokenguard/internal/abuseipdb"
)

// abuseIPDB returns the service's AbuseIPDB client, or nil when AbuseIPDB is
// switched off. The status controller and standalone mode's key reporter
// listen to it for API keys AbuseIPDB rejected.
func (s *Service) abuseIPDB() *abuseipdb.Client {
	c, _ := s.Handler.Engine.Reputation.(*abuseipdb.Client)
	return c
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package app

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// The AbuseIPDB client the key listeners subscribe to is found, and is
// absent with AbuseIPDB switched off: a listener must never see a nil
// client, nor silently none when AbuseIPDB is on.
func TestServiceAbuseIPDBClient(t *testing.T) {
	auth := filepath.Join(t.TempDir(), "auth.yaml")
	if err := os.WriteFile(auth, []byte("type: NONE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, disabled := range []bool{false, true} {
		o := &Options{}
		fs := flag.NewFlagSet("tokenguard", flag.ContinueOnError)
		o.BindFlags(fs)
		if err := fs.Parse([]string{"--action-auth-config=" + auth, "--abuseipdb-rejected-key-pause=1m"}); err != nil {
			t.Fatal(err)
		}
		if o.AbuseIPDBRejectedPause != time.Minute {
			t.Errorf("--abuseipdb-rejected-key-pause: %s", o.AbuseIPDBRejectedPause)
		}
		o.AbuseIPDBDisabled = disabled
		svc, err := NewService(o, prometheus.NewRegistry(), logr.Discard())
		if err != nil {
			t.Fatal(err)
		}
		if got := svc.abuseIPDB(); (got == nil) != disabled {
			t.Errorf("disabled=%v: client %v", disabled, got)
		}
	}
}

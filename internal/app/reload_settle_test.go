// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package app_test

import (
	"strings"
	"testing"
	"time"
)

// Files are applied only once they have settled: 2s by default, longer than
// the one-second pause a writer is allowed, and never switched off.
func TestReloadSettle(t *testing.T) {
	if o := parse(t, "--action-auth-config=a.yaml"); o.ReloadSettle != 2*time.Second {
		t.Errorf("--reload-settle defaults to %s", o.ReloadSettle)
	}
	o := parse(t, "--action-auth-config=a.yaml", "--reload-settle=0s")
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--reload-settle must be positive") {
		t.Errorf("--reload-settle=0s: %v", err)
	}
}

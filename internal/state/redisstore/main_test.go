// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package redisstore_test

import (
	"os"
	"testing"

	"github.com/go-logr/logr"

	"github.com/tokenguard/tokenguard/internal/state/redisstore"
)

// TestMain silences go-redis's dial failures, which the fault tests cause
// by the hundred; the tests check the errors themselves.
func TestMain(m *testing.M) {
	redisstore.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

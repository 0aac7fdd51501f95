// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package state_test

import (
	"testing"

	"github.com/tokenguard/tokenguard/internal/state"
	"github.com/tokenguard/tokenguard/internal/state/statetest"
)

func TestMemoryConformance(t *testing.T) {
	statetest.Run(t, func(*testing.T) state.Store { return state.NewMemory(nil) })
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package state_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/state"
)

// TestMemorySweepBoundsMemory writes many short-lived keys and checks that
// the expired ones are dropped without being touched again.
func TestMemorySweepBoundsMemory(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	s := state.NewMemory(func() time.Time { return now })
	for i := range 100_000 {
		if err := s.Set(ctx, fmt.Sprint("k", i), []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Millisecond) // 1000 keys live at any time
	}
	if n := s.Len(); n > 4*1024 {
		t.Fatalf("memory holds %d keys, want at most a few thousand (about 1000 live)", n)
	}
}

func TestMemoryRefusesNoTTL(t *testing.T) {
	s := state.NewMemory(nil)
	if err := s.Set(context.Background(), "k", nil, 0); err == nil {
		t.Fatal("Set with ttl 0: want an error")
	}
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package state_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/state"
)

func TestInstrumentReportsEveryOperation(t *testing.T) {
	var ops []string
	var errs int
	s := state.Instrument(state.NewMemory(nil), func(op string, d time.Duration, err error) {
		if d < 0 {
			t.Errorf("%s: negative duration %s", op, d)
		}
		ops = append(ops, op)
		if err != nil {
			errs++
		}
	})
	ctx := context.Background()
	_ = s.Set(ctx, "k", []byte("v"), time.Minute)
	_, _, _ = s.Get(ctx, "k")
	_, _ = s.SetNX(ctx, "l", nil, time.Minute)
	_, _ = s.CompareAndSet(ctx, "l", nil, nil, time.Minute)
	_ = s.Delete(ctx, "l")
	_, err := s.Incr(ctx, "k", time.Minute) // "v" is not a number
	if !errors.Is(err, state.ErrWrongType) {
		t.Fatalf("Incr: %v", err)
	}
	_, _ = s.Hit(ctx, "w", time.Now(), time.Minute)
	var b state.Batch
	b.Hits(time.Now(), state.WindowHit{Key: "w", Window: time.Minute})
	s.Do(ctx, &b)
	_ = s.Ping(ctx)
	_ = s.Close()
	want := []string{state.OpSet, state.OpGet, state.OpSetNX, state.OpCAS, state.OpDelete, state.OpIncr, state.OpHit, state.OpBatch, state.OpPing}
	if !slices.Equal(ops, want) {
		t.Errorf("observed %v, want %v", ops, want)
	}
	if errs != 1 {
		t.Errorf("%d errors observed, want 1 (Incr)", errs)
	}
	slices.Sort(want)
	if got := slices.Sorted(slices.Values(state.Ops)); !slices.Equal(got, want) {
		t.Errorf("state.Ops = %v, want every operation: %v", state.Ops, want)
	}
}

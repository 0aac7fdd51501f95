// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package statetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/state"
)

func testBatch(t *testing.T, s state.Store, key func(string) string) {
	ctx := context.Background()
	now := time.Now()
	mustSet(t, s, key("v"), []byte("value"), time.Minute)
	if _, err := s.Hit(ctx, key("w"), now, time.Minute); err != nil {
		t.Fatal(err)
	}
	var b state.Batch
	get := b.Get(key("v"))
	missing := b.Get(key("missing"))
	hit1 := b.Hits(now, state.WindowHit{Key: key("w"), Window: time.Minute})
	hit2 := b.Hits(now, state.WindowHit{Key: key("w"), Window: time.Minute})
	other := b.Hits(now, state.WindowHit{Key: key("w2"), Window: time.Minute})
	getWindow := b.Get(key("w"))
	hitValue := b.Hits(now, state.WindowHit{Key: key("v"), Window: time.Minute})
	noWindow := b.Hits(now, state.WindowHit{Key: key("w3"), Window: 0})
	s.Do(ctx, &b)
	if o := b.Op(get); o.Err != nil || !o.Found || string(o.Value) != "value" {
		t.Errorf("Get: %q %v %v", o.Value, o.Found, o.Err)
	}
	if o := b.Op(missing); o.Err != nil || o.Found {
		t.Errorf("Get of a missing key: found %v, %v", o.Found, o.Err)
	}
	// In order, after the single Hit before the batch.
	if o1, o2 := b.Op(hit1), b.Op(hit2); o1.Err != nil || o2.Err != nil || first(o1) != 2 || first(o2) != 3 {
		t.Errorf("Hits: %d %v, %d %v; want 2 and 3", first(o1), o1.Err, first(o2), o2.Err)
	}
	if o := b.Op(other); o.Err != nil || first(o) != 1 {
		t.Errorf("Hit of another window: %d %v", first(o), o.Err)
	}
	if o := b.Op(getWindow); !errors.Is(o.Err, state.ErrWrongType) {
		t.Errorf("Get of a window in a batch: %v, want ErrWrongType", o.Err)
	}
	if o := b.Op(hitValue); !errors.Is(o.Err, state.ErrWrongType) {
		t.Errorf("Hit of a value in a batch: %v, want ErrWrongType", o.Err)
	}
	if o := b.Op(noWindow); o.Err == nil || errors.Is(o.Err, state.ErrUnavailable) {
		t.Errorf("Hit without a window in a batch: %v, want a usage error", o.Err)
	}
	if n, err := s.Hit(ctx, key("w"), now, time.Minute); err != nil || n != 4 {
		t.Errorf("Hit after the batch = %d, %v; want 4", n, err)
	}
}

func testHitChain(t *testing.T, s state.Store, key func(string) string) {
	ctx := context.Background()
	chain := []state.WindowHit{
		{Key: key("narrow"), Window: time.Minute, StopAbove: 2},
		{Key: key("shorten"), Window: time.Minute}, // never stops the chain
		{Key: key("wide"), Window: time.Minute, StopAbove: 100},
	}
	run := func() []int64 {
		t.Helper()
		var b state.Batch
		i := b.Hits(time.Now(), chain...)
		s.Do(ctx, &b)
		if err := b.Op(i).Err; err != nil {
			t.Fatal(err)
		}
		return b.Op(i).Counts
	}
	for _, want := range [][]int64{{1, 1, 1}, {2, 2, 2}, {3}, {4}} {
		if got := run(); !slices.Equal(got, want) {
			t.Fatalf("counts %v, want %v", got, want)
		}
	}
	// The windows after the one that stopped did not record the events.
	if n, err := s.Hit(ctx, key("wide"), time.Now(), time.Minute); err != nil || n != 3 {
		t.Fatalf("Hit of the last window = %d, %v; want 3", n, err)
	}
	// A window holding another kind of value fails the operation.
	mustSet(t, s, key("text"), []byte("v"), time.Minute)
	var b state.Batch
	i := b.Hits(time.Now(), state.WindowHit{Key: key("other"), Window: time.Minute}, state.WindowHit{Key: key("text"), Window: time.Minute})
	s.Do(ctx, &b)
	if !errors.Is(b.Op(i).Err, state.ErrWrongType) {
		t.Fatalf("a chain through a plain value: %v, want ErrWrongType", b.Op(i).Err)
	}
}

func testBatchConcurrent(t *testing.T, s state.Store, key func(string) string) {
	counts := concurrently(t, 10, 20, func() (int64, error) {
		var b state.Batch
		i := b.Hits(time.Now(), state.WindowHit{Key: key("w"), Window: time.Minute})
		b.Get(key("other"))
		s.Do(context.Background(), &b)
		return first(b.Op(i)), b.Op(i).Err
	})
	checkExact(t, counts, 200)
}

// first is the count of a hit's first window, 0 when it failed.
func first(o *state.BatchOp) int64 {
	if len(o.Counts) == 0 {
		return 0
	}
	return o.Counts[0]
}

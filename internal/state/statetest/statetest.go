// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package statetest is the conformance suite every state.Store passes:
// Memory and Redis run the same tests, so code written against one
// behaves the same on the other.
package statetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/state"
)

// Run runs the suite. newStore returns a store for one subtest; stores
// may share their data (keys are unique per subtest), and the suite
// closes none of them. Expiry is tested in real time, with TTLs of a few
// hundred milliseconds.
func Run(t *testing.T, newStore func(t *testing.T) state.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s state.Store, key func(string) string)
	}{
		{"GetSetRoundTrip", testGetSet},
		{"TTLExpiry", testTTLExpiry},
		{"SetOverwritesAndRenewsTTL", testSetOverwrites},
		{"SetNX", testSetNX},
		{"SetNXConcurrentOneWinner", testSetNXConcurrent},
		{"CompareAndSet", testCompareAndSet},
		{"CompareAndSetConcurrentNoLostUpdate", testCompareAndSetConcurrent},
		{"Delete", testDelete},
		{"IncrFixedWindowKeepsTTL", testIncrFixedWindow},
		{"IncrConcurrentExact", testIncrConcurrent},
		{"IncrReadsAsDecimal", testIncrGet},
		{"HitConcurrentExact", testHitConcurrent},
		{"HitWindowSlides", testHitSlides},
		{"HitKeyExpires", testHitExpires},
		{"BatchResultsAsSingleOperations", testBatch},
		{"BatchHitsConcurrentExact", testBatchConcurrent},
		{"BatchHitChainStopsAboveBound", testHitChain},
		{"WrongType", testWrongType},
		{"TTLMustBePositive", testTTLPositive},
		{"Ping", func(t *testing.T, s state.Store, _ func(string) string) {
			if err := s.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			prefix := state.Key("statetest", strconv.FormatInt(time.Now().UnixNano(), 36), tc.name)
			tc.fn(t, s, func(k string) string { return prefix + ":" + k })
		})
	}
}

func mustGet(t *testing.T, s state.Store, key string) ([]byte, bool) {
	t.Helper()
	v, ok, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	return v, ok
}

func mustSet(t *testing.T, s state.Store, key string, v []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(context.Background(), key, v, ttl); err != nil {
		t.Fatalf("Set %s: %v", key, err)
	}
}

func testGetSet(t *testing.T, s state.Store, key func(string) string) {
	if _, ok := mustGet(t, s, key("missing")); ok {
		t.Fatal("Get of a missing key: ok")
	}
	v := []byte{0, 1, 2, 0xff, 'a', '\r', '\n'}
	mustSet(t, s, key("k"), v, time.Minute)
	got, ok := mustGet(t, s, key("k"))
	if !ok || !bytes.Equal(got, v) {
		t.Fatalf("Get = %q, %v; want %q", got, ok, v)
	}
	mustSet(t, s, key("empty"), nil, time.Minute)
	if got, ok := mustGet(t, s, key("empty")); !ok || len(got) != 0 {
		t.Fatalf("Get of an empty value = %q, %v; want empty, true", got, ok)
	}
	// The store keeps its own copy.
	v[0] = 'X'
	if got, _ := mustGet(t, s, key("k")); got[0] != 0 {
		t.Fatal("changing the slice given to Set changed the stored value")
	}
}

// shortTTL is the TTL of values the tests see expire, long enough that a
// loaded machine reads them back before it ends; pastShortTTL is a wait
// after which they are gone.
const (
	shortTTL     = 400 * time.Millisecond
	pastShortTTL = 900 * time.Millisecond
)

func testTTLExpiry(t *testing.T, s state.Store, key func(string) string) {
	mustSet(t, s, key("short"), []byte("v"), shortTTL)
	mustSet(t, s, key("long"), []byte("v"), time.Minute)
	if _, ok := mustGet(t, s, key("short")); !ok {
		t.Fatal("value gone before its TTL")
	}
	time.Sleep(pastShortTTL)
	if _, ok := mustGet(t, s, key("short")); ok {
		t.Fatal("value still there after its TTL")
	}
	if _, ok := mustGet(t, s, key("long")); !ok {
		t.Fatal("a value with a long TTL expired")
	}
}

func testSetOverwrites(t *testing.T, s state.Store, key func(string) string) {
	mustSet(t, s, key("k"), []byte("one"), 150*time.Millisecond)
	mustSet(t, s, key("k"), []byte("two"), time.Minute)
	time.Sleep(350 * time.Millisecond)
	if got, ok := mustGet(t, s, key("k")); !ok || string(got) != "two" {
		t.Fatalf("Get = %q, %v; want the second value with the second TTL", got, ok)
	}
}

func testSetNX(t *testing.T, s state.Store, key func(string) string) {
	ctx := context.Background()
	setNX := func(v string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.SetNX(ctx, key("lock"), []byte(v), ttl)
		if err != nil {
			t.Fatalf("SetNX: %v", err)
		}
		return ok
	}
	if !setNX("a", shortTTL) {
		t.Fatal("SetNX on an empty key: false")
	}
	if setNX("b", time.Minute) {
		t.Fatal("SetNX on a held key: true")
	}
	if got, _ := mustGet(t, s, key("lock")); string(got) != "a" {
		t.Fatalf("value = %q, want the first SetNX's", got)
	}
	time.Sleep(pastShortTTL)
	if !setNX("c", time.Minute) {
		t.Fatal("SetNX after the lock expired: false")
	}
	if err := s.Delete(ctx, key("lock")); err != nil {
		t.Fatal(err)
	}
	if !setNX("d", time.Minute) {
		t.Fatal("SetNX after Delete: false")
	}
}

func testSetNXConcurrent(t *testing.T, s state.Store, key func(string) string) {
	const n = 50
	var wg sync.WaitGroup
	won := make(chan int, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ok, err := s.SetNX(context.Background(), key("lock"), []byte(strconv.Itoa(i)), time.Minute)
			if err != nil {
				errs <- err
			}
			if ok {
				won <- i
			}
		})
	}
	wg.Wait()
	close(won)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var winners []int
	for i := range won {
		winners = append(winners, i)
	}
	if len(winners) != 1 {
		t.Fatalf("%d goroutines won the lock, want exactly 1", len(winners))
	}
	if got, _ := mustGet(t, s, key("lock")); string(got) != strconv.Itoa(winners[0]) {
		t.Fatalf("lock holds %q, the winner was %d", got, winners[0])
	}
}

func testDelete(t *testing.T, s state.Store, key func(string) string) {
	ctx := context.Background()
	mustSet(t, s, key("k"), []byte("v"), time.Minute)
	if err := s.Delete(ctx, key("k")); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustGet(t, s, key("k")); ok {
		t.Fatal("value still there after Delete")
	}
	if err := s.Delete(ctx, key("never")); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if _, err := s.Incr(ctx, key("n"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, key("n")); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Incr(ctx, key("n"), time.Minute); err != nil || n != 1 {
		t.Fatalf("Incr after Delete = %d, %v; want 1", n, err)
	}
}

func testIncrFixedWindow(t *testing.T, s state.Store, key func(string) string) {
	ctx := context.Background()
	incr := func() int64 {
		t.Helper()
		n, err := s.Incr(ctx, key("quota"), time.Second)
		if err != nil {
			t.Fatalf("Incr: %v", err)
		}
		return n
	}
	if n := incr(); n != 1 {
		t.Fatalf("first Incr = %d, want 1", n)
	}
	// The window started at or before now, when the first Incr returned.
	first := time.Now()
	time.Sleep(300 * time.Millisecond)
	if n := incr(); n != 2 {
		t.Fatalf("second Incr = %d, want 2", n)
	}
	// The window ends a second after the first Incr, not the second: 1.15 s
	// after it, it is over (a renewed TTL would keep it until about 1.3 s).
	time.Sleep(time.Until(first.Add(1150 * time.Millisecond)))
	if n := incr(); n != 1 {
		t.Fatalf("Incr after the window = %d, want 1 (the second Incr must not extend the window)", n)
	}
}

func testIncrConcurrent(t *testing.T, s state.Store, key func(string) string) {
	counts := concurrently(t, 50, 20, func() (int64, error) {
		return s.Incr(context.Background(), key("n"), time.Minute)
	})
	checkExact(t, counts, 1000)
}

func testIncrGet(t *testing.T, s state.Store, key func(string) string) {
	ctx := context.Background()
	for range 3 {
		if _, err := s.Incr(ctx, key("n"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok := mustGet(t, s, key("n")); !ok || string(got) != "3" {
		t.Fatalf("Get of a counter = %q, %v; want \"3\"", got, ok)
	}
	// A decimal value counts on, keeping its TTL.
	mustSet(t, s, key("v"), []byte("41"), shortTTL)
	if n, err := s.Incr(ctx, key("v"), time.Minute); err != nil || n != 42 {
		t.Fatalf("Incr of \"41\" = %d, %v; want 42", n, err)
	}
	time.Sleep(pastShortTTL)
	if _, ok := mustGet(t, s, key("v")); ok {
		t.Fatal("Incr extended a set value's TTL")
	}
}

func testHitConcurrent(t *testing.T, s state.Store, key func(string) string) {
	counts := concurrently(t, 50, 20, func() (int64, error) {
		return s.Hit(context.Background(), key("w"), time.Now(), time.Minute)
	})
	checkExact(t, counts, 1000)
}

func testHitSlides(t *testing.T, s state.Store, key func(string) string) {
	ctx := context.Background()
	base := time.Now()
	const window = time.Second
	for _, step := range []struct {
		at   time.Duration
		want int64
	}{
		{0, 1},
		{400 * time.Millisecond, 2},
		{400 * time.Millisecond, 3}, // same time, another event
		{800 * time.Millisecond, 4},
		{1000 * time.Millisecond, 4}, // the event at 0 is at the window's start: out
		{1399 * time.Millisecond, 5}, // the events at 400 are still in
		{1400 * time.Millisecond, 4}, // now they are out
		{2500 * time.Millisecond, 1}, // everything at or before 1500 is out
		{3499 * time.Millisecond, 2}, // 2500 is still in
		{3500 * time.Millisecond, 2}, // 2500 is out, 3499 in
		{10 * time.Second, 1},
		{10*time.Second + 999*time.Microsecond, 2},
		{11*time.Second + 999*time.Microsecond, 1}, // exactly one window after: out
		{11*time.Second + 1000*time.Microsecond, 2},
	} {
		n, err := s.Hit(ctx, key("w"), base.Add(step.at), window)
		if err != nil {
			t.Fatalf("Hit at +%s: %v", step.at, err)
		}
		if n != step.want {
			t.Fatalf("Hit at +%s = %d, want %d", step.at, n, step.want)
		}
	}
}

func testHitExpires(t *testing.T, s state.Store, key func(string) string) {
	ctx := context.Background()
	for range 3 {
		if _, err := s.Hit(ctx, key("w"), time.Now(), 150*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(350 * time.Millisecond)
	// The key expired with its window: the next hit starts a new one, and
	// Incr may reuse the key.
	if n, err := s.Incr(ctx, key("w"), time.Minute); err != nil || n != 1 {
		t.Fatalf("Incr on an expired window's key = %d, %v; want 1", n, err)
	}
}

func testWrongType(t *testing.T, s state.Store, key func(string) string) {
	ctx := context.Background()
	mustSet(t, s, key("text"), []byte("not a number"), time.Minute)
	if _, err := s.Incr(ctx, key("text"), time.Minute); !errors.Is(err, state.ErrWrongType) {
		t.Fatalf("Incr of a text value: err = %v, want ErrWrongType", err)
	}
	if _, err := s.Hit(ctx, key("text"), time.Now(), time.Minute); !errors.Is(err, state.ErrWrongType) {
		t.Fatalf("Hit on a text value: err = %v, want ErrWrongType", err)
	}
	if _, err := s.Hit(ctx, key("w"), time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, key("w")); !errors.Is(err, state.ErrWrongType) {
		t.Fatalf("Get of a window: err = %v, want ErrWrongType", err)
	}
	if _, err := s.Incr(ctx, key("w"), time.Minute); !errors.Is(err, state.ErrWrongType) {
		t.Fatalf("Incr of a window: err = %v, want ErrWrongType", err)
	}
	if _, err := s.CompareAndSet(ctx, key("w"), nil, []byte("v"), time.Minute); !errors.Is(err, state.ErrWrongType) {
		t.Fatalf("CompareAndSet of a window: err = %v, want ErrWrongType", err)
	}
}

func testTTLPositive(t *testing.T, s state.Store, key func(string) string) {
	ctx := context.Background()
	_, errNX := s.SetNX(ctx, key("k"), nil, 0)
	_, errIncr := s.Incr(ctx, key("k"), -time.Second)
	_, errHit := s.Hit(ctx, key("k"), time.Now(), 0)
	_, errCAS := s.CompareAndSet(ctx, key("k"), nil, nil, 0)
	for op, err := range map[string]error{
		"CompareAndSet": errCAS,
		"Set":           s.Set(ctx, key("k"), nil, 0),
		"SetNX":         errNX,
		"Incr":          errIncr,
		"Hit":           errHit,
	} {
		if err == nil || errors.Is(err, state.ErrUnavailable) {
			t.Errorf("%s without a TTL: err = %v, want a usage error", op, err)
		}
	}
	if _, ok := mustGet(t, s, key("k")); ok {
		t.Fatal("a call without a TTL stored a value")
	}
}

// concurrently runs op n×m times from n goroutines and returns the
// results.
func concurrently(t *testing.T, n, m int, op func() (int64, error)) []int64 {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = make([]int64, 0, n*m)
		errs   []error
	)
	for range n {
		wg.Go(func() {
			local := make([]int64, 0, m)
			for range m {
				c, err := op()
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				local = append(local, c)
			}
			mu.Lock()
			counts = append(counts, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d errors, the first: %v", len(errs), errs[0])
	}
	return counts
}

// checkExact checks that counts are 1..n, each once.
func checkExact(t *testing.T, counts []int64, n int) {
	t.Helper()
	slices.Sort(counts)
	if len(counts) != n {
		t.Fatalf("%d results, want %d", len(counts), n)
	}
	for i, c := range counts {
		if c != int64(i+1) {
			t.Fatalf("sorted counts[%d] = %d, want %d: counts must be 1..%d, each exactly once", i, c, i+1, n)
		}
	}
}

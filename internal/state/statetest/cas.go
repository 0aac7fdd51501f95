// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package statetest

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/state"
)

func testCompareAndSet(t *testing.T, s state.Store, key func(string) string) {
	ctx := context.Background()
	cas := func(old, v string, nothing bool, ttl time.Duration) bool {
		t.Helper()
		o := []byte(old)
		if nothing {
			o = nil
		}
		ok, err := s.CompareAndSet(ctx, key("k"), o, []byte(v), ttl)
		if err != nil {
			t.Fatalf("CompareAndSet: %v", err)
		}
		return ok
	}
	value := func() string {
		t.Helper()
		v, _ := mustGet(t, s, key("k"))
		return string(v)
	}
	if cas("x", "a", false, time.Minute) {
		t.Fatal("CompareAndSet expecting a value set an empty key")
	}
	if !cas("", "a", true, time.Minute) {
		t.Fatal("CompareAndSet expecting nothing refused an empty key")
	}
	if cas("", "b", true, time.Minute) {
		t.Fatal("CompareAndSet expecting nothing overwrote a value")
	}
	if cas("b", "c", false, time.Minute) {
		t.Fatal("CompareAndSet with a stale value overwrote the current one")
	}
	if value() != "a" {
		t.Fatalf("value = %q after refused CompareAndSets, want a", value())
	}
	if !cas("a", "b", false, shortTTL) || value() != "b" {
		t.Fatalf("CompareAndSet with the current value: value = %q, want b", value())
	}
	time.Sleep(pastShortTTL)
	if _, ok := mustGet(t, s, key("k")); ok {
		t.Fatal("CompareAndSet kept no TTL")
	}
	if cas("b", "c", false, time.Minute) {
		t.Fatal("CompareAndSet matched an expired value")
	}
	if !cas("", "c", true, time.Minute) {
		t.Fatal("an expired key is not empty to CompareAndSet")
	}
	// An empty value is a value: found, and not nothing to CompareAndSet.
	mustSet(t, s, key("e"), nil, time.Minute)
	if v, ok := mustGet(t, s, key("e")); !ok || v == nil || len(v) != 0 {
		t.Fatalf("Get of an empty value = %q (nil %v), %v; want an empty, non-nil value", v, v == nil, ok)
	}
	if ok, err := s.CompareAndSet(ctx, key("e"), nil, []byte("x"), time.Minute); err != nil || ok {
		t.Fatalf("CompareAndSet expecting nothing over an empty value = %v, %v", ok, err)
	}
	if ok, err := s.CompareAndSet(ctx, key("e"), []byte{}, []byte("x"), time.Minute); err != nil || !ok {
		t.Fatalf("CompareAndSet expecting the empty value = %v, %v", ok, err)
	}
	// A counter compares as its text, as Get reads it.
	if _, err := s.Incr(ctx, key("n"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.CompareAndSet(ctx, key("n"), []byte("1"), []byte("v"), time.Minute); err != nil || !ok {
		t.Fatalf("CompareAndSet of a counter by its text = %v, %v", ok, err)
	}
	if got, _ := mustGet(t, s, key("n")); string(got) != "v" {
		t.Fatalf("counter replaced by %q, want v", got)
	}
}

// Many writers each add their mark to one value by read, change and
// CompareAndSet: every mark survives.
func testCompareAndSetConcurrent(t *testing.T, s state.Store, key func(string) string) {
	const writers, marks = 8, 10
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for m := range marks {
				for {
					old, ok, err := s.Get(ctx, key("k"))
					if err != nil {
						errs <- err
						return
					}
					if !ok {
						old = nil
					}
					next := append(slices.Clone(old), []byte(strconv.Itoa(w*marks+m)+",")...)
					done, err := s.CompareAndSet(ctx, key("k"), old, next, time.Minute)
					if err != nil {
						errs <- err
						return
					}
					if done {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v, _ := mustGet(t, s, key("k"))
	seen := map[string]bool{}
	for _, m := range bytes.Split(bytes.TrimSuffix(v, []byte(",")), []byte(",")) {
		if seen[string(m)] {
			t.Fatalf("mark %s twice in %q", m, v)
		}
		seen[string(m)] = true
	}
	if len(seen) != writers*marks {
		t.Fatalf("%d marks kept of %d: updates were lost", len(seen), writers*marks)
	}
}

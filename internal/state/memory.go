// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// sweepFloor is the number of keys below which Memory never sweeps: a
// sweep of a small map is not worth its pause.
const sweepFloor = 1024

type kind uint8

const (
	kindValue kind = iota
	kindCounter
	kindWindow
)

// entry is one key's value. Exactly one of value, n and hits is used,
// by kind.
type entry struct {
	kind    kind
	value   []byte
	n       int64
	hits    []int64 // sorted event times, Unix nanoseconds
	expires int64   // Unix nanoseconds of the store's clock
}

// Memory is the in-process Store: the default when no Redis is
// configured, and the reference the Redis store is tested against. It is
// safe for concurrent use.
//
// Expired keys are dropped when they are next touched, and by a sweep of
// the whole map whenever it has doubled since the last sweep (and holds
// more than a thousand keys): the work is amortized over the writes that
// grew it, and memory stays within twice the live keys.
type Memory struct {
	now func() time.Time

	mu      sync.Mutex
	m       map[string]*entry
	sweepAt int // len(m) that triggers the next sweep
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-process store whose keys expire by now
// (time.Now when nil). Hit windows use the time the caller passes.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, m: make(map[string]*entry), sweepAt: sweepFloor}
}

// checkTTL refuses a TTL that would keep a value for ever or not at all.
func checkTTL(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("state: %s: ttl must be positive, got %s", op, ttl)
	}
	return nil
}

// live returns key's entry if it has not expired, and drops it if it has.
// mu must be held.
func (s *Memory) live(key string, now int64) *entry {
	e, ok := s.m[key]
	if !ok {
		return nil
	}
	if e.expires <= now {
		delete(s.m, key)
		return nil
	}
	return e
}

// put stores e at key and sweeps when the map has doubled. mu must be
// held.
func (s *Memory) put(key string, e *entry, now int64) {
	s.m[key] = e
	if len(s.m) >= s.sweepAt {
		s.sweep(now)
	}
}

// sweep drops every expired key. mu must be held.
func (s *Memory) sweep(now int64) {
	for k, e := range s.m {
		if e.expires <= now {
			delete(s.m, k)
		}
	}
	s.sweepAt = max(2*len(s.m), sweepFloor)
}

// stored is a copy of value to keep: never nil, so that an empty value
// reads back as found and compares as a value, as in Redis.
func stored(value []byte) []byte { return append([]byte{}, value...) }

// Get implements Store. A counter reads as its decimal text, as in Redis.
func (s *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.live(key, now)
	if e == nil {
		return nil, false, nil
	}
	switch e.kind {
	case kindValue:
		return stored(e.value), true, nil
	case kindCounter:
		return strconv.AppendInt(nil, e.n, 10), true, nil
	default:
		return nil, false, fmt.Errorf("get %s: %w", key, ErrWrongType)
	}
}

// Set implements Store.
func (s *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL("set", ttl); err != nil {
		return err
	}
	now := s.now().UnixNano()
	e := &entry{kind: kindValue, value: stored(value), expires: now + int64(ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(key, e, now)
	return nil
}

// SetNX implements Store.
func (s *Memory) SetNX(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL("setnx", ttl); err != nil {
		return false, err
	}
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live(key, now) != nil {
		return false, nil
	}
	s.put(key, &entry{kind: kindValue, value: stored(value), expires: now + int64(ttl)}, now)
	return true, nil
}

// CompareAndSet implements Store.
func (s *Memory) CompareAndSet(_ context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL("cas", ttl); err != nil {
		return false, err
	}
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.live(key, now)
	switch {
	case e == nil:
		if old != nil {
			return false, nil
		}
	case e.kind == kindWindow:
		return false, fmt.Errorf("cas %s: %w", key, ErrWrongType)
	case old == nil:
		return false, nil
	case e.kind == kindCounter && string(old) != strconv.FormatInt(e.n, 10):
		return false, nil
	case e.kind == kindValue && !bytes.Equal(old, e.value):
		return false, nil
	}
	s.put(key, &entry{kind: kindValue, value: stored(value), expires: now + int64(ttl)}, now)
	return true, nil
}

// Delete implements Store.
func (s *Memory) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
	return nil
}

// Incr implements Store. A plain value that is a decimal integer counts
// on from it, keeping its expiry, as in Redis.
func (s *Memory) Incr(_ context.Context, key string, ttl time.Duration) (int64, error) {
	if err := checkTTL("incr", ttl); err != nil {
		return 0, err
	}
	now := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.live(key, now)
	if e == nil {
		s.put(key, &entry{kind: kindCounter, n: 1, expires: now + int64(ttl)}, now)
		return 1, nil
	}
	switch e.kind {
	case kindCounter:
	case kindValue:
		n, err := strconv.ParseInt(string(e.value), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("incr %s: %w", key, ErrWrongType)
		}
		e.kind, e.n, e.value = kindCounter, n, nil
	default:
		return 0, fmt.Errorf("incr %s: %w", key, ErrWrongType)
	}
	e.n++
	return e.n, nil
}

// Do implements Store, one operation after the other: in memory there is
// no round trip to save.
func (s *Memory) Do(ctx context.Context, b *Batch) { DoEach(ctx, s, b) }

// Hit implements Store. Each call is one event even when two carry the
// same time.
func (s *Memory) Hit(_ context.Context, key string, now time.Time, window time.Duration) (int64, error) {
	if err := checkTTL("hit", window); err != nil {
		return 0, err
	}
	at := now.UnixNano()
	clock := s.now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.live(key, clock)
	if e == nil {
		e = &entry{kind: kindWindow, hits: make([]int64, 0, 4), expires: clock + int64(window)}
		s.put(key, e, clock)
	} else if e.kind != kindWindow {
		return 0, fmt.Errorf("hit %s: %w", key, ErrWrongType)
	}
	// Drop the events at or before now-window, then insert this one in
	// time order (callers' clocks need not agree to the nanosecond).
	cut, _ := slices.BinarySearch(e.hits, at-int64(window)+1)
	e.hits = e.hits[cut:] // the array is reclaimed when append next grows it
	i, _ := slices.BinarySearch(e.hits, at+1)
	e.hits = slices.Insert(e.hits, i, at)
	e.expires = clock + int64(window)
	return int64(len(e.hits)), nil
}

// Ping implements Store: memory always answers.
func (s *Memory) Ping(context.Context) error { return nil }

// Close implements Store. The store keeps working afterwards; there is
// nothing to release.
func (s *Memory) Close() error { return nil }

// Len returns the number of keys held, expired ones not yet dropped
// included.
func (s *Memory) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

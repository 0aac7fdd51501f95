// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package state is the small shared-state interface that lets replicas
// share what one of them learned: AbuseIPDB scores and quota, velocity
// counters, user history. Two implementations stand behind it: Memory, in
// the process (the default: one replica, make run, tests of pure logic),
// and Redis, which Valkey serves too (every replica sees the same state).
//
// Every operation takes the call's context and must return within the
// store's own short timeout: the platform waits for the answer. Callers
// decide what a failed operation means (a policy's onStoreFailure, or a
// fall back to local state); the store only reports it.
package state

import (
	"context"
	"errors"
	"time"
)

// Store is shared state with expiry. Keys are namespaced by the caller
// (see Key); every value has a TTL, so nothing is kept for ever.
type Store interface {
	// Get returns the value at key; ok is false when there is none.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Set stores value at key for ttl.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetNX stores value at key for ttl only if key holds nothing, and
	// reports whether it did: a short lock that lets one replica do work
	// the others wait for.
	SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// CompareAndSet stores value at key for ttl only if key still holds
	// old, or holds nothing when old is nil, and reports whether it did.
	// It lets replicas update one value without losing each other's
	// changes: read, change, CompareAndSet, and read again when it reports
	// false. A counter compares as its decimal text, as Get reads it.
	CompareAndSet(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)
	// Delete removes key.
	Delete(ctx context.Context, key string) error
	// Incr adds 1 to the counter at key and returns the new count. A new
	// counter expires after ttl; later increments keep that expiry (a fixed
	// window, such as a day's quota).
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// Hit records one event at now in the sliding window at key and returns
	// how many events the window (now-window, now] holds, this one
	// included: events at or before now-window are dropped first. Exact
	// across every client of the store: concurrent hits each get a
	// different count. The key expires window after the last hit. An event
	// a client with a clock ahead recorded "after" now is counted too.
	Hit(ctx context.Context, key string, now time.Time, window time.Duration) (int64, error)
	// Do runs the batch's operations, in one round trip where the store
	// can; each gets its own result or error (see Batch).
	Do(ctx context.Context, b *Batch)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases connections.
	Close() error
}

// ErrUnavailable wraps every error of a store that could not answer
// (down, timed out, refused): callers apply their failure mode.
var ErrUnavailable = errors.New("state store unavailable")

// ErrWrongType is returned when an operation meets a key that holds
// another kind of value (Incr on a value that is not a number, Hit on a
// plain value, Get on a sliding window), as Redis answers WRONGTYPE.
var ErrWrongType = errors.New("state: operation against a key holding the wrong kind of value")

// Prefix starts every key TokenGuard stores, so that a shared Redis or
// Valkey can hold other applications' keys too.
const Prefix = "tokenguard:"

// Key joins parts into a namespaced key: tokenguard:part1:part2...
func Key(parts ...string) string {
	n := len(Prefix)
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, Prefix...)
	for i, p := range parts {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, p...)
	}
	return string(b)
}

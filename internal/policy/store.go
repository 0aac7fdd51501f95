// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package policy

import (
	"sync"
	"sync/atomic"
)

// Store holds the current snapshot. It has one writer per mode (the snapshot
// controller, or the file loader), which publishes a fresh immutable snapshot
// on each change; readers on the request path only load an atomic pointer.
// Until MarkReady the snapshot is not complete, and the action endpoint
// answers ERROR instead of deciding from it.
type Store struct {
	mu    sync.Mutex
	byKey map[string]*Policy
	cur   atomic.Pointer[Snapshot]
	ready atomic.Bool
}

// NewStore returns a store holding an empty snapshot, not yet ready.
func NewStore() *Store {
	s := &Store{byKey: map[string]*Policy{}}
	s.cur.Store(&Snapshot{})
	return s
}

// Load returns the current snapshot. It never returns nil.
func (s *Store) Load() *Snapshot { return s.cur.Load() }

// Ready reports whether the first complete snapshot has been published.
func (s *Store) Ready() bool { return s.ready.Load() }

// MarkReady records that the snapshot reflects every policy known at start-up.
func (s *Store) MarkReady() { s.ready.Store(true) }

// Put adds or replaces one policy.
func (s *Store) Put(p *Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byKey[p.Key] = p
	s.publish()
}

// Delete removes the policy with the key, if present.
func (s *Store) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byKey[key]; !ok {
		return
	}
	delete(s.byKey, key)
	s.publish()
}

// Replace swaps in exactly the given policies.
func (s *Store) Replace(ps []*Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byKey = make(map[string]*Policy, len(ps))
	for _, p := range ps {
		s.byKey[p.Key] = p
	}
	s.publish()
}

// Get returns the policy with the key.
func (s *Store) Get(key string) (*Policy, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byKey[key]
	return p, ok
}

func (s *Store) publish() {
	ps := make([]*Policy, 0, len(s.byKey))
	for _, p := range s.byKey {
		ps = append(ps, p)
	}
	s.cur.Store(NewSnapshot(ps))
}

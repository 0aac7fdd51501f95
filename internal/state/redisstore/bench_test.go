// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/state"
	"github.com/tokenguard/tokenguard/internal/state/redisstore"
	"github.com/tokenguard/tokenguard/internal/state/redistest"
)

// BenchmarkOps measures one operation's round trip to a local
// redis-server, next to the in-process store.
func BenchmarkOps(b *testing.B) {
	srv := redistest.Start(b)
	stores := map[string]state.Store{
		"redis":  newStore(b, redisstore.Options{URL: srv.URL()}),
		"memory": state.NewMemory(nil),
	}
	ctx := context.Background()
	for _, name := range []string{"memory", "redis"} {
		s := stores[name]
		if err := s.Set(ctx, "tokenguard:b:k", []byte("0123456789"), time.Hour); err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/Get", func(b *testing.B) {
			for b.Loop() {
				if _, _, err := s.Get(ctx, "tokenguard:b:k"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/Set", func(b *testing.B) {
			for b.Loop() {
				if err := s.Set(ctx, "tokenguard:b:k", []byte("0123456789"), time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/Incr", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Incr(ctx, "tokenguard:b:n", time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/Hit", func(b *testing.B) {
			for b.Loop() {
				// A 10ms window keeps the set small, as a real limit's is.
				if _, err := s.Hit(ctx, "tokenguard:b:w", time.Now(), 10*time.Millisecond); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

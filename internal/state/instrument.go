// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"context"
	"time"
)

// Operation names, as Instrument reports them.
const (
	OpGet    = "get"
	OpSet    = "set"
	OpSetNX  = "setnx"
	OpCAS    = "cas"
	OpDelete = "delete"
	OpIncr   = "incr"
	OpHit    = "hit"
	OpBatch  = "batch"
	OpPing   = "ping"
)

// Ops lists every operation name, for metrics that create their series
// up front.
var Ops = []string{OpGet, OpSet, OpSetNX, OpCAS, OpDelete, OpIncr, OpHit, OpBatch, OpPing}

// Observer is told of every operation: its name (an Op constant), how
// long it took and its error (nil on success). It runs on the caller's
// goroutine and must be quick.
type Observer func(op string, d time.Duration, err error)

// Instrument returns s reporting each operation to observe. Close is not
// reported.
func Instrument(s Store, observe Observer) Store {
	return &instrumented{s: s, observe: observe}
}

type instrumented struct {
	s       Store
	observe Observer
}

func (i *instrumented) Get(ctx context.Context, key string) ([]byte, bool, error) {
	start := time.Now()
	v, ok, err := i.s.Get(ctx, key)
	i.observe(OpGet, time.Since(start), err)
	return v, ok, err
}

func (i *instrumented) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	start := time.Now()
	err := i.s.Set(ctx, key, value, ttl)
	i.observe(OpSet, time.Since(start), err)
	return err
}

func (i *instrumented) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	start := time.Now()
	ok, err := i.s.SetNX(ctx, key, value, ttl)
	i.observe(OpSetNX, time.Since(start), err)
	return ok, err
}

func (i *instrumented) CompareAndSet(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	start := time.Now()
	ok, err := i.s.CompareAndSet(ctx, key, old, value, ttl)
	i.observe(OpCAS, time.Since(start), err)
	return ok, err
}

func (i *instrumented) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := i.s.Delete(ctx, key)
	i.observe(OpDelete, time.Since(start), err)
	return err
}

func (i *instrumented) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	start := time.Now()
	n, err := i.s.Incr(ctx, key, ttl)
	i.observe(OpIncr, time.Since(start), err)
	return n, err
}

func (i *instrumented) Hit(ctx context.Context, key string, now time.Time, window time.Duration) (int64, error) {
	start := time.Now()
	n, err := i.s.Hit(ctx, key, now, window)
	i.observe(OpHit, time.Since(start), err)
	return n, err
}

// Do is observed as one operation, failed when any of the batch's
// operations failed.
func (i *instrumented) Do(ctx context.Context, b *Batch) {
	start := time.Now()
	i.s.Do(ctx, b)
	var err error
	for j := range b.ops {
		if err = b.ops[j].Err; err != nil {
			break
		}
	}
	i.observe(OpBatch, time.Since(start), err)
}

func (i *instrumented) Ping(ctx context.Context) error {
	start := time.Now()
	err := i.s.Ping(ctx)
	i.observe(OpPing, time.Since(start), err)
	return err
}

func (i *instrumented) Close() error { return i.s.Close() }

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package state

import (
	"context"
	"time"
)

// Batch is a set of reads and sliding-window hits sent to a store
// together: Redis sends them in one round trip (a pipeline), so a call
// that needs several costs one network wait instead of several. The
// operations are not atomic together; each is as atomic as on its own.
// Build a batch with Get and Hit, run it with Store.Do, then read each
// operation's result with Op.
//
// A Batch holds up to four operations in itself, without a second
// allocation.
type Batch struct {
	ops []BatchOp
	buf [4]BatchOp
}

type batchKind uint8

const (
	batchGet batchKind = iota + 1
	batchHit
)

// BatchOp is one operation of a Batch and, once the batch ran, its result.
type BatchOp struct {
	kind   batchKind
	key    string
	now    time.Time
	window time.Duration

	// Value and Found are a Get's result, as Store.Get returns them.
	Value []byte
	Found bool
	// Count is a Hit's result, as Store.Hit returns it.
	Count int64
	// Err is the operation's error: each operation fails on its own.
	Err error
}

// Get adds a read of key and returns its index.
func (b *Batch) Get(key string) int {
	return b.add(BatchOp{kind: batchGet, key: key})
}

// Hit adds a sliding-window hit (see Store.Hit) and returns its index.
func (b *Batch) Hit(key string, now time.Time, window time.Duration) int {
	return b.add(BatchOp{kind: batchHit, key: key, now: now, window: window})
}

func (b *Batch) add(op BatchOp) int {
	if b.ops == nil {
		b.ops = b.buf[:0]
	}
	b.ops = append(b.ops, op)
	return len(b.ops) - 1
}

// Len is the number of operations.
func (b *Batch) Len() int { return len(b.ops) }

// Op returns the i-th operation, with its result once the batch ran.
func (b *Batch) Op(i int) *BatchOp { return &b.ops[i] }

// Key is the operation's key.
func (o *BatchOp) Key() string { return o.key }

// IsHit reports whether the operation is a Hit (else a Get).
func (o *BatchOp) IsHit() bool { return o.kind == batchHit }

// HitArgs are a Hit's time and window.
func (o *BatchOp) HitArgs() (now time.Time, window time.Duration) { return o.now, o.window }

// DoEach runs b's operations one at a time on s: the Do of a store with no
// cheaper way.
func DoEach(ctx context.Context, s Store, b *Batch) {
	for i := range b.ops {
		o := &b.ops[i]
		if o.kind == batchHit {
			o.Count, o.Err = s.Hit(ctx, o.key, o.now, o.window)
		} else {
			o.Value, o.Found, o.Err = s.Get(ctx, o.key)
		}
	}
}

// Fail sets err as the result of every operation of b: a store that could
// not send the batch.
func (b *Batch) Fail(err error) {
	for i := range b.ops {
		b.ops[i].Err = err
	}
}

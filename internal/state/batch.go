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
	batchHits
)

// WindowHit is one sliding window a Hits operation records an event in.
type WindowHit struct {
	Key    string
	Window time.Duration
	// StopAbove, when above 0, ends the chain at this window once its
	// count exceeds StopAbove: the windows after it do not record the
	// event (a limit that refuses the call stops the limits behind it).
	StopAbove int64
}

// BatchOp is one operation of a Batch and, once the batch ran, its result.
type BatchOp struct {
	kind batchKind
	key  string // a Get's
	now  time.Time
	hits []WindowHit

	// Value and Found are a Get's result, as Store.Get returns them.
	Value []byte
	Found bool
	// Counts are a Hits operation's results, one per window it reached,
	// as Store.Hit returns them.
	Counts []int64
	// Err is the operation's error: each operation fails on its own.
	Err error
}

// Get adds a read of key and returns its index.
func (b *Batch) Get(key string) int {
	return b.add(BatchOp{kind: batchGet, key: key})
}

// Hits adds one event recorded in each window in turn, as Store.Hit would,
// stopping after a window whose count exceeds its StopAbove; it returns the
// operation's index. The windows reached are one operation for the store:
// Redis runs them in one script. Counts holds a count for each window
// reached, in order.
func (b *Batch) Hits(now time.Time, hits ...WindowHit) int {
	return b.add(BatchOp{kind: batchHits, now: now, hits: hits})
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

// Key is a Get's key.
func (o *BatchOp) Key() string { return o.key }

// IsHits reports whether the operation records hits (else it is a Get).
func (o *BatchOp) IsHits() bool { return o.kind == batchHits }

// HitsArgs are a Hits operation's time and windows.
func (o *BatchOp) HitsArgs() (now time.Time, hits []WindowHit) { return o.now, o.hits }

// DoEach runs b's operations one at a time on s: the Do of a store with no
// cheaper way. The windows of a Hits operation are hit one after another.
func DoEach(ctx context.Context, s Store, b *Batch) {
	for i := range b.ops {
		o := &b.ops[i]
		if o.kind != batchHits {
			o.Value, o.Found, o.Err = s.Get(ctx, o.key)
			continue
		}
		counts := make([]int64, 0, len(o.hits))
		for _, h := range o.hits {
			n, err := s.Hit(ctx, h.Key, o.now, h.Window)
			if err != nil {
				o.Err = err
				break
			}
			counts = append(counts, n)
			if h.StopAbove > 0 && n > h.StopAbove {
				break
			}
		}
		o.Counts = counts
	}
}

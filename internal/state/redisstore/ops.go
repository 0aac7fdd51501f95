// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenguard/tokenguard/internal/state"
)

// incrScript adds 1 to a counter and sets its expiry only when it has none
// (a new counter): later increments keep the window's end. Atomic, so two
// replicas cannot both see a new counter. PTTL rather than INCR's result
// so that a counter left without expiry gets one too; PEXPIRE ... NX would
// need Redis 7.
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// casScript sets KEYS[1] to ARGV[3] for ARGV[4] ms only if it holds
// ARGV[2] (ARGV[1] = "1") or nothing (ARGV[1] = "0"). GET of a sorted set
// fails with WRONGTYPE, as the other operations do.
var casScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1
`)

// ctx bounds one operation by the store's timeout.
func (s *Store) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, s.opTimeout)
}

// fail wraps err: state.ErrWrongType for a key holding another kind of
// value, state.ErrUnavailable for everything else (refused, timed out,
// closed, loading, read-only replica...), so that callers apply their
// failure mode.
func fail(op string, err error) error {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		if strings.Contains(msg, "WRONGTYPE") || strings.Contains(msg, "not an integer") {
			return fmt.Errorf("redis %s: %w: %w", op, state.ErrWrongType, err)
		}
	}
	return fmt.Errorf("redis %s: %w: %w", op, state.ErrUnavailable, err)
}

// ttlMillis returns ttl in whole milliseconds, rounded up (Redis's
// smallest unit), or an error when it is not positive.
func ttlMillis(op string, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("state: %s: ttl must be positive, got %s", op, ttl)
	}
	return int64((ttl + time.Millisecond - 1) / time.Millisecond), nil
}

// Get implements state.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	b, err := s.c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fail("get", err)
	}
	return b, true, nil
}

// Set implements state.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ms, err := ttlMillis("set", ttl)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := s.c.Set(ctx, key, value, time.Duration(ms)*time.Millisecond).Err(); err != nil {
		return fail("set", err)
	}
	return nil
}

// SetNX implements state.Store (SET key value PX ttl NX).
func (s *Store) SetNX(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	ms, err := ttlMillis("setnx", ttl)
	if err != nil {
		return false, err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	ok, err := s.c.SetNX(ctx, key, value, time.Duration(ms)*time.Millisecond).Result()
	if err != nil {
		return false, fail("setnx", err)
	}
	return ok, nil
}

// CompareAndSet implements state.Store with one script run (EVALSHA).
func (s *Store) CompareAndSet(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	ms, err := ttlMillis("cas", ttl)
	if err != nil {
		return false, err
	}
	held := "0"
	if old != nil {
		held = "1"
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := casScript.Run(ctx, s.c, []string{key}, held, old, value, ms).Int64()
	if err != nil {
		return false, fail("cas", err)
	}
	return n == 1, nil
}

// Delete implements state.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := s.c.Del(ctx, key).Err(); err != nil {
		return fail("delete", err)
	}
	return nil
}

// Incr implements state.Store with one script run (EVALSHA).
func (s *Store) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	ms, err := ttlMillis("incr", ttl)
	if err != nil {
		return 0, err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := incrScript.Run(ctx, s.c, []string{key}, ms).Int64()
	if err != nil {
		return 0, fail("incr", err)
	}
	return n, nil
}

// Hit implements state.Store with one script run (EVALSHA): a chain of
// one window. Times have microsecond precision.
func (s *Store) Hit(ctx context.Context, key string, now time.Time, window time.Duration) (int64, error) {
	keys, args, err := s.hitsArgs(now, []state.WindowHit{{Key: key, Window: window}})
	if err != nil {
		return 0, err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	counts, err := hitsScript.Run(ctx, s.c, keys, args...).Int64Slice()
	if err != nil {
		return 0, fail("hit", err)
	}
	if len(counts) != 1 {
		return 0, fail("hit", fmt.Errorf("%d counts for one window", len(counts)))
	}
	return counts[0], nil
}

// hitsScript is an exact sliding window per key, over a chain of windows
// (KEYS): a sorted set of events scored by time (microseconds). One event
// (score ARGV[1], a member ARGV[2] unique across clients) is recorded in
// each window in turn: the events at or before the window's start are
// dropped first, and the key is kept for one window after the last
// event. Per window, ARGV holds its start, its TTL in ms and a bound:
// after a window whose count exceeds its bound (when above 0), the chain
// stops. It returns the counts of the windows reached. Arithmetic is done
// by the caller: Lua numbers turned into command arguments could lose
// digits.
var hitsScript = redis.NewScript(`
local out = {}
for i = 1, #KEYS do
  local a = 3 + (i - 1) * 3
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[a])
  redis.call('ZADD', KEYS[i], ARGV[1], ARGV[2])
  local n = redis.call('ZCARD', KEYS[i])
  redis.call('PEXPIRE', KEYS[i], ARGV[a + 1])
  out[i] = n
  local bound = tonumber(ARGV[a + 2])
  if bound > 0 and n > bound then
    break
  end
end
return out
`)

// hitsArgs are hitsScript's keys and arguments for an event at now.
func (s *Store) hitsArgs(now time.Time, hits []state.WindowHit) (keys []string, args []any, err error) {
	at := now.UnixMicro()
	score := strconv.FormatInt(at, 10)
	member := score + ":" + s.memberID + ":" + strconv.FormatUint(s.seq.Add(1), 36)
	keys = make([]string, len(hits))
	args = make([]any, 0, 2+3*len(hits))
	args = append(args, score, member)
	for i, h := range hits {
		ms, err := ttlMillis("hit", h.Window)
		if err != nil {
			return nil, nil, err
		}
		keys[i] = h.Key
		args = append(args, strconv.FormatInt(at-h.Window.Microseconds(), 10), ms, h.StopAbove)
	}
	return keys, args, nil
}

// Do implements state.Store with one pipeline: one round trip for the
// whole batch, bounded by one operation's timeout. The windows of a Hits
// operation are one script run (EVALSHA); when the server has lost the
// script (a restart, SCRIPT FLUSH) it did not run, and is sent again on
// its own, which loads it.
func (s *Store) Do(ctx context.Context, b *state.Batch) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	type sent struct {
		cmd  redis.Cmder
		keys []string // a Hits operation's, to send it again
		args []any
	}
	var sentBuf [4]sent
	cmds := sentBuf[:0]
	pipe := s.c.Pipeline()
	for i := range b.Len() {
		o := b.Op(i)
		if !o.IsHits() {
			cmds = append(cmds, sent{cmd: pipe.Get(ctx, o.Key())})
			continue
		}
		keys, args, err := s.hitsArgs(o.HitsArgs())
		if err != nil {
			o.Err = err
			cmds = append(cmds, sent{})
			continue
		}
		cmds = append(cmds, sent{cmd: hitsScript.EvalSha(ctx, pipe, keys, args...), keys: keys, args: args})
	}
	_, _ = pipe.Exec(ctx) // each command's error is read below
	for i, c := range cmds {
		o := b.Op(i)
		switch cmd := c.cmd.(type) {
		case nil:
		case *redis.StringCmd:
			v, err := cmd.Bytes()
			switch {
			case errors.Is(err, redis.Nil):
			case err != nil:
				o.Err = fail("get", err)
			default:
				o.Value, o.Found = v, true
			}
		case *redis.Cmd:
			counts, err := cmd.Int64Slice()
			if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
				counts, err = hitsScript.Run(ctx, s.c, c.keys, c.args...).Int64Slice()
			}
			if err != nil {
				o.Err = fail("hit", err)
				continue
			}
			o.Counts = counts
		}
	}
}

// Ping implements state.Store.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fail("ping", err)
	}
	return nil
}

// Close implements state.Store. Operations after it fail with
// state.ErrUnavailable.
func (s *Store) Close() error { return s.c.Close() }

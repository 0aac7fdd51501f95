// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package redisstore

import (
	"context"
	"time"
)

// PTTLForTest returns a key's remaining TTL as the server reports it.
func PTTLForTest(ctx context.Context, s *Store, key string) (time.Duration, error) {
	return s.c.PTTL(ctx, key).Result()
}

// DoForTest runs a raw command.
func DoForTest(ctx context.Context, s *Store, args ...any) error {
	return s.c.Do(ctx, args...).Err()
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package poll runs a check at a fixed interval until a context ends. The
// file watchers (GeoIP databases, policy files, the auth config) poll
// instead of using inotify: mounted ConfigMaps and Secrets are replaced by
// symlink swaps that inotify watches on files miss.
package poll

import (
	"context"
	"time"
)

// Every calls fn every interval, first after one interval, until ctx ends.
func Every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package redisstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	"github.com/redis/go-redis/v9"
)

// SetLogger sends go-redis's own messages (mostly failed dials, which
// repeat while the server is down) to log at V(1) instead of stderr: the
// operation error metrics already count those failures. It applies to
// every client in the process.
func SetLogger(log logr.Logger) { redis.SetLogger(logAdapter{log.V(1)}) }

type logAdapter struct{ log logr.Logger }

func (a logAdapter) Printf(_ context.Context, format string, v ...any) {
	if a.log.Enabled() {
		a.log.Info(strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
	}
}

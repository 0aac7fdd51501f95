// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

//go:build !unix

package webhook_test

import "time"

func cpuTime() time.Duration { return 0 }

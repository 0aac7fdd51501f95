// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

//go:build unix

// Package cputime reads the CPU time this process has used, for the
// benchmarks and the load tool that report CPU per call.
package cputime

import (
	"syscall"
	"time"
)

// Used is the CPU time this process has used (user and system); 0 where
// it cannot be read.
func Used() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

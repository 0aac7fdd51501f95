// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

//go:build !unix

// Package cputime reads the CPU time this process has used, for the
// benchmarks and the load tool that report CPU per call.
package cputime

import "time"

// Used is 0: the CPU time cannot be read here.
func Used() time.Duration { return 0 }

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package testutil

import (
	"slices"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// Logs collects what a logger writes, one funcr line (its key/value text,
// without the prefix) per call, for tests that assert what was logged and
// how often. Lines at V(1) and above are dropped (funcr's default
// verbosity). The zero value is ready; it is safe for concurrent use.
type Logs struct {
	mu    sync.Mutex
	lines []string
}

// Logger returns a logger that writes into l.
func (l *Logs) Logger() logr.Logger {
	return funcr.New(func(_, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, args)
	}, funcr.Options{})
}

// Lines returns a copy of the lines written so far.
func (l *Logs) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// Count returns how many lines contain substr.
func (l *Logs) Count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

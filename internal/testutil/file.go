// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package testutil

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot is the repository's top folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	if !filepath.IsAbs(path) {
		path = filepath.Join(RepoRoot(), path)
	}
	b, err := os.ReadFile(path) //nolint:gosec // test fixture
	if err != nil {
		t.Fatal(err)
	}
	return b
}

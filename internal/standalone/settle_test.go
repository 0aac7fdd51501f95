// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package standalone_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/standalone"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

// The writer pauses for less than the settle interval, with room for a
// loaded machine: the guarantee is for pauses shorter than Settle.
const (
	writerPause = 300 * time.Millisecond
	settle      = time.Second
)

// sampleChunks is the seed policy cut where each prefix is itself a valid,
// weaker policy: served as written so far, the first would lift the
// high-risk block (deny: {scoreAbove: 75}).
func sampleChunks(t *testing.T) (full string, chunks []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "config", "samples", "asgardeo-use-case.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	full = string(b)
	rest := full
	for _, cut := range []string{"    deny:\n", "  accessHours:\n", "  denial:\n"} {
		i := strings.Index(rest, cut)
		if i < 0 {
			t.Fatalf("sample has no %q", cut)
		}
		chunks = append(chunks, rest[:i])
		rest = rest[i:]
	}
	chunks = append(chunks, rest)
	first := compile(t, chunks[0])
	if first.Policies[0].Abuse.DenyAbove != -1 {
		t.Fatalf("the first chunk should compile without the deny threshold: %+v", first.Policies[0].Abuse)
	}
	return full, chunks
}

// compile loads content as one policy file and returns what would be served.
func compile(t *testing.T, content string) *policy.Snapshot {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	write(t, p, content)
	store := policy.NewStore()
	if err := (&standalone.Loader{Paths: []string{p}, Store: store, Log: logr.Discard()}).Load(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, content)
	}
	return store.Load()
}

// writeSlowly writes chunks to path in place (no temporary file), pausing
// between them, as an editor or a careless script might.
func writeSlowly(t *testing.T, path string, chunks []string) <-chan struct{} {
	_, done := writeSlowlyStarted(t, path, chunks)
	return done
}

// writeSlowlyStarted is writeSlowly that also says when the first chunk
// is on disk.
func writeSlowlyStarted(t *testing.T, path string, chunks []string) (started, done <-chan struct{}) {
	first, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		once := sync.OnceFunc(func() { close(first) })
		defer once()
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600) //nolint:gosec // test file
		if err != nil {
			t.Error(err)
			return
		}
		defer func() { _ = f.Close() }()
		for i, c := range chunks {
			if i > 0 {
				time.Sleep(writerPause)
			}
			if _, err := f.WriteString(c); err != nil {
				t.Error(err)
				return
			}
			once()
		}
	}()
	return first, finished
}

// published records every snapshot a loader publishes.
type published struct {
	mu    sync.Mutex
	snaps []*policy.Snapshot
}

func (p *published) add(s *policy.Snapshot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.snaps = append(p.snaps, s)
}

func (p *published) all() []*policy.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*policy.Snapshot(nil), p.snaps...)
}

// A policy file rewritten in place, in chunks with pauses shorter than the
// settle interval, is never served half-written: the only set published
// after the start is the complete file's.
func TestPartialWriteNeverServed(t *testing.T) {
	t.Parallel()
	full, chunks := sampleChunks(t)
	want := compile(t, full)
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	write(t, path, policyYAML("asgardeo-use-case", "KP"))
	store := policy.NewStore()
	var pub published
	l := &standalone.Loader{Paths: []string{dir}, Store: store, Log: logr.Discard(), Settle: settle}
	if err := l.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	l.OnChange = pub.add
	go l.Watch(t.Context(), 20*time.Millisecond)

	<-writeSlowly(t, path, chunks)
	deadline := time.Now().Add(10 * time.Second)
	for !reflect.DeepEqual(store.Load().Policies, want.Policies) {
		if time.Now().After(deadline) {
			t.Fatalf("the complete file was not served: %+v", store.Load().Policies[0].Abuse)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, s := range pub.all() {
		if !reflect.DeepEqual(s.Policies, want.Policies) {
			t.Errorf("published set %d is not the complete file's: abuse %+v, access hours %+v", i, s.Policies[0].Abuse, s.Policies[0].AccessHours)
		}
	}
}

// At start, a policy file being written is not served until it has settled.
func TestStartWaitsForPartialWrite(t *testing.T) {
	t.Parallel()
	full, chunks := sampleChunks(t)
	want := compile(t, full)
	path := filepath.Join(t.TempDir(), "policy.yaml")
	started, done := writeSlowlyStarted(t, path, chunks)
	<-started // the first chunk is on disk
	store := policy.NewStore()
	var pub published
	l := &standalone.Loader{Paths: []string{path}, Store: store, Log: logr.Discard(), Settle: settle, OnChange: pub.add}
	if err := l.LoadSettled(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-done
	if snaps := pub.all(); len(snaps) != 1 || !reflect.DeepEqual(snaps[0].Policies, want.Policies) {
		for i, s := range snaps {
			t.Errorf("published set %d: abuse %+v", i, s.Policies[0].Abuse)
		}
		t.Fatalf("published %d sets, want only the complete file's", len(snaps))
	}
	if !store.Ready() {
		t.Error("store not ready after the start-up load")
	}
}

// A Secret key written in place in two parts is never served half-written.
func TestPartialSecretKeyNeverServed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pdir, sdir := filepath.Join(dir, "policies"), filepath.Join(dir, "secrets")
	write(t, filepath.Join(pdir, "a.yaml"), policyYAML("a", "KP"))
	key := filepath.Join(sdir, "abuseipdb", "apiKey")
	write(t, key, "old-key")
	store := policy.NewStore()
	var pub published
	l := &standalone.Loader{Paths: []string{pdir}, SecretsDir: sdir, Store: store, Log: logr.Discard(), Settle: settle}
	if err := l.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	l.OnChange = pub.add
	go l.Watch(t.Context(), 20*time.Millisecond)

	<-writeSlowly(t, key, []string{"new-key-", "second-half"})
	deadline := time.Now().Add(10 * time.Second)
	for store.Load().Policies[0].Abuse.APIKey.Reveal() != "new-key-second-half" {
		if time.Now().After(deadline) {
			t.Fatal("the rotated key was not served")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range pub.all() {
		if k := s.Policies[0].Abuse.APIKey.Reveal(); k != "new-key-second-half" {
			t.Errorf("served key %q", k)
		}
	}
}

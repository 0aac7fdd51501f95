// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package iplist

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tokenguard/tokenguard/internal/policy"
)

// Spec is what an IPList's spec says, without Kubernetes types. Its sources
// are united; at least one is set.
type Spec struct {
	// Entries are addresses, networks and ranges, one per entry.
	Entries []string
	// ConfigMaps are keys of ConfigMaps in the list's namespace, each in
	// the line format Read takes.
	ConfigMaps []ConfigMapRef
	// URL is a list fetched over HTTP(S) and refreshed.
	URL *URLSource
	// File is a path (standalone mode).
	File string
}

// ConfigMapRef is one key of a ConfigMap.
type ConfigMapRef struct {
	Name, Key string
}

// URLSource is a list fetched from a URL.
type URLSource struct {
	URL string
	// Refresh is the interval between fetches (DefaultRefresh when zero).
	Refresh time.Duration
	// MaxBytes bounds the response body (DefaultMaxBytes when zero).
	MaxBytes int64
	// Timeout bounds one fetch (DefaultTimeout when zero).
	Timeout time.Duration
}

// Defaults for unset URL fields: the CRD's defaults.
const (
	DefaultRefresh  = time.Hour
	DefaultMaxBytes = 16 << 20
	DefaultTimeout  = 30 * time.Second
	// MaxFileBytes bounds a list file.
	MaxFileBytes = 256 << 20
	// RetryMin is the first pause after a failed fetch; it doubles after
	// each further failure, up to the refresh interval.
	RetryMin = 15 * time.Second
)

// Reasons say why a list is or is not ready; they are the IPList Ready
// condition's reasons.
const (
	ReasonLoaded            = "Loaded"
	ReasonFetchFailed       = "FetchFailed"
	ReasonConfigMapNotFound = "ConfigMapNotFound"
	ReasonInvalidEntries    = "InvalidEntries"
	ReasonTooLarge          = "TooLarge"
	ReasonFileNotSupported  = "FileNotSupported"
	ReasonFileUnreadable    = "FileUnreadable"
	ReasonReadFailed        = "ReadFailed"
)

// ErrNotFound is what a ConfigMapReader returns for a ConfigMap or key that
// does not exist (see NotFound).
var ErrNotFound = errors.New("not found")

type notFound struct{ msg string }

func (e notFound) Error() string      { return e.msg }
func (notFound) Is(target error) bool { return target == ErrNotFound }

// NotFound returns an error that reads msg and is ErrNotFound.
func NotFound(msg string) error { return notFound{msg} }

// ConfigMapReader reads ConfigMaps of the list's namespace.
type ConfigMapReader interface {
	// Version returns a string that changes whenever the ConfigMap does (its
	// resourceVersion), or an error wrapping ErrNotFound. It should be
	// cheap (a cache): Value is called only when it changed.
	Version(ctx context.Context, name string) (string, error)
	// Value returns one key of the ConfigMap, or an error wrapping
	// ErrNotFound when the ConfigMap or the key does not exist.
	Value(ctx context.Context, name, key string) ([]byte, error)
}

// Env is what loading needs from its surroundings. A nil reader means the
// source is not supported where the list is loaded.
type Env struct {
	ConfigMaps ConfigMapReader
	// ReadFile reads a file source; nil: file sources are refused
	// (FileNotSupported), as in Kubernetes.
	ReadFile func(path string) ([]byte, error)
	// HTTP fetches URL sources (http.DefaultClient when nil).
	HTTP *http.Client
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Content is a list's content as served: immutable.
type Content struct {
	Set *policy.NetSet
	// Entries is the number of distinct networks.
	Entries int
	// LoadedAt is when this content was built.
	LoadedAt time.Time
}

// Status is the outcome of the latest load.
type Status struct {
	// Ready is true when every source loaded in the latest pass.
	Ready bool
	// Reason is one of the Reason constants; Message says what happened,
	// naming the source and, when a source fails, what is served instead
	// and since when it fails.
	Reason, Message string
	// LastSuccess is when every source last loaded (zero: never).
	LastSuccess time.Time
	// FailingSince is when the sources started failing (zero when Ready).
	FailingSince time.Time
}

// Result is the outcome of one Load.
type Result struct {
	Status
	// Changed is true when the content served changed (first load
	// included): the policies that reference the list must be compiled
	// again.
	Changed bool
	// RefreshIn is when Load should run again for a URL source (zero: only
	// when something changes).
	RefreshIn time.Duration
	// Retry is true when a source failed for a reason worth retrying soon
	// (an API server error), not because of what it holds.
	Retry bool
	// Failures are the sources that failed in this pass, in spec order.
	Failures []Failure
}

// Source kinds, as Failure.Source names them.
const (
	SourceEntries   = "entries"
	SourceConfigMap = "configMap"
	SourceFile      = "file"
	SourceURL       = "url"
)

// Failure is one source that did not load.
type Failure struct {
	// Source is SourceEntries, SourceConfigMap, SourceFile or SourceURL.
	Source string
	Reason string
	Err    error
}

// List is one list's state on one replica: the content it serves, and for
// each source its last good content, so that a failing source keeps what
// it last loaded (last-known-good). Load runs one pass at a time (the
// caller's to ensure); Content may be called at any time.
type List struct {
	mu      sync.Mutex
	content *Content // nil until every source has loaded once
	status  Status
	// attempted is true once a Load finished.
	attempted bool

	// sources hold each source's last good content, by source identity;
	// a source left out of the spec is dropped.
	sources map[string]*sourceState
	// built is the fingerprint of the sources content was built from.
	built [32]byte
}

type sourceState struct {
	set     *policy.NetSet
	sum     [32]byte // of the raw content
	version string   // ConfigMap resourceVersion it was read at
	loaded  bool

	// URL sources.
	etag, lastModified string
	nextFetch          time.Time
	failures           int
}

// Content returns the content served, or nil when the list has not loaded
// completely yet.
func (l *List) Content() *Content {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.content
}

// Status returns the outcome of the latest Load, and whether one finished.
func (l *List) Status() (Status, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status, l.attempted
}

// sourceError is a source that did not load.
type sourceError struct {
	kind   string
	reason string
	source string
	err    error
	// transient failures (an API error) are retried by the caller.
	transient bool
}

func (e *sourceError) Error() string { return e.source + ": " + e.err.Error() }

// Load reads every source of spec that is due (URL sources by their
// refresh interval, after a failure with a backoff; the others each time,
// parsed again only when they changed) and serves their union when every
// source has content. A source that fails keeps its last good content and
// the list keeps serving; the Status says what failed and since when. A
// list none of whose sources failed is Ready.
func (l *List) Load(ctx context.Context, spec Spec, env Env) Result {
	now := env.now()
	old := l.sources
	next := map[string]*sourceState{}
	var errs []*sourceError
	keep := func(id string) *sourceState {
		st := old[id]
		if st == nil {
			st = &sourceState{}
		}
		next[id] = st
		return st
	}
	var refreshIn time.Duration

	fail := func(kind string, err *sourceError) {
		err.kind = kind
		errs = append(errs, err)
	}
	if len(spec.Entries) > 0 {
		st := keep("entries")
		if err := loadEntries(st, spec.Entries); err != nil {
			fail(SourceEntries, err)
		}
	}
	for _, ref := range spec.ConfigMaps {
		st := keep("configMap\x00" + ref.Name + "\x00" + ref.Key)
		if err := loadConfigMap(ctx, st, ref, env); err != nil {
			fail(SourceConfigMap, err)
		}
	}
	if spec.File != "" {
		st := keep("file\x00" + spec.File)
		if err := loadFile(st, spec.File, env); err != nil {
			fail(SourceFile, err)
		}
	}
	if u := spec.URL; u != nil {
		src := *u
		if src.Refresh <= 0 {
			src.Refresh = DefaultRefresh
		}
		if src.MaxBytes <= 0 {
			src.MaxBytes = DefaultMaxBytes
		}
		if src.Timeout <= 0 {
			src.Timeout = DefaultTimeout
		}
		st := keep(fmt.Sprintf("url\x00%s\x00%d", src.URL, src.MaxBytes))
		if !st.loaded || !now.Before(st.nextFetch) {
			err := fetch(ctx, st, src, env)
			done := env.now()
			if err != nil {
				fail(SourceURL, err)
				st.failures++
				st.nextFetch = done.Add(min(src.Refresh, RetryMin<<min(st.failures-1, 16)))
			} else {
				st.failures = 0
				st.nextFetch = done.Add(src.Refresh)
			}
		}
		refreshIn = max(st.nextFetch.Sub(env.now()), time.Second)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.sources = next
	l.attempted = true
	res := Result{RefreshIn: refreshIn}
	complete := true
	for _, st := range next {
		complete = complete && st.loaded
	}
	if complete {
		sum := fingerprint(next)
		if l.content == nil || sum != l.built {
			l.content = union(next, now)
			l.built = sum
			res.Changed = true
		}
	}
	st := &l.status
	if len(errs) == 0 {
		*st = Status{Ready: true, Reason: ReasonLoaded, LastSuccess: now,
			Message: fmt.Sprintf("%d entries loaded from %s", l.content.Entries, describe(spec))}
	} else {
		if st.Ready || st.FailingSince.IsZero() {
			st.FailingSince = now
		}
		st.Ready, st.Reason = false, errs[0].reason
		st.Message = l.failureMessage(errs)
		for _, e := range errs {
			res.Retry = res.Retry || e.transient
			res.Failures = append(res.Failures, Failure{Source: e.kind, Reason: e.reason, Err: e})
		}
	}
	res.Status = *st
	return res
}

func (l *List) failureMessage(errs []*sourceError) string {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Error()
	}
	msg := strings.Join(parts, "; ")
	since := l.status.FailingSince.UTC().Format(time.RFC3339)
	if c := l.content; c != nil {
		return fmt.Sprintf("%s (failing since %s); serving the previous content: %d entries loaded at %s",
			msg, since, c.Entries, c.LoadedAt.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%s (failing since %s); never loaded: policies that reference the list apply the missing-list rule", msg, since)
}

func describe(spec Spec) string {
	var parts []string
	if n := len(spec.Entries); n > 0 {
		parts = append(parts, fmt.Sprintf("%d inline entries", n))
	}
	if n := len(spec.ConfigMaps); n == 1 {
		parts = append(parts, "1 ConfigMap key")
	} else if n > 1 {
		parts = append(parts, fmt.Sprintf("%d ConfigMap keys", n))
	}
	if spec.File != "" {
		parts = append(parts, "file "+spec.File)
	}
	if spec.URL != nil {
		parts = append(parts, Redact(spec.URL.URL))
	}
	if len(parts) == 0 {
		return "no source"
	}
	return strings.Join(parts, ", ")
}

// fingerprint identifies the sources' contents, to tell whether the union
// must be built again.
func fingerprint(srcs map[string]*sourceState) [32]byte {
	ids := make([]string, 0, len(srcs))
	for id := range srcs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		_, _ = h.Write([]byte(id))
		_, _ = h.Write(srcs[id].sum[:])
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func union(srcs map[string]*sourceState, now time.Time) *Content {
	sets := make([]*policy.NetSet, 0, len(srcs))
	for _, st := range srcs {
		sets = append(sets, st.set)
	}
	set := policy.Union(sets...)
	return &Content{Set: set, Entries: set.Len(), LoadedAt: now}
}

// parse parses raw content into st unless it is what st already holds.
func parse(st *sourceState, raw []byte, source string) *sourceError {
	sum := sha256.Sum256(raw)
	if st.loaded && sum == st.sum {
		return nil
	}
	var b policy.NetSetBuilder
	if _, err := Read(bytes.NewReader(raw), 0, b.Add); err != nil {
		return classify(err, ReasonInvalidEntries, source)
	}
	st.set, st.sum, st.loaded = b.Build(), sum, true
	return nil
}

// classify names a read failure's reason.
func classify(err error, fallback, source string) *sourceError {
	var se *SyntaxError
	var tl *TooLargeError
	switch {
	case errors.As(err, &se):
		return &sourceError{reason: ReasonInvalidEntries, source: source, err: err}
	case errors.As(err, &tl):
		return &sourceError{reason: ReasonTooLarge, source: source, err: err}
	}
	return &sourceError{reason: fallback, source: source, err: err}
}

func loadEntries(st *sourceState, entries []string) *sourceError {
	h := sha256.New()
	for _, e := range entries {
		_, _ = h.Write([]byte(e))
		_, _ = h.Write([]byte{0})
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	if st.loaded && sum == st.sum {
		return nil
	}
	var b policy.NetSetBuilder
	for i, e := range entries {
		if err := ParseEntry(e, b.Add); err != nil {
			return &sourceError{reason: ReasonInvalidEntries, source: "entries",
				err: fmt.Errorf("entry %d: %q: %w", i, clip(e), err)}
		}
	}
	st.set, st.sum, st.loaded = b.Build(), sum, true
	return nil
}

func loadConfigMap(ctx context.Context, st *sourceState, ref ConfigMapRef, env Env) *sourceError {
	source := fmt.Sprintf("ConfigMap %s key %q", ref.Name, ref.Key)
	if env.ConfigMaps == nil {
		return &sourceError{reason: ReasonReadFailed, source: source, err: errors.New("ConfigMaps are read only in Kubernetes; use file in standalone mode")}
	}
	version, err := env.ConfigMaps.Version(ctx, ref.Name)
	if err != nil {
		return cmError(source, err)
	}
	if st.loaded && version != "" && version == st.version {
		return nil
	}
	raw, err := env.ConfigMaps.Value(ctx, ref.Name, ref.Key)
	if err != nil {
		return cmError(source, err)
	}
	if err := parse(st, raw, source); err != nil {
		return err
	}
	st.version = version
	return nil
}

func cmError(source string, err error) *sourceError {
	if errors.Is(err, ErrNotFound) {
		return &sourceError{reason: ReasonConfigMapNotFound, source: source, err: err}
	}
	return &sourceError{reason: ReasonReadFailed, source: source, err: err, transient: true}
}

func loadFile(st *sourceState, path string, env Env) *sourceError {
	source := "file " + path
	if env.ReadFile == nil {
		return &sourceError{reason: ReasonFileNotSupported, source: source,
			err: errors.New("file sources are read only in standalone mode; use configMaps or url in Kubernetes")}
	}
	raw, err := env.ReadFile(path)
	if err != nil {
		return &sourceError{reason: ReasonFileUnreadable, source: source, err: err}
	}
	if int64(len(raw)) > MaxFileBytes {
		return &sourceError{reason: ReasonTooLarge, source: source, err: &TooLargeError{Limit: MaxFileBytes}}
	}
	return parse(st, raw, source)
}

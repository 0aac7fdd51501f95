// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/metrics"
)

// Authentication types, as the platform names them.
const (
	AuthNone   = "NONE"
	AuthBasic  = "BASIC"
	AuthBearer = "BEARER"
	AuthAPIKey = "API_KEY"
)

// AuthConfig has the shape of the platform's own action authentication
// object, so the same values can be pasted into both and mounted from a Secret:
//
//	{type: API_KEY, properties: {header: x-api-key, value: ...}}
//	{type: BASIC, properties: {username: ..., password: ...}}
//	{type: BEARER, properties: {accessToken: ...}}
//	{type: NONE}
type AuthConfig struct {
	Type       string            `json:"type"`
	Properties map[string]string `json:"properties,omitempty"`
}

var apiKeyHeader = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-.]+$`)

// LoadAuthConfig reads a YAML or JSON authentication file.
func LoadAuthConfig(path string) (*AuthConfig, error) {
	b, err := os.ReadFile(path) //nolint:gosec // operator-supplied flag
	if err != nil {
		return nil, err
	}
	return parseAuthConfig(b, path)
}

func parseAuthConfig(b []byte, path string) (*AuthConfig, error) {
	var c AuthConfig
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("action auth config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("action auth config %s: %w", path, err)
	}
	return &c, nil
}

// Validate checks the type and its required properties.
func (c *AuthConfig) Validate() error {
	need := map[string][]string{
		AuthNone:   nil,
		AuthBasic:  {"username", "password"},
		AuthBearer: {"accessToken"},
		AuthAPIKey: {"header", "value"},
	}
	props, ok := need[strings.ToUpper(c.Type)]
	if !ok {
		return fmt.Errorf("type %q is not one of NONE, BASIC, BEARER, API_KEY", c.Type)
	}
	c.Type = strings.ToUpper(c.Type)
	var missing []string
	for _, p := range props {
		if c.Properties[p] == "" {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("type %s needs properties %s", c.Type, strings.Join(missing, ", "))
	}
	if c.Type == AuthAPIKey && !apiKeyHeader.MatchString(c.Properties["header"]) {
		return errors.New("API_KEY header must match ^[a-zA-Z0-9][a-zA-Z0-9-.]+$, as the platform requires")
	}
	return nil
}

// authenticator checks a request's credentials in constant time. Expected
// values are kept as SHA-256 digests, so comparisons take the same time
// whatever the lengths.
type authenticator struct {
	typ    string
	header string
	want   [][32]byte
}

func newAuthenticator(c *AuthConfig) *authenticator {
	a := &authenticator{typ: c.Type}
	switch c.Type {
	case AuthBasic:
		a.want = [][32]byte{sha256.Sum256([]byte(c.Properties["username"])), sha256.Sum256([]byte(c.Properties["password"]))}
	case AuthBearer:
		a.want = [][32]byte{sha256.Sum256([]byte(c.Properties["accessToken"]))}
	case AuthAPIKey:
		a.header = c.Properties["header"]
		a.want = [][32]byte{sha256.Sum256([]byte(c.Properties["value"]))}
	}
	return a
}

func equal(got string, want [32]byte) bool {
	g := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(g[:], want[:]) == 1
}

func (a *authenticator) ok(r *http.Request) bool {
	switch a.typ {
	case AuthNone:
		return true
	case AuthBasic:
		u, p, ok := r.BasicAuth()
		// Compare both, always, so timing does not tell which one was wrong.
		uok, pok := equal(u, a.want[0]), equal(p, a.want[1])
		return ok && uok && pok
	case AuthBearer:
		v := r.Header.Get("Authorization")
		const prefix = "Bearer " // the scheme is matched by ASCII case only
		if len(v) < len(prefix) || !engine.EqualFoldASCII(v[:len(prefix)], prefix) {
			equal("", a.want[0])
			return false
		}
		return equal(v[len(prefix):], a.want[0])
	case AuthAPIKey:
		return equal(r.Header.Get(a.header), a.want[0])
	}
	return false
}

// Auth wraps the action handler with the configured authentication and can
// reload its file when it changes (a rotated Secret).
type Auth struct {
	// Settle is how long the file must keep the same content before a
	// change is applied, so that a file caught mid-write (a truncated
	// password is still a valid config) is not; zero means one poll
	// interval. Set it before Watch.
	Settle time.Duration
	// Reloads, when set, records the file's reload outcomes. Set it before
	// Watch.
	Reloads *metrics.Reloads

	path string
	cur  atomic.Pointer[authenticator]
	// sum is the SHA-256 of the file content in force, and rejected of the
	// last content that failed to load; only Watch uses them after NewAuth.
	sum, rejected [32]byte
}

// NewAuth loads the authentication config from path.
func NewAuth(path string) (*Auth, *AuthConfig, error) {
	b, err := os.ReadFile(path) //nolint:gosec // operator-supplied flag
	if err != nil {
		return nil, nil, err
	}
	c, err := parseAuthConfig(b, path)
	if err != nil {
		return nil, nil, err
	}
	a := &Auth{path: path, sum: sha256.Sum256(b)}
	a.cur.Store(newAuthenticator(c))
	return a, c, nil
}

// NewAuthFromConfig uses a config held in memory.
func NewAuthFromConfig(c *AuthConfig) (*Auth, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	a := &Auth{}
	a.cur.Store(newAuthenticator(c))
	return a, nil
}

// Type returns the authentication type in force.
func (a *Auth) Type() string { return a.cur.Load().typ }

var unauthorized = []byte(`{"actionStatus":"ERROR","errorMessage":"unauthorized","errorDescription":"The request did not carry valid credentials for the token policy service."}`)

// Wrap returns next behind the authentication check; a failed check gets 401
// with an ERROR body.
func (a *Auth) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.cur.Load().ok(r) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write(unauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Watch reloads the file when its content changes and has stayed the same
// for the settle interval; mounted Secrets are replaced by symlink swaps, so
// the content, not the modification time, tells a change. Content that does
// not load is reported once, to Reloads and the log, and the previous
// credentials kept; it is not tried again until it changes. Watch returns
// when ctx ends.
func (a *Auth) Watch(ctx context.Context, interval time.Duration, log logr.Logger) {
	if a.path == "" {
		return
	}
	settle := a.Settle
	if settle <= 0 {
		settle = interval
	}
	rep := a.Reloads.Reporter(metrics.SourceAuthFile, log)
	rep.Succeeded() // the file in force loaded at start
	wait.UntilWithContext(ctx, func(ctx context.Context) { a.check(ctx, settle, rep, log) }, interval)
}

func (a *Auth) check(ctx context.Context, settle time.Duration, rep *metrics.ReloadReporter, log logr.Logger) {
	const failed = "action auth config changed but does not load; keeping the previous one"
	b, err := os.ReadFile(a.path) //nolint:gosec // operator-supplied flag
	if err != nil {
		rep.Failed(failed, err)
		return
	}
	sum := sha256.Sum256(b)
	switch sum {
	case a.sum:
		if rep.Failing() {
			rep.Succeeded() // back to the file in force
		}
		return
	case a.rejected:
		return
	}
	t := time.NewTimer(settle)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	again, err := os.ReadFile(a.path) //nolint:gosec // operator-supplied flag
	if err != nil || sha256.Sum256(again) != sum {
		return // still being written (or replaced): the next check looks again
	}
	c, err := parseAuthConfig(b, a.path)
	if err != nil {
		a.rejected = sum
		rep.Failed(failed, err)
		return
	}
	a.cur.Store(newAuthenticator(c))
	a.sum = sum
	log.Info("action auth config reloaded", "type", c.Type)
	rep.Succeeded()
}

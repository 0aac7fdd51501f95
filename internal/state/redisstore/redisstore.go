// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package redisstore is the state.Store on Redis or Valkey, through
// github.com/redis/go-redis/v9: every replica that points at the same
// server shares the same state.
//
// Each operation has its own short timeout (Options.OpTimeout, 50ms by
// default): the platform waits about three seconds for the whole call, and
// a decision must stay within milliseconds, so a slow or absent server
// costs at most that long and the caller applies its failure mode. Errors
// of a server that could not answer wrap state.ErrUnavailable. The client
// reconnects by itself when the server returns: while it cannot dial, its
// pool fails fast and probes the server once a second.
package redisstore

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/tokenguard/tokenguard/internal/state"
)

// DefaultOpTimeout bounds one operation, connecting included.
const DefaultOpTimeout = 50 * time.Millisecond

// Options configure the store.
type Options struct {
	// URL is redis://[[user]:password@]host[:port][/db] or rediss://...
	// for TLS (unix:///path?db=N also works).
	URL string
	// PasswordFile holds the password (a mounted Secret); it is read once,
	// by New, and wins over a password in URL. Trailing newlines are
	// dropped.
	PasswordFile string
	// CAFile is a PEM bundle that verifies the server's certificate
	// instead of the system roots; only with a rediss:// URL.
	CAFile string
	// PoolSize is the number of connections kept (go-redis's default, ten
	// per CPU, when 0).
	PoolSize int
	// DialTimeout, ReadTimeout and WriteTimeout bound connecting, reading
	// and writing when an operation's own timeout is longer (1s each when
	// 0).
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// OpTimeout bounds every operation (DefaultOpTimeout when 0).
	OpTimeout time.Duration
}

// Store is the Redis state.Store. It is safe for concurrent use.
type Store struct {
	c         *redis.Client
	opTimeout time.Duration
	addr      string

	// member makes Hit's sorted-set members unique across clients: a
	// random id per Store and a sequence number.
	memberID string
	seq      atomic.Uint64
}

var _ state.Store = (*Store)(nil)

// New builds the store from o. It does not connect: the first operation
// does, and a server that does not answer yet only fails operations until
// it does (use Ping to check at start-up).
func New(o Options) (*Store, error) {
	ro, op, err := clientOptions(o)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	return &Store{
		c:         redis.NewClient(ro),
		opTimeout: op,
		addr:      ro.Addr,
		memberID:  hex.EncodeToString(id),
	}, nil
}

// Addr returns the server's address (host:port), for logs.
func (s *Store) Addr() string { return s.addr }

// clientOptions turns o into go-redis options and the operation timeout.
func clientOptions(o Options) (*redis.Options, time.Duration, error) {
	if o.URL == "" {
		return nil, 0, errors.New("redis: no URL")
	}
	ro, err := redis.ParseURL(o.URL)
	if err != nil {
		// url.Parse errors quote the URL, password included.
		return nil, 0, fmt.Errorf("redis: invalid URL (want redis://[:password@]host[:port][/db] or rediss://...): %s", redactedError(err, o.URL))
	}
	if o.PasswordFile != "" {
		b, err := os.ReadFile(o.PasswordFile)
		if err != nil {
			return nil, 0, fmt.Errorf("redis: password file: %w", err)
		}
		ro.Password = strings.TrimRight(string(b), "\r\n")
		if ro.Password == "" {
			return nil, 0, fmt.Errorf("redis: password file %s is empty", o.PasswordFile)
		}
	}
	if o.CAFile != "" {
		if ro.TLSConfig == nil {
			return nil, 0, errors.New("redis: a CA file needs a rediss:// URL")
		}
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, 0, fmt.Errorf("redis: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, 0, fmt.Errorf("redis: CA file %s holds no PEM certificate", o.CAFile)
		}
		ro.TLSConfig.RootCAs = pool
	}
	op := o.OpTimeout
	if op <= 0 {
		op = DefaultOpTimeout
	}
	orDefault := func(d time.Duration) time.Duration {
		if d <= 0 {
			return time.Second
		}
		return d
	}
	ro.DialTimeout = orDefault(o.DialTimeout)
	// The socket deadlines follow each operation's context (its timeout
	// is op); ReadTimeout and WriteTimeout only bound what has none.
	ro.ContextTimeoutEnabled = true
	ro.ReadTimeout = orDefault(o.ReadTimeout)
	ro.WriteTimeout = orDefault(o.WriteTimeout)
	ro.PoolTimeout = op
	if o.PoolSize > 0 {
		ro.PoolSize = o.PoolSize
	}
	// One dial per attempt and quick retries: the operation's timeout,
	// not go-redis's backoff, bounds how long a call waits. A retry still
	// helps when a pooled connection died with a restarted server.
	ro.DialerRetries = 1
	ro.MaxRetries = 2
	ro.MinRetryBackoff = time.Millisecond
	ro.MaxRetryBackoff = 5 * time.Millisecond
	// No CLIENT SETINFO and no maintenance-notification handshake: fewer
	// round trips per new connection, and neither is needed.
	ro.DisableIdentity = true
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return ro, op, nil
}

// redactedError returns err's text with the URL's password hidden.
func redactedError(err error, rawURL string) string {
	msg := err.Error()
	if i := strings.Index(rawURL, "://"); i >= 0 {
		if j := strings.LastIndex(rawURL, "@"); j > i {
			cred := rawURL[i+3 : j]
			if k := strings.Index(cred, ":"); k >= 0 && k+1 < len(cred) {
				msg = strings.ReplaceAll(msg, cred[k+1:], "xxxxx")
			}
		}
	}
	return msg
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package serve is the one HTTP server lifecycle of TokenGuard: the action
// endpoint, and in standalone mode the probe and metrics endpoints, listen,
// drain and shut down the same way.
//
// Shutdown is in two steps, driven by the process (internal/app): first a
// drain, during which readiness fails and the server keeps answering (with
// "Connection: close", so that clients open new connections, which the
// Service no longer routes here); then, when the server's context ends, a
// graceful shutdown that stops accepting and waits for calls in flight.
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"

	"github.com/tokenguard/tokenguard/internal/metrics"
)

// Server serves one handler. It is a controller-runtime Runnable that runs on
// every replica, leader or not.
type Server struct {
	// Name appears in log lines ("action endpoint", "probes", "metrics").
	Name    string
	Addr    string
	Handler http.Handler
	// CertFile and KeyFile enable TLS; renewed files are picked up without a
	// restart (see TLSReloader).
	CertFile, KeyFile string
	// TLSReloadInterval is how often the TLS files are checked (default 10s).
	TLSReloadInterval time.Duration
	// Reloads, when set, records TLS reloads under the "tls" source.
	Reloads *metrics.Reloads
	Log     logr.Logger
	// ShutdownTimeout bounds the wait for calls in flight (default 20s).
	ShutdownTimeout time.Duration
	// MaxHeaderBytes is http.Server's (default 1 MiB).
	MaxHeaderBytes int
	// Draining, when set and true, answers with "Connection: close" so that
	// keep-alive clients move to other replicas before shutdown.
	Draining func() bool
	// Ready, when set, is closed once the listener is bound.
	Ready chan struct{}
	// Listener, when set, is used instead of listening on Addr.
	Listener net.Listener
}

// NeedLeaderElection is false: every replica serves.
func (s *Server) NeedLeaderElection() bool { return false }

func (s *Server) name() string {
	if s.Name == "" {
		return "server"
	}
	return s.Name
}

// Start serves until ctx ends, then shuts down gracefully: it stops
// accepting, closes idle connections and waits up to ShutdownTimeout for
// calls in flight.
func (s *Server) Start(ctx context.Context) error {
	h := s.Handler
	if s.Draining != nil {
		h = closeWhenDraining(h, s.Draining)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    s.MaxHeaderBytes,
	}
	if srv.MaxHeaderBytes <= 0 {
		srv.MaxHeaderBytes = 1 << 20
	}
	ln := s.Listener
	if ln == nil {
		var err error
		if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", s.Addr); err != nil {
			return fmt.Errorf("%s: %w", s.name(), err)
		}
	}
	if s.CertFile != "" || s.KeyFile != "" {
		r, err := NewTLSReloader(s.CertFile, s.KeyFile, s.Reloads.Reporter(metrics.SourceTLS, s.Log))
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("%s TLS: %w", s.name(), err)
		}
		go r.Watch(ctx, s.TLSReloadInterval)
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	s.Log.Info(s.name()+" listening", "address", ln.Addr().String(), "tls", srv.TLSConfig != nil)
	if s.Ready != nil {
		close(s.Ready)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	timeout := s.ShutdownTimeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	s.Log.Info(s.name()+" shutting down; finishing calls in flight", "timeout", timeout.String())
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("%s: %w", s.name(), err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func closeWhenDraining(next http.Handler, draining func() bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining() {
			// net/http closes the connection after this response (HTTP/1.1);
			// HTTP/2 connections get a GOAWAY at Shutdown.
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

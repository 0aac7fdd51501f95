// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// Server serves the action endpoint. It is a controller-runtime Runnable that
// runs on every replica, leader or not, and finishes calls in flight when
// its context ends.
type Server struct {
	Addr    string
	Handler http.Handler
	// CertFile and KeyFile enable TLS; renewed files are picked up without a restart.
	CertFile, KeyFile string
	Log               logr.Logger
	// ShutdownTimeout bounds the wait for calls in flight (default 25s).
	ShutdownTimeout time.Duration
	// Ready, when set, is closed once the listener is bound.
	Ready chan struct{}
	// Listener, when set, is used instead of listening on Addr.
	Listener net.Listener
}

// NeedLeaderElection is false: every replica answers the platform.
func (s *Server) NeedLeaderElection() bool { return false }

// NewMux routes the action path to h (behind auth) and answers everything
// else with a JSON 404.
func NewMux(h http.Handler, auth *Auth) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(Path, auth.Wrap(h))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"actionStatus":"ERROR","errorMessage":"not_found","errorDescription":"No action is served at this path."}`))
	})
	return mux
}

// Start serves until ctx ends, then shuts down gracefully.
func (s *Server) Start(ctx context.Context) error {
	srv := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	ln := s.Listener
	if ln == nil {
		var err error
		if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", s.Addr); err != nil {
			return fmt.Errorf("action endpoint: %w", err)
		}
	}
	if s.CertFile != "" || s.KeyFile != "" {
		cw, err := certwatcher.New(s.CertFile, s.KeyFile)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("action endpoint TLS: %w", err)
		}
		go func() {
			if err := cw.Start(ctx); err != nil {
				s.Log.Error(err, "certificate watcher stopped")
			}
		}()
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cw.GetCertificate}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	s.Log.Info("action endpoint listening", "address", ln.Addr().String(), "path", Path, "tls", srv.TLSConfig != nil)
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
		timeout = 25 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	s.Log.Info("action endpoint shutting down; finishing calls in flight")
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

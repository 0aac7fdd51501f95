// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package app

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/tokenguard/tokenguard/internal/standalone"
)

// RunStandalone serves policies from files, without Kubernetes, until ctx ends.
func RunStandalone(ctx context.Context, o *Options, log logr.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	svc, err := NewService(o, reg, log)
	if err != nil {
		return err
	}
	loader := &standalone.Loader{
		Paths: o.PolicyFiles, SecretsDir: o.SecretsDir, Store: svc.Store,
		Log: log.WithName("policy-files"), OnChange: svc.OnSnapshot, AbuseIPDBDisabled: o.AbuseIPDBDisabled,
		Settle: o.ReloadSettle, Reloads: svc.Reloads,
	}
	if err := loader.LoadSettled(ctx); err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	svc.Watchers(ctx, o, log)
	go loader.Watch(ctx, o.ReloadInterval)
	if c := svc.abuseIPDB(); c != nil {
		// Logs a rejected API key once, not once per call.
		go (&standalone.KeyReporter{Keys: c, Store: svc.Store, Log: log.WithName("abuseipdb-keys")}).Run(ctx, o.ReloadInterval)
	}
	g.Go(func() error { return svc.Server.Start(ctx) })
	if o.MetricsAddr != "0" && o.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		g.Go(func() error { return serveAux(ctx, o.MetricsAddr, mux) })
	}
	if o.ProbeAddr != "0" && o.ProbeAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
			if err := svc.readyz(r); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok"))
		})
		g.Go(func() error { return serveAux(ctx, o.ProbeAddr, mux) })
	}
	return g.Wait()
}

func serveAux(ctx context.Context, addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

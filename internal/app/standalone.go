// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package app

import (
	"context"
	"net/http"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/tokenguard/tokenguard/internal/serve"
	"github.com/tokenguard/tokenguard/internal/standalone"
)

// RunStandalone serves policies from files, without Kubernetes, until stop
// ends and the drain is over.
func RunStandalone(stop, hurry context.Context, o *Options, log logr.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	svc, err := NewService(o, reg, log)
	if err != nil {
		return err
	}
	loader := &standalone.Loader{
		Paths: o.PolicyFiles, SecretsDir: o.SecretsDir, Store: svc.Store,
		Log: log.WithName("policy-files"), OnChange: svc.OnSnapshot, AbuseIPDBDisabled: o.AbuseIPDBDisabled,
		Settle: o.ReloadSettle, Reloads: svc.Reloads, IPLists: svc.IPLists,
	}
	if err := loader.LoadSettled(stop); err != nil {
		return err
	}
	ctx := svc.Drain(stop, hurry, o.ShutdownDrainPeriod, log)
	g, ctx := errgroup.WithContext(ctx)
	svc.Watchers(ctx, o, log)
	go loader.Watch(ctx, o.ReloadInterval)
	if c := svc.abuseIPDB(); c != nil {
		// Logs a rejected API key once, not once per call.
		go (&standalone.KeyReporter{Keys: c, Store: svc.Store, Log: log.WithName("abuseipdb-keys")}).Run(ctx, o.ReloadInterval)
	}
	servers := []*serve.Server{svc.Server}
	if o.MetricsAddr != "0" && o.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		servers = append(servers, &serve.Server{Name: "metrics", Addr: o.MetricsAddr, Handler: mux, Log: log.WithName("metrics")})
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
		servers = append(servers, &serve.Server{Name: "probes", Addr: o.ProbeAddr, Handler: mux, Log: log.WithName("probes")})
	}
	for _, srv := range servers {
		srv.ShutdownTimeout = o.ShutdownTimeout
		g.Go(func() error { return srv.Start(ctx) })
	}
	err = g.Wait()
	// The servers have stopped and answered the calls in flight: the
	// shared state is no longer needed.
	closeState(svc, log)
	return err
}

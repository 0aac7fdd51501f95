// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package app

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
)

// SignalContexts returns stop, which ends at the first SIGTERM or SIGINT,
// and hurry, which ends at the second. A third signal exits at once.
func SignalContexts() (stop, hurry context.Context) {
	stop, stopNow := context.WithCancel(context.Background())
	hurry, hurryNow := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 3)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		stopNow()
		<-sig
		hurryNow()
		<-sig
		os.Exit(1)
	}()
	return stop, hurry
}

// Drain returns the context the servers and controllers run under. When
// stop ends, readiness starts failing at once (so the Service stops routing
// here) while everything keeps serving for the drain period; then the
// returned context ends and the servers shut down gracefully. hurry ending
// cuts the drain short.
func (s *Service) Drain(stop, hurry context.Context, period time.Duration, log logr.Logger) context.Context {
	ctx, cancel := context.WithCancel(context.WithoutCancel(stop))
	go func() {
		defer cancel()
		select {
		case <-stop.Done():
		case <-hurry.Done():
		}
		s.draining.Store(true)
		s.Lifecycle.Draining.Set(1)
		log.Info("shutting down: readiness fails; still serving for the drain period", "drainPeriod", period.String())
		t := time.NewTimer(period)
		defer t.Stop()
		select {
		case <-t.C:
		case <-hurry.Done():
			log.Info("second signal: ending the drain early")
		}
	}()
	return ctx
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Leader runs leader election for the leader-only work (status and events)
// without tying the process's life to it. controller-runtime's manager exits
// when it loses its lease (an API server outage longer than the renew
// deadline is enough), and with it the action endpoint: a security control
// that stops answering. Here a lost lease only stops status writing; the
// elector then campaigns again, and serving never depends on it.
type Leader struct {
	Lock resourcelock.Interface
	// LeaseDuration, RenewDeadline and RetryPeriod default to
	// controller-runtime's 15s, 10s and 2s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Log                                       logr.Logger
	// OnChange, when set, is called with true when this replica starts
	// leading and false when it stops.
	OnChange func(leading bool)

	leading atomic.Bool
}

// NeedLeaderElection is false: the elector itself runs on every replica.
func (l *Leader) NeedLeaderElection() bool { return false }

// Leading reports whether this replica holds the lease. A nil Leader (leader
// election switched off) always leads.
func (l *Leader) Leading() bool { return l == nil || l.leading.Load() }

// Start campaigns until ctx ends, releasing the lease on the way out.
func (l *Leader) Start(ctx context.Context) error {
	cfg := leaderelection.LeaderElectionConfig{
		Lock:          l.Lock,
		LeaseDuration: orDefault(l.LeaseDuration, 15*time.Second),
		RenewDeadline: orDefault(l.RenewDeadline, 10*time.Second),
		RetryPeriod:   orDefault(l.RetryPeriod, 2*time.Second),
		// Step down on shutdown so the other replica takes over at once
		// instead of after the lease expires.
		ReleaseOnCancel: true,
		Name:            l.Lock.Identity(),
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { l.set(true) },
			OnStoppedLeading: func() { l.set(false) },
		},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(cfg)
		if err != nil {
			return err
		}
		le.Run(ctx)
		if ctx.Err() == nil {
			// Lost: campaign again after a pause, as a new elector.
			select {
			case <-ctx.Done():
			case <-time.After(cfg.RetryPeriod):
			}
		}
	}
	return nil
}

func (l *Leader) set(leading bool) {
	if l.leading.Swap(leading) == leading {
		return
	}
	if leading {
		l.Log.Info("became the leader: writing policy status", "identity", l.Lock.Identity())
	} else {
		l.Log.Info("stopped leading: status writing paused; serving continues", "identity", l.Lock.Identity())
	}
	if l.OnChange != nil {
		l.OnChange(leading)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

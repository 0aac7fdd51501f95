// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/wait"
)

// APIHealth watches whether the API server answers, so that a replica can
// say it serves a last-known-good snapshot (stale) and since when, and so
// that the snapshot catches up promptly when the API server returns.
//
// Why the catch-up: client-go's reflectors retry a failed watch with an
// exponential backoff that settles between 30 and 60 seconds, so after an
// outage of a minute or more the cache can stay behind the API server for
// up to a minute (48 s measured). While catching up, the snapshot
// controller reads policies uncached and a periodic uncached list enqueues
// every policy that changed, which bounds propagation to about one probe
// interval.
type APIHealth struct {
	// Probe asks the API server whether it is ready.
	Probe func(ctx context.Context) error
	// Interval between probes (default 2s).
	Interval time.Duration
	// CatchUpFor is how long after a recovery reads stay uncached (default
	// 2m: longer than the reflectors' longest backoff of 60 s).
	CatchUpFor time.Duration
	// CatchUp, when set, is called on each probe while catching up.
	CatchUp func(ctx context.Context) error
	// OnStale, when set, is called when the snapshot becomes stale (true,
	// with the time of the first failed probe) and fresh again (false).
	OnStale func(stale bool, since time.Time)
	Log     logr.Logger
	// Now defaults to time.Now.
	Now func() time.Time

	mu        sync.Mutex
	stale     bool
	since     time.Time
	recovered time.Time
}

// NeedLeaderElection is false: every replica serves, so every replica must know.
func (h *APIHealth) NeedLeaderElection() bool { return false }

// CatchingUp reports whether the cache may be behind the API server: during
// an outage and for CatchUpFor after it.
func (h *APIHealth) CatchingUp() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stale || (!h.recovered.IsZero() && h.now().Sub(h.recovered) < h.catchUpFor())
}

// Start probes until ctx ends.
func (h *APIHealth) Start(ctx context.Context) error {
	interval := orDefault(h.Interval, 2*time.Second)
	wait.UntilWithContext(ctx, func(ctx context.Context) { h.check(ctx, interval) }, interval)
	return nil
}

func (h *APIHealth) check(ctx context.Context, timeout time.Duration) {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	err := h.Probe(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	now := h.now()
	h.mu.Lock()
	changed := (err != nil) != h.stale
	switch {
	case err != nil && changed:
		h.stale, h.since = true, now
	case err == nil && changed:
		h.stale, h.recovered = false, now
	}
	stale, since := h.stale, h.since
	h.mu.Unlock()
	if changed {
		if stale {
			h.Log.Info("API server unreachable: serving the last known policy snapshot", "error", err.Error())
		} else {
			h.Log.Info("API server reachable again: catching up with policy changes", "staleFor", now.Sub(since).Round(time.Millisecond).String())
		}
		if h.OnStale != nil {
			h.OnStale(stale, since)
		}
	}
	if !stale && h.CatchingUp() && h.CatchUp != nil {
		if err := h.CatchUp(ctx); err != nil && ctx.Err() == nil {
			h.Log.V(1).Info("catch-up list failed; retrying", "error", err.Error())
		}
	}
}

func (h *APIHealth) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *APIHealth) catchUpFor() time.Duration { return orDefault(h.CatchUpFor, 2*time.Minute) }

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/discovery"
	ctrl "sigs.k8s.io/controller-runtime"
	crleaderelection "sigs.k8s.io/controller-runtime/pkg/leaderelection"

	"github.com/tokenguard/tokenguard/internal/policy"
)

// Config is what the controllers need from the process.
type Config struct {
	Store *policy.Store
	// OnSnapshot, when set, is called after each published snapshot.
	OnSnapshot func(*policy.Snapshot)
	// WatchNamespaces limits the catch-up lists (empty: all namespaces).
	WatchNamespaces []string
	// LeaderElection selects and names the Lease; with LeaderElection false
	// every replica writes status.
	LeaderElection crleaderelection.Options
	// OnLeader, when set, is called when this replica starts (true) or stops
	// (false) leading.
	OnLeader func(leading bool)
	// OnStale, when set, is called when the API server becomes unreachable
	// (true, since the first failed probe) and reachable again (false).
	OnStale func(stale bool, since time.Time)
	// KeyHealth, when set, reports API keys AbuseIPDB rejected, for the
	// AbuseIPDBKeyRejected condition.
	KeyHealth KeyHealth
	// HealthInterval is the API server probe interval (default 2s).
	HealthInterval time.Duration
	// ListMetrics, when set, records what each IP list holds.
	ListMetrics ListMetrics
	// HTTP, when set, fetches IP lists' URLs.
	HTTP *http.Client
	Log  logr.Logger
}

// Setup adds everything TokenGuard runs against the API server to mgr: the
// Secret and IP list reference indexes, the IP list controller, the
// snapshot controller and the first-snapshot gate (every replica), the
// status controller (writes on the leader only, as the IP list controller
// does), the leader elector, and the API server health probe with its
// catch-up.
// The manager itself must run without leader election: losing a lease must
// never stop a replica from serving.
func Setup(ctx context.Context, mgr ctrl.Manager, c Config) error {
	if err := IndexSecretRefs(ctx, mgr); err != nil {
		return err
	}
	if err := IndexListRefs(ctx, mgr); err != nil {
		return err
	}
	lists := NewListStore()
	snap := &SnapshotReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Store: c.Store, OnChange: c.OnSnapshot, Lists: lists,
		sync: &firstSync{client: mgr.GetClient(), cache: mgr.GetCache(), store: c.Store, onChange: c.OnSnapshot},
	}
	status := &StatusReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("tokenguard"),
		KeyHealth: c.KeyHealth, Lists: lists}
	ipl := &IPListReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Lists: lists,
		Recorder: mgr.GetEventRecorder("tokenguard"), HTTP: c.HTTP, Metrics: c.ListMetrics}

	if c.LeaderElection.LeaderElection {
		lock, err := crleaderelection.NewResourceLock(mgr.GetConfig(), mgr, c.LeaderElection)
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		leader := &Leader{Lock: lock, Log: c.Log.WithName("leader-election"), OnChange: func(leading bool) {
			if leading {
				go status.StartedLeading(ctx)
				go ipl.StartedLeading(ctx)
			}
			if c.OnLeader != nil {
				c.OnLeader(leading)
			}
		}}
		status.Leader, ipl.Leader = leader, leader
		if err := mgr.Add(leader); err != nil {
			return err
		}
	} else if c.OnLeader != nil {
		c.OnLeader(true)
	}

	dc, err := discovery.NewDiscoveryClientForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return err
	}
	health := &APIHealth{
		Probe: func(ctx context.Context) error {
			return dc.RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
		},
		Interval: c.HealthInterval,
		CatchUp: func(ctx context.Context) error {
			if err := ipl.CatchUp(ctx, c.WatchNamespaces); err != nil {
				return err
			}
			return snap.CatchUp(ctx, c.WatchNamespaces)
		},
		OnStale: c.OnStale,
		Log:     c.Log.WithName("api-health"),
	}
	snap.FreshReads, ipl.FreshReads = health.CatchingUp, health.CatchingUp

	if err := snap.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := status.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := ipl.SetupWithManager(mgr); err != nil {
		return err
	}
	for _, r := range []interface {
		Start(context.Context) error
		NeedLeaderElection() bool
	}{snap.sync, health} {
		if err := mgr.Add(r); err != nil {
			return err
		}
	}
	return nil
}

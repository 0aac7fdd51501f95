// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package app

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crleaderelection "sigs.k8s.io/controller-runtime/pkg/leaderelection"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/controllers"
)

// Scheme returns the scheme with the built-in types, TokenPolicy and IPList.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// NewManager builds the manager with the controllers (controllers.Setup) and
// the action endpoint. Everything runs on every replica; leader election is
// controllers.Leader's, not the manager's, so that losing the lease never
// stops a replica from serving.
func NewManager(ctx context.Context, o *Options, cfg *rest.Config, svc *Service, log logr.Logger) (manager.Manager, error) {
	cacheOpts := cache.Options{}
	if len(o.WatchNamespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.WatchNamespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	grace := o.ShutdownTimeout + 5*time.Second
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  Scheme(),
		Logger:                  log,
		Cache:                   cacheOpts,
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		GracefulShutdownTimeout: &grace,
		Controller:              config.Controller{SkipNameValidation: &o.SkipControllerNameValidation},
	})
	if err != nil {
		return nil, fmt.Errorf("manager: %w", err)
	}
	var keys controllers.KeyHealth
	if c := svc.abuseIPDB(); c != nil {
		keys = c
	}
	if err := controllers.Setup(ctx, mgr, controllers.Config{
		KeyHealth: keys,
		Store:     svc.Store, OnSnapshot: svc.OnSnapshot, WatchNamespaces: o.WatchNamespaces,
		LeaderElection: crleaderelection.Options{
			LeaderElection: o.LeaderElect, LeaderElectionID: o.LeaderElectionID,
			LeaderElectionNamespace: o.LeaderElectionNamespace, RenewDeadline: 10 * time.Second,
		},
		OnLeader: svc.Lifecycle.SetLeader, OnStale: svc.Lifecycle.SetStale,
		HealthInterval: o.APIHealthInterval, ListMetrics: svc.IPLists, Log: log,
	}); err != nil {
		return nil, err
	}
	if err := mgr.Add(svc.Server); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("snapshot", svc.readyz); err != nil {
		return nil, err
	}
	return mgr, nil
}

// RunKubernetes runs the operator against the cluster in cfg until stop
// ends and the drain is over.
func RunKubernetes(stop, hurry context.Context, o *Options, cfg *rest.Config, log logr.Logger) error {
	svc, err := NewService(o, ctrlmetrics.Registry, log)
	if err != nil {
		return err
	}
	ctx := svc.Drain(stop, hurry, o.ShutdownDrainPeriod, log)
	mgr, err := NewManager(ctx, o, cfg, svc, log)
	if err != nil {
		return err
	}
	svc.Watchers(ctx, o, log)
	err = mgr.Start(ctx)
	// The manager returns once its runnables, the action endpoint among
	// them, have stopped: the shared state is no longer needed.
	closeState(svc, log)
	return err
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package app

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/controllers"
)

// Scheme returns the scheme with the built-in types and TokenPolicy.
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

// NewManager builds the manager with both controllers, the initial sync and
// the action endpoint. Everything but the status controller runs on every
// replica; none of it waits for leadership.
func NewManager(ctx context.Context, o *Options, cfg *rest.Config, svc *Service, log logr.Logger) (manager.Manager, error) {
	cacheOpts := cache.Options{}
	if len(o.WatchNamespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.WatchNamespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        Scheme(),
		Logger:                        log,
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{SkipNameValidation: &o.SkipControllerNameValidation},
	})
	if err != nil {
		return nil, fmt.Errorf("manager: %w", err)
	}
	if err := controllers.IndexSecretRefs(ctx, mgr); err != nil {
		return nil, err
	}
	snap := &controllers.SnapshotReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Store: svc.Store, OnChange: svc.OnSnapshot,
	}
	if err := snap.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	status := &controllers.StatusReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("tokenguard"),
		KeyHealth: svc.abuseIPDB(),
	}
	if err := status.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := mgr.Add(&controllers.InitialSync{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Cache: mgr.GetCache(),
		Store: svc.Store, OnChange: svc.OnSnapshot,
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

// RunKubernetes runs the operator against the cluster in cfg until ctx ends.
func RunKubernetes(ctx context.Context, o *Options, cfg *rest.Config, log logr.Logger) error {
	svc, err := NewService(o, ctrlmetrics.Registry, log)
	if err != nil {
		return err
	}
	mgr, err := NewManager(ctx, o, cfg, svc, log)
	if err != nil {
		return err
	}
	svc.Watchers(ctx, o, log)
	return mgr.Start(ctx)
}

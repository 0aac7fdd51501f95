// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Command tokenguard answers the Asgardeo / WSO2 Identity Server
// "Pre-Issue Access Token" action from TokenPolicies: reconciled from a
// Kubernetes cluster, or read from files (--policy-file) without one.
//
//	tokenguard [flags]                 serve (Kubernetes, or standalone with --policy-file)
//	tokenguard validate PATH...        compile policy files, for CI
//	tokenguard decide --policy-file=PATH --ip=ADDR ...   print the answer to one call
package main

import (
	"flag"
	"fmt"
	"os"
	_ "time/tzdata" // access hours need IANA zones even on a distroless image

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/tokenguard/tokenguard/internal/app"
	"github.com/tokenguard/tokenguard/internal/logging"
)

func main() {
	os.Exit(run())
}

func run() int {
	if code, ok := app.RunCommand(os.Args[1:], os.Stdout, os.Stderr); ok {
		return code
	}
	var o app.Options
	o.BindFlags(flag.CommandLine)
	var logOpts logging.Options
	logOpts.BindFlags(flag.CommandLine)
	flag.Parse()

	log := logging.New(logOpts)
	ctrl.SetLogger(log)
	if err := o.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "tokenguard: invalid options:\n"+err.Error())
		return 2
	}
	// The first SIGTERM starts the drain; a second one ends it early.
	stop, hurry := app.SignalContexts()
	var err error
	if o.Standalone() {
		log.Info("starting in standalone mode", "policyFiles", o.PolicyFiles)
		err = app.RunStandalone(stop, hurry, &o, log)
	} else {
		cfg, cerr := ctrl.GetConfig()
		if cerr != nil {
			fmt.Fprintln(os.Stderr, "tokenguard: no Kubernetes configuration (use --policy-file for standalone mode):", cerr)
			return 2
		}
		err = app.RunKubernetes(stop, hurry, &o, cfg, log)
	}
	if err != nil {
		log.Error(err, "tokenguard stopped")
		return 1
	}
	log.Info("tokenguard stopped")
	return 0
}

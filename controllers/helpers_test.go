// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers_test

import (
	"flag"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	eventsv1 "k8s.io/api/events/v1"
)

func flagSet() *flag.FlagSet            { return flag.NewFlagSet("test", flag.ContinueOnError) }
func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }
func listen() (net.Listener, error)     { return net.Listen("tcp", "127.0.0.1:0") }

type eventsList struct {
	list eventsv1.EventList
}

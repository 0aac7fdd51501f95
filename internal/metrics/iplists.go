// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// listLabels are the labels of the IP list metrics.
var listLabels = []string{"namespace", "name"}

// IPLists records what each IP list holds on this replica. Every replica
// loads (and fetches) its lists itself, so each exports its own view.
type IPLists struct {
	entries     *prometheus.GaugeVec
	ready       *prometheus.GaugeVec
	failures    *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
}

// NewIPLists creates the IP list collectors and registers them with reg.
func NewIPLists(reg prometheus.Registerer) *IPLists {
	m := &IPLists{
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokenguard_iplist_entries",
			Help: "Distinct networks an IP list serves on this replica (0 until it first loads).",
		}, listLabels),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokenguard_iplist_ready",
			Help: "1 when every source of an IP list loaded in its latest pass, 0 while one fails (the last good content is served).",
		}, listLabels),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenguard_iplist_load_failures_total",
			Help: "Loads of an IP list in which a source failed, by reason (FetchFailed, ConfigMapNotFound, InvalidEntries, TooLarge, ...).",
		}, append(listLabels[:2:2], "reason")),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokenguard_iplist_last_success_timestamp_seconds",
			Help: "When every source of an IP list last loaded (for a URL, its last successful fetch), as a Unix timestamp.",
		}, listLabels),
	}
	reg.MustRegister(m.entries, m.ready, m.failures, m.lastSuccess)
	return m
}

// ObserveIPList records one load of a list. A nil IPLists records nothing.
func (m *IPLists) ObserveIPList(namespace, name string, entries int, ready bool, reason string, lastSuccess time.Time) {
	if m == nil {
		return
	}
	// The ready gauge changes last: whoever sees it change finds the
	// failure counted and the other series current.
	m.entries.WithLabelValues(namespace, name).Set(float64(entries))
	if !lastSuccess.IsZero() {
		m.lastSuccess.WithLabelValues(namespace, name).Set(float64(lastSuccess.Unix()))
	}
	if ready {
		m.ready.WithLabelValues(namespace, name).Set(1)
	} else {
		m.failures.WithLabelValues(namespace, name, reason).Inc()
		m.ready.WithLabelValues(namespace, name).Set(0)
	}
}

// ForgetIPList drops a deleted list's series.
func (m *IPLists) ForgetIPList(namespace, name string) {
	if m == nil {
		return
	}
	labels := prometheus.Labels{listLabels[0]: namespace, listLabels[1]: name}
	m.entries.DeletePartialMatch(labels)
	m.ready.DeletePartialMatch(labels)
	m.failures.DeletePartialMatch(labels)
	m.lastSuccess.DeletePartialMatch(labels)
}

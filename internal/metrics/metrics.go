// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package metrics defines TokenGuard's Prometheus metrics.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the service's collectors.
type Metrics struct {
	Decisions         *prometheus.CounterVec
	PolicyEvaluations *prometheus.CounterVec
	Requests          *prometheus.CounterVec
	RequestDuration   prometheus.Histogram
	AbuseIPDBRequests *prometheus.CounterVec
	AbuseIPDBCache    *prometheus.CounterVec
	SkippedChanges    *prometheus.CounterVec
	GeoIPBuildTime    *prometheus.GaugeVec
	ASNBuildTime      *prometheus.GaugeVec
	PoliciesServed    prometheus.Gauge

	// AbuseIPDBKeyRejections counts pauses of an API key AbuseIPDB refused;
	// AbuseIPDBRejectedKeys is the number of keys paused now.
	AbuseIPDBKeyRejections prometheus.Counter
	AbuseIPDBRejectedKeys  prometheus.Gauge

	// State has the shared store's operation and fallback metrics.
	State *State
}

// New creates the collectors and registers them with reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenguard_decisions_total",
			Help: "Answers to token calls by outcome (allow, deny, error), deciding policy and reason.",
		}, []string{"outcome", "policy", "reason"}),
		PolicyEvaluations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenguard_policy_evaluations_total",
			Help: "What each matching policy decided, Audit ones included, by policy, mode, action and cause.",
		}, []string{"policy", "mode", "action", "cause"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenguard_action_requests_total",
			Help: "HTTP requests to the action endpoint by status code.",
		}, []string{"code"}),
		RequestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tokenguard_action_request_duration_seconds",
			Help:    "Time to answer a token call, from request to written answer.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 3, 5},
		}),
		AbuseIPDBRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenguard_abuseipdb_requests_total",
			Help: "Upstream AbuseIPDB check requests by result (ok or the failure kind).",
		}, []string{"result"}),
		AbuseIPDBCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenguard_abuseipdb_cache_lookups_total",
			Help: "AbuseIPDB score cache lookups by result (hit or miss).",
		}, []string{"result"}),
		AbuseIPDBKeyRejections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tokenguard_abuseipdb_key_rejections_total",
			Help: "Times AbuseIPDB rejected an API key (401 or 403) and lookups with it were paused.",
		}),
		AbuseIPDBRejectedKeys: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenguard_abuseipdb_rejected_keys",
			Help: "API keys AbuseIPDB rejected whose lookups are paused now; their policies' onFailure applies.",
		}),
		SkippedChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenguard_skipped_token_changes_total",
			Help: "Token changes not sent because the platform would not apply them to that call.",
		}, []string{"change"}),
		GeoIPBuildTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokenguard_geoip_database_build_timestamp_seconds",
			Help: "Build time of each loaded GeoIP database, as a Unix timestamp.",
		}, []string{"path", "type"}),
		ASNBuildTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokenguard_asn_database_build_timestamp_seconds",
			Help: "Build time of each loaded ASN database, as a Unix timestamp.",
		}, []string{"path", "type"}),
		PoliciesServed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenguard_policies_served",
			Help: "Policies in the snapshot this replica serves.",
		}),
	}
	m.State = NewState(reg)
	reg.MustRegister(m.Decisions, m.PolicyEvaluations, m.Requests, m.RequestDuration,
		m.AbuseIPDBRequests, m.AbuseIPDBCache, m.AbuseIPDBKeyRejections, m.AbuseIPDBRejectedKeys, m.SkippedChanges, m.GeoIPBuildTime, m.ASNBuildTime, m.PoliciesServed)
	return m
}

// ObserveAbuseIPDB adapts the AbuseIPDB client's observer hook.
func (m *Metrics) ObserveAbuseIPDB(event, result string) {
	if event == "cache" {
		m.AbuseIPDBCache.WithLabelValues(result).Inc()
		return
	}
	m.AbuseIPDBRequests.WithLabelValues(result).Inc()
}

// ObserveAbuseIPDBKeys adapts the AbuseIPDB client's key hook.
func (m *Metrics) ObserveAbuseIPDBKeys(rejected bool, pausedKeys int) {
	if rejected {
		m.AbuseIPDBKeyRejections.Inc()
	}
	m.AbuseIPDBRejectedKeys.Set(float64(pausedKeys))
}

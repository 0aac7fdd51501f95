// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// Sources of reloads, the values of the source label.
const (
	SourcePolicyFiles = "policy-files"
	SourceSecretsDir  = "secrets-dir"
	SourceGeoIP       = "geoip"
	SourceASN         = "asn"
	SourceAuthFile    = "auth-file"
	SourceTLS         = "tls"
)

// Reloads records the outcome of reloading each watched source. A source
// that stops loading keeps its previous version in force, so without these
// a broken file is visible only in the log.
type Reloads struct {
	failures    *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	failing     *prometheus.GaugeVec
}

// NewReloads creates the reload collectors and registers them with reg.
func NewReloads(reg prometheus.Registerer) *Reloads {
	r := &Reloads{
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenguard_reload_failures_total",
			Help: "Failed reloads of a watched source. Content that failed is not tried again until it changes; an unreadable source counts at each check.",
		}, []string{"source"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokenguard_reload_last_success_timestamp_seconds",
			Help: "When a watched source last loaded (at start, on a change, or on a return to the version in force), as a Unix timestamp.",
		}, []string{"source"}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokenguard_reload_failing",
			Help: "1 while the latest reload of a watched source failed and its previous version is still in force, else 0.",
		}, []string{"source"}),
	}
	reg.MustRegister(r.failures, r.lastSuccess, r.failing)
	return r
}

// Succeeded records that source's version in force is its current one. A
// nil Reloads records nothing.
func (r *Reloads) Succeeded(source string) {
	if r == nil {
		return
	}
	// Touch the counter so that it is exported, at 0, before any failure.
	r.failures.WithLabelValues(source)
	r.lastSuccess.WithLabelValues(source).SetToCurrentTime()
	r.failing.WithLabelValues(source).Set(0)
}

// Failed records a failed reload of source. A nil Reloads records nothing.
func (r *Reloads) Failed(source string) {
	if r == nil {
		return
	}
	r.failures.WithLabelValues(source).Inc()
	r.failing.WithLabelValues(source).Set(1)
}

// Reporter returns a ReloadReporter for source that logs to log. r may be
// nil: then only the log is written.
func (r *Reloads) Reporter(source string, log logr.Logger) *ReloadReporter {
	return &ReloadReporter{source: source, reloads: r, log: log}
}

// ReloadReporter reports one source's reload outcomes: every outcome to the
// metrics, and to the log only what changes. A file that stays broken is
// logged once with its error, not at every check, and its recovery once.
// Failures are logged at info level with an "error" key: logr's Error
// prints a stack trace in production zap, which for an expected condition
// repeated by a watcher only buries the cause.
//
// It is not safe for concurrent use: each watcher owns its reporter.
type ReloadReporter struct {
	source  string
	reloads *Reloads
	log     logr.Logger
	failing bool
	cause   string
}

// Failed records a failed reload. msg says what stays in force; it is logged
// with err and kv unless err's text is the same as the previous failure's.
//
// The log line is written before the metrics change, so that whoever sees
// the failure in the metrics finds its cause in the log.
func (p *ReloadReporter) Failed(msg string, err error, kv ...any) {
	if !p.failing || err.Error() != p.cause {
		p.failing, p.cause = true, err.Error()
		p.log.Info(msg, append(kv, "error", err)...)
	}
	p.reloads.Failed(p.source)
}

// Succeeded records a reload, or a return to the version in force after a
// failure. The first success after a failure logs the recovery.
// Like Failed, it logs before the metrics change.
func (p *ReloadReporter) Succeeded() {
	if p.failing {
		p.log.Info("reload recovered", "source", p.source, "previousError", p.cause)
	}
	p.failing, p.cause = false, ""
	p.reloads.Succeeded(p.source)
}

// Failing reports whether the latest outcome was a failure.
func (p *ReloadReporter) Failing() bool { return p.failing }

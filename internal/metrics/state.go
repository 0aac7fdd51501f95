// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/internal/state"
)

// State has the shared store's collectors: how long its operations take,
// how many fail, and how often a use of it fell back to something local.
type State struct {
	duration  *prometheus.HistogramVec
	errors    *prometheus.CounterVec
	fallbacks *prometheus.CounterVec

	// ops holds each operation's series, resolved once, so that observing
	// one allocates nothing.
	ops map[string]stateOp
}

type stateOp struct {
	duration prometheus.Observer
	errors   prometheus.Counter
}

// NewState creates the collectors and registers them with reg.
func NewState(reg prometheus.Registerer) *State {
	s := &State{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tokenguard_state_operation_duration_seconds",
			Help: "Time of shared-state operations (Redis or in-memory) by operation, failed ones included.",
			// From a local hit to the operation timeout (50ms by default).
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1},
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenguard_state_operation_errors_total",
			Help: "Shared-state operations that failed (store down, timed out, or refused), by operation.",
		}, []string{"op"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenguard_state_fallbacks_total",
			Help: "Times a use of the shared state (score cache, velocity, history...) fell back to its failure mode because the store failed.",
		}, []string{"use"}),
		ops: make(map[string]stateOp, len(state.Ops)),
	}
	for _, op := range state.Ops {
		s.ops[op] = stateOp{duration: s.duration.WithLabelValues(op), errors: s.errors.WithLabelValues(op)}
	}
	reg.MustRegister(s.duration, s.errors, s.fallbacks)
	return s
}

// ObserveOp records one operation; it is a state.Observer.
func (s *State) ObserveOp(op string, d time.Duration, err error) {
	o, ok := s.ops[op]
	if !ok {
		o = stateOp{duration: s.duration.WithLabelValues(op), errors: s.errors.WithLabelValues(op)}
	}
	o.duration.Observe(d.Seconds())
	if err != nil {
		o.errors.Inc()
	}
}

// Fallback counts one fall back of use (for example "score-cache",
// "velocity", "history") after the store failed.
func (s *State) Fallback(use string) {
	s.fallbacks.WithLabelValues(use).Inc()
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package metrics_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenguard/tokenguard/internal/metrics"
	"github.com/tokenguard/tokenguard/internal/state"
)

func TestStateMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	m.State.ObserveOp(state.OpHit, 2*time.Millisecond, nil)
	m.State.ObserveOp(state.OpHit, 50*time.Millisecond, errors.New("down"))
	m.State.Fallback("score-cache")
	want := `
# HELP tokenguard_state_fallbacks_total Times a use of the shared state (score cache, velocity, history...) fell back to its failure mode because the store failed.
# TYPE tokenguard_state_fallbacks_total counter
tokenguard_state_fallbacks_total{use="score-cache"} 1
# HELP tokenguard_state_operation_errors_total Shared-state operations that failed (store down, timed out, or refused), by operation.
# TYPE tokenguard_state_operation_errors_total counter
tokenguard_state_operation_errors_total{op="batch"} 0
tokenguard_state_operation_errors_total{op="cas"} 0
tokenguard_state_operation_errors_total{op="delete"} 0
tokenguard_state_operation_errors_total{op="get"} 0
tokenguard_state_operation_errors_total{op="hit"} 1
tokenguard_state_operation_errors_total{op="incr"} 0
tokenguard_state_operation_errors_total{op="ping"} 0
tokenguard_state_operation_errors_total{op="set"} 0
tokenguard_state_operation_errors_total{op="setnx"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"tokenguard_state_fallbacks_total", "tokenguard_state_operation_errors_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "tokenguard_state_operation_duration_seconds"); n != len(state.Ops) {
		t.Errorf("%d duration series, want one per operation (%d)", n, len(state.Ops))
	}
	if a := testing.AllocsPerRun(100, func() { m.State.ObserveOp(state.OpGet, time.Millisecond, nil) }); a != 0 {
		t.Errorf("ObserveOp allocates %v times, want 0", a)
	}
}

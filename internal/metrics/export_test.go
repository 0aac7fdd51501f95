// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package metrics

import "github.com/prometheus/client_golang/prometheus"

// Test access to one source's reload collectors.

func (r *Reloads) FailuresForTest(source string) prometheus.Counter {
	return r.failures.WithLabelValues(source)
}

func (r *Reloads) FailingForTest(source string) prometheus.Gauge {
	return r.failing.WithLabelValues(source)
}

func (r *Reloads) LastSuccessForTest(source string) prometheus.Gauge {
	return r.lastSuccess.WithLabelValues(source)
}

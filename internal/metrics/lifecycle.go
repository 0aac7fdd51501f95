// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Lifecycle has the gauges that say in which state a replica serves: whether
// its first complete snapshot exists, whether it is draining for shutdown,
// whether it leads (writes status), and whether its snapshot is stale
// because the API server cannot be reached.
type Lifecycle struct {
	Ready      prometheus.Gauge
	Draining   prometheus.Gauge
	Leader     prometheus.Gauge
	Stale      prometheus.Gauge
	StaleSince prometheus.Gauge
}

// NewLifecycle creates the gauges and registers them with reg.
func NewLifecycle(reg prometheus.Registerer) *Lifecycle {
	l := &Lifecycle{
		Ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenguard_snapshot_ready",
			Help: "1 once the first complete policy snapshot exists; until then every call is answered ERROR.",
		}),
		Draining: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenguard_draining",
			Help: "1 from SIGTERM until shutdown: readiness fails while calls are still answered.",
		}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenguard_leader",
			Help: "1 while this replica holds the leader Lease and writes policy status.",
		}),
		Stale: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenguard_snapshot_stale",
			Help: "1 while the API server cannot be reached and the last known policy snapshot is served.",
		}),
		StaleSince: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokenguard_snapshot_stale_since_timestamp_seconds",
			Help: "When the snapshot became stale (the first failed API server probe), as a Unix timestamp; 0 when it is not stale.",
		}),
	}
	reg.MustRegister(l.Ready, l.Draining, l.Leader, l.Stale, l.StaleSince)
	return l
}

// SetStale records whether the snapshot is stale and since when. The
// flag is set last and cleared first, so that whoever sees it set finds
// the time beside it.
func (l *Lifecycle) SetStale(stale bool, since time.Time) {
	if !stale {
		l.Stale.Set(0)
		l.StaleSince.Set(0)
		return
	}
	l.StaleSince.Set(float64(since.UnixNano()) / 1e9)
	l.Stale.Set(1)
}

// SetLeader records whether this replica leads.
func (l *Lifecycle) SetLeader(leading bool) {
	if leading {
		l.Leader.Set(1)
		return
	}
	l.Leader.Set(0)
}

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package standalone

import (
	"context"
	"time"

	"github.com/go-logr/logr"

	"github.com/tokenguard/tokenguard/internal/abuseipdb"
	"github.com/tokenguard/tokenguard/internal/policy"
)

// KeyHealth is what KeyReporter asks of the AbuseIPDB client.
type KeyHealth = abuseipdb.KeyHealth

// KeyReporter is standalone mode's stand-in for the AbuseIPDBKeyRejected
// condition: it logs once when AbuseIPDB rejects the API key a policy uses,
// and once when that key is accepted again or the policy's key is rotated,
// not once per call. Further rejections of the same key after a pause are
// not logged again: nothing changed for the operator.
type KeyReporter struct {
	Keys  KeyHealth
	Store *policy.Store
	Log   logr.Logger

	// reported maps each policy whose rejection was logged to its key.
	reported map[string]abuseipdb.Fingerprint
	snap     *policy.Snapshot
}

// Run reports until ctx ends, checking the policies on every key event and
// every interval (for a rotated key, which comes with a new snapshot).
func (k *KeyReporter) Run(ctx context.Context, interval time.Duration) {
	events := make(chan abuseipdb.KeyEvent, 64)
	cancel := k.Keys.Subscribe(func(e abuseipdb.KeyEvent) {
		select {
		case events <- e:
		default: // a later event or tick catches up
		}
	})
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-events:
			k.check(&e)
		case <-tick.C:
			if snap := k.Store.Load(); snap != k.snap {
				k.check(nil)
			}
		}
	}
}

// check compares each policy's key with what was logged about it; e is the
// key event that triggered it, if any.
func (k *KeyReporter) check(e *abuseipdb.KeyEvent) {
	if k.reported == nil {
		k.reported = map[string]abuseipdb.Fingerprint{}
	}
	k.snap = k.Store.Load()
	current := map[string]bool{}
	for _, p := range k.snap.Policies {
		if p.Abuse == nil || p.Abuse.APIKey == "" {
			continue // the loader reports a missing or empty key
		}
		current[p.Key] = true
		fp := abuseipdb.FingerprintOf(p.Abuse.APIKey)
		if was, ok := k.reported[p.Key]; ok {
			switch {
			case was != fp:
				k.Log.Info("policy uses a new abuseipdb api key; lookups with it go to abuseipdb", "policy", p.Key)
				delete(k.reported, p.Key)
			case e != nil && e.Kind == abuseipdb.KeyAccepted && e.Key == fp:
				k.Log.Info("abuseipdb accepts the policy's api key again", "policy", p.Key)
				delete(k.reported, p.Key)
				continue
			default:
				continue
			}
		}
		if r, ok := k.Keys.Rejected(p.Abuse.APIKey); ok {
			k.Log.Info("abuseipdb rejected the policy's api key: abuseipdb checks fail and the policy's onFailure applies; rotate the key",
				"policy", p.Key, "status", r.Status, "at", r.At.UTC(), "pausedUntil", r.Until.UTC())
			k.reported[p.Key] = fp
		}
	}
	for key := range k.reported {
		if !current[key] {
			delete(k.reported, key)
		}
	}
}

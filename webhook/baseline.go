// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/tokenguard/tokenguard/internal/action"
)

// Baseline is the yardstick for performance targets (docs/performance.md): a
// bare net/http handler that decodes the same request into the same structs
// and answers a fixed SUCCESS. It does no policy work at all.
type Baseline struct{}

var baselineAnswer = []byte(`{"actionStatus":"SUCCESS"}`)

func (Baseline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	var req action.Request
	if err != nil || json.Unmarshal(body, &req) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(baselineAnswer)
}

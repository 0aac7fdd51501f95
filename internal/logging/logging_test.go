// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package logging_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/logging"
)

// Every decision line of a burst is written: none is sampled away.
// controller-runtime's production logger keeps the first 100 lines of a
// message per second and one in 100 after that.
func TestNoSampling(t *testing.T) {
	var buf bytes.Buffer
	o := logging.Options{}
	o.BindFlags(flag.NewFlagSet("t", flag.ContinueOnError))
	o.DestWriter = &buf
	log := logging.New(o).WithName("decision")
	const n = 5000
	for i := range n {
		log.Info("token call decided", "requestId", i)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != n {
		t.Fatalf("%d of %d decision lines written", len(lines), n)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("not JSON: %s", lines[0])
	}
	if first["msg"] != "token call decided" || first["logger"] != "decision" || first["requestId"] != float64(0) {
		t.Errorf("line %v", first)
	}
}

// The --zap-* flags keep working: level and encoder.
func TestFlags(t *testing.T) {
	var buf bytes.Buffer
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	o := logging.Options{}
	o.BindFlags(fs)
	if err := fs.Parse([]string{"--zap-log-level=error", "--zap-encoder=console"}); err != nil {
		t.Fatal(err)
	}
	o.DestWriter = &buf
	log := logging.New(o)
	log.Info("hidden")
	log.Error(nil, "shown")
	out := buf.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, "shown") || strings.HasPrefix(out, "{") {
		t.Errorf("output %q", out)
	}
}

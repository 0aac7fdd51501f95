//go:build e2e

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tu "github.com/tokenguard/tokenguard/internal/testutil"
)

// `make run` serves the README's seed request with the answers the README
// shows: the request is taken from README.md itself.
func TestMakeRunServesTheREADME(t *testing.T) {
	root := tu.RepoRoot()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)curl -s localhost:8090/actions/pre-issue-access-token -H 'Content-Type: application/json' -d '(\{.*?\})'\n`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no seed curl")
	}
	request := m[1]
	blocked := `{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Access token issuance is blocked from your region (KP)."}`
	allowed := `{"actionStatus":"SUCCESS","operations":[{"op":"add","path":"/accessToken/claims/-","value":{"name":"country","value":"IN"}}]}`
	for _, want := range []string{blocked, allowed} {
		if !bytes.Contains(readme, []byte(want)) {
			t.Fatalf("README.md does not show %s", want)
		}
	}
	post, logs := makeRun(t)
	if got := post(string(request)); got != blocked {
		t.Errorf("seed request: %s", got)
	}
	if got := post(strings.Replace(string(request), "175.45.176.0", "14.102.69.58", 1)); got != allowed {
		t.Errorf("with 14.102.69.58: %s", got)
	}
	if !strings.Contains(logs(), "AbuseIPDB is switched off") {
		t.Errorf("no start-up warning about AbuseIPDB")
	}
	if strings.Contains(logs(), "key is unusable") {
		t.Errorf("misleading key warning with AbuseIPDB off")
	}
}

// The user-aware sample under `make run` answers the README's contractor
// call with the answer the README shows.
func TestMakeRunServesTheUserAwareSample(t *testing.T) {
	root := tu.RepoRoot()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)-d @hack/dev/contractor-call.json\n` + "```" + `\n\n` + "```json" + `\n(\{.*?\})\n`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md shows no answer to hack/dev/contractor-call.json")
	}
	call, err := os.ReadFile(filepath.Join(root, "hack/dev/contractor-call.json"))
	if err != nil {
		t.Fatal(err)
	}
	post, _ := makeRun(t, "RUN_POLICY=config/samples/user-aware.yaml")
	if got := post(string(call)); got != string(m[1]) {
		t.Errorf("contractor call: %s\nREADME shows: %s", got, m[1])
	}
}

// makeRun starts `make run` with env added, waits until it is ready, and
// returns a function posting a call to it and one returning its output so far.
func makeRun(t *testing.T, env ...string) (post func(string) string, logs func() string) {
	t.Helper()
	action, probes := freePort(t), freePort(t)
	cmd := exec.Command("make", "run")
	cmd.Dir = tu.RepoRoot()
	cmd.Env = append(append(os.Environ(), "ABUSEIPDB_API_KEY=",
		"RUN_ARGS=--action-bind-address="+action+" --health-probe-bind-address="+probes+" --metrics-bind-address="+freePort(t)), env...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("make run output:\n%s", out.String())
		}
	})
	waitReady(t, probes, 120*time.Second)
	post = func(body string) string {
		resp, err := http.Post("http://"+action+"/actions/pre-issue-access-token", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	return post, out.String
}

// syncBuffer is a bytes.Buffer the process writes to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

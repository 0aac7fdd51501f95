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
	action, probes := freePort(t), freePort(t)
	cmd := exec.Command("make", "run")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "ABUSEIPDB_API_KEY=",
		"RUN_ARGS=--action-bind-address="+action+" --health-probe-bind-address="+probes+" --metrics-bind-address="+freePort(t))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("make run output:\n%s", logs.String())
		}
	}()
	waitReady(t, probes, 120*time.Second)
	post := func(body string) string {
		resp, err := http.Post("http://"+action+"/actions/pre-issue-access-token", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := post(string(request)); got != blocked {
		t.Errorf("seed request: %s", got)
	}
	if got := post(strings.Replace(string(request), "175.45.176.0", "14.102.69.58", 1)); got != allowed {
		t.Errorf("with 14.102.69.58: %s", got)
	}
	if !strings.Contains(logs.String(), "AbuseIPDB is switched off") {
		t.Errorf("no start-up warning about AbuseIPDB")
	}
	if strings.Contains(logs.String(), "key is unusable") {
		t.Errorf("misleading key warning with AbuseIPDB off")
	}
}

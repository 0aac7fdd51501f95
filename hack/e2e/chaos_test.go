//go:build e2e

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tokenguard/tokenguard/internal/geoip/geoiptest"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
	"github.com/tokenguard/tokenguard/webhook"
)

// The chaos tests run the built binary under steady load on loopback and
// break what operators break: start-up, SIGTERM, the API server, policy
// and GeoIP files edited in place. Each scenario reports the calls sent,
// those that failed (no answer, or not an answer the platform reads), and
// those let through (SUCCESS for an address a policy blocks); any failure
// or let-through where the scenario allows none fails the test.

const chaosPolicy = `apiVersion: policy.tokenguard.io/v1alpha1
kind: TokenPolicy
metadata:
  name: chaos
  namespace: default
spec:
  clientIP:
    onMissing: Deny
  token:
    maxExpiresInSeconds: 3600
    decisionClaims: {country: country}
  geo:
    blockedCountries: [KP, IR]
  networks:
    blockedCIDRs: [175.45.176.0/22]
`

// proc is the tokenguard binary running.
type proc struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan error
	action string
	probes string
}

func startBinary(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	bin := filepath.Join(tu.RepoRoot(), "bin", "tokenguard")
	p := &proc{logs: &syncBuffer{}, exited: make(chan error, 1), action: freePort(t), probes: freePort(t)}
	p.cmd = exec.Command(bin, append([]string{"--action-bind-address=" + p.action, "--health-probe-bind-address=" + p.probes,
		"--metrics-bind-address=0", "--abuseipdb-disabled"}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("tokenguard output:\n%s", lastLines(p.logs.String(), 60))
		}
	})
	return p
}

func (p *proc) url() string { return "http://" + p.action + webhook.Path }

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type chaosFiles struct {
	dir, auth, policies, policyFile, geo string
}

func newChaosFiles(t *testing.T) chaosFiles {
	t.Helper()
	dir := t.TempDir()
	f := chaosFiles{dir: dir, auth: filepath.Join(dir, "auth.yaml"), policies: filepath.Join(dir, "policies")}
	f.policyFile = filepath.Join(f.policies, "chaos.yaml")
	must(t, os.WriteFile(f.auth, []byte("type: NONE\n"), 0o600))
	must(t, os.MkdirAll(f.policies, 0o750))
	must(t, os.WriteFile(f.policyFile, []byte(chaosPolicy), 0o600))
	f.geo = geoiptest.File(t, "country.mmdb", geoiptest.Country(t, "GeoLite2-Country", geoiptest.SeedNetworks))
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Standalone: start-up, a policy file half-written in place, GeoIP files
// swapped and half-written, and SIGTERM, under load.
func TestChaosStandalone(t *testing.T) {
	f := newChaosFiles(t)
	args := []string{"--action-auth-config=" + f.auth, "--policy-file=" + f.policies, "--geoip-database=" + f.geo,
		"--reload-interval=100ms", "--reload-settle=1500ms", "--geoip-reload-interval=200ms", "--shutdown-drain-period=2s"}

	startUnderLoad(t, "standalone", 30*time.Second, nil, args...)

	p := startBinary(t, nil, args...)
	waitReady(t, p.probes, 30*time.Second)

	// A policy file rewritten in place by a writer that pauses mid-write
	// for half a second (five reload checks see the partial file; a second
	// of margin to the settle time for a loaded machine): the partial file
	// (without the blocks) is never served.
	g := startLoad(t, loadSpec{URL: p.url(), Rate: 200})
	time.Sleep(300 * time.Millisecond)
	for range 3 {
		fh, err := os.OpenFile(f.policyFile, os.O_WRONLY|os.O_TRUNC, 0o600)
		must(t, err)
		half := strings.Index(chaosPolicy, "  geo:")
		_, err = fh.WriteString(chaosPolicy[:half])
		must(t, err)
		time.Sleep(500 * time.Millisecond)
		_, err = fh.WriteString(chaosPolicy[half:])
		must(t, err)
		must(t, fh.Close())
		time.Sleep(2 * time.Second)
	}
	sent, failed, let, first := tally(g.finish(), time.Time{}, time.Time{})
	report(t, "policy file half-written in place (x3)", sent, failed, let, first, false)

	// GeoIP: the database swapped by rename, then truncated in place (a
	// copy caught mid-write): the blocked country stays blocked and every
	// call is answered.
	g = startLoad(t, loadSpec{URL: p.url(), Rate: 200})
	db, err := os.ReadFile(f.geo)
	must(t, err)
	tmp := f.geo + ".new"
	must(t, os.WriteFile(tmp, db, 0o600))
	must(t, os.Rename(tmp, f.geo))
	time.Sleep(time.Second)
	must(t, os.WriteFile(f.geo, db[:len(db)/2], 0o600))
	time.Sleep(time.Second)
	must(t, os.WriteFile(tmp, db, 0o600))
	must(t, os.Rename(tmp, f.geo))
	time.Sleep(time.Second)
	sent, failed, let, first = tally(g.finish(), time.Time{}, time.Time{})
	report(t, "GeoIP file swapped, then half-written", sent, failed, let, first, false)

	// SIGTERM under load: every call during the drain is answered; the
	// process exits cleanly after it.
	sigterm(t, p, 2*time.Second, "standalone SIGTERM")
}

// startUnderLoad starts the binary three times with env and args, each
// under load from before the process starts until it has answered for a
// while after turning ready (within ready), and stops it again. Refused
// connections are expected; SUCCESS never is.
func startUnderLoad(t *testing.T, mode string, ready time.Duration, env []string, args ...string) {
	t.Helper()
	for i := range 3 {
		p := startBinary(t, env, args...)
		g := startLoad(t, loadSpec{URL: p.url(), Rate: 400})
		waitReady(t, p.probes, ready)
		time.Sleep(500 * time.Millisecond)
		sent, failed, let, first := tally(g.finish(), time.Time{}, time.Time{})
		report(t, fmt.Sprintf("%s start-up #%d", mode, i+1), sent, failed, let, first, true)
		stopBinary(t, p)
	}
}

func stopBinary(t *testing.T, p *proc) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	// A second signal ends the drain. Sent at once, the kernel may merge it
	// with the first (a pending signal is not queued twice): wait a moment.
	select {
	case <-p.exited:
		return
	case <-time.After(100 * time.Millisecond):
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after two signals")
	}
}

// sigterm sends SIGTERM under load and checks the drain.
func sigterm(t *testing.T, p *proc, drain time.Duration, scenario string) {
	t.Helper()
	g := startLoad(t, loadSpec{URL: p.url(), Rate: 500})
	time.Sleep(500 * time.Millisecond)
	at := time.Now()
	must(t, p.cmd.Process.Signal(syscall.SIGTERM))
	var exitErr error
	select {
	case exitErr = <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no exit 30 s after SIGTERM", scenario)
	}
	exitedAfter := time.Since(at)
	out := g.finish()
	// The drain: from the signal until shortly before its end (the last
	// calls may meet the closing listener, which the Service no longer
	// routes to by then).
	sent, failed, let, first := tally(out, at, at.Add(drain-100*time.Millisecond))
	report(t, scenario+" (during the drain)", sent, failed, let, first, false)
	if exitErr != nil {
		t.Errorf("%s: exit %v", scenario, exitErr)
	}
	if exitedAfter < drain {
		t.Errorf("%s: exited %v after SIGTERM, before the %v drain ended", scenario, exitedAfter, drain)
	}
}

// restartableEnv is an envtest control plane whose processes can be killed
// and started again with their data and certificates.
func restartableEnv(t *testing.T) (*envtest.Environment, string) {
	t.Helper()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(tu.RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	env.ControlPlane.Etcd = &envtest.Etcd{DataDir: t.TempDir()}
	env.ControlPlane.APIServer = &envtest.APIServer{CertDir: t.TempDir()}
	if _, err := env.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin, err := env.AddUser(envtest.User{Name: "chaos-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	must(t, os.WriteFile(path, kc, 0o600))
	return env, path
}

func pkill(t *testing.T, arg string) {
	t.Helper()
	if out, err := exec.Command("pkill", "-KILL", "-f", "--", arg).CombinedOutput(); err != nil {
		t.Fatalf("pkill %s: %v %s", arg, err, out)
	}
}

// Kubernetes mode with leader election on: start-up, the API server and
// etcd killed for 20 s and started again, a policy change afterwards, and
// SIGTERM, under load.
func TestChaosKubernetes(t *testing.T) {
	env, kubeconfig := restartableEnv(t)
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	c := &cluster{t: t, kubectl: filepath.Join(assets, "kubectl"), kubeconfig: kubeconfig}
	c.run(chaosPolicy, c.kubectl, "apply", "-f", "-")
	f := newChaosFiles(t)
	kenv := []string{"KUBECONFIG=" + kubeconfig}
	args := []string{"--action-auth-config=" + f.auth, "--geoip-database=" + f.geo, "--leader-election-namespace=default",
		"--leader-election-id=chaos", "--shutdown-drain-period=2s"}

	startUnderLoad(t, "kubernetes", 60*time.Second, kenv, args...)

	p := startBinary(t, kenv, args...)
	waitReady(t, p.probes, 60*time.Second)
	tu.Eventually(t, 30*time.Second, "leader", func() error {
		if !strings.Contains(p.logs.String(), "became the leader") {
			return fmt.Errorf("not leading yet")
		}
		return nil
	})

	g := startLoad(t, loadSpec{URL: p.url(), Rate: 100})
	time.Sleep(500 * time.Millisecond)
	pkill(t, "--cert-dir="+env.ControlPlane.APIServer.CertDir)
	pkill(t, "--data-dir="+env.ControlPlane.Etcd.DataDir)
	_ = env.ControlPlane.APIServer.Stop()
	_ = env.ControlPlane.Etcd.Stop()
	time.Sleep(20 * time.Second) // past the 10 s renew deadline
	select {
	case err := <-p.exited:
		t.Fatalf("tokenguard exited during the outage: %v", err)
	default:
	}
	if !strings.Contains(p.logs.String(), "API server unreachable") || !strings.Contains(p.logs.String(), "stopped leading") {
		t.Error("the outage was not logged (API server unreachable, stopped leading)")
	}
	must(t, env.ControlPlane.Etcd.Start())
	must(t, env.ControlPlane.APIServer.Start())
	tu.Eventually(t, 30*time.Second, "API server back", func() error {
		if !strings.Contains(p.logs.String(), "API server reachable again") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	sent, failed, let, first := tally(g.finish(), time.Time{}, time.Time{})
	report(t, "API server and etcd killed for 20 s", sent, failed, let, first, false)

	// A change after the outage reaches the replica within seconds.
	start := time.Now()
	c.run("", c.kubectl, "-n", "default", "patch", "tokenpolicy", "chaos", "--type=merge", "-p", `{"spec":{"networks":{"blockedCIDRs":["175.45.176.0/22","205.210.31.0/24"]}}}`)
	body := tu.JSON(t, tu.Request("205.210.31.51"))
	tu.Eventually(t, 10*time.Second, "change after the outage served", func() error {
		if o := call(http.DefaultClient, p.url(), body, nil); o.letThrough || o.failed {
			if o.description == "" {
				return fmt.Errorf("SUCCESS")
			}
			return fmt.Errorf("%s", o.description)
		}
		return nil
	})
	fmt.Printf("chaos: policy change after the outage served in %v\n", time.Since(start).Round(time.Millisecond))

	sigterm(t, p, 2*time.Second, "kubernetes SIGTERM")
}

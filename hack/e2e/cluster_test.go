//go:build cluster

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/abuseipdb/abuseipdbtest"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
	"github.com/tokenguard/tokenguard/webhook"
)

// The cluster tests run on the single-node cluster of hack/cluster (make
// test-cluster brings it up, loads the image and tears it down): the chart
// installed with helm from the locally built image, two replicas, AbuseIPDB
// stood in for on the node's address, and load sent through the action
// Service's ClusterIP the whole time. Traffic goes only to the node's
// address, pod IPs and the ClusterIP.

const (
	clusterNS     = "tokenguard-system"
	actionKey     = "cluster-secret"
	clusterAbuse  = "cluster-key"
	kpAddress     = "175.45.176.0"
	kpDenied      = `{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Access token issuance is blocked from your region (KP)."}`
	loadPerSecond = 100
)

type kube struct {
	*cluster
	helm, state, nodeIP string
}

func clusterEnv(t *testing.T) *kube {
	t.Helper()
	root := tu.RepoRoot()
	state := os.Getenv("TOKENGUARD_CLUSTER_DIR")
	if state == "" {
		state = filepath.Join(root, "bin", "cluster")
	}
	kubeconfig := filepath.Join(state, "kubeconfig")
	ip, err := os.ReadFile(filepath.Join(state, "node-ip"))
	if err != nil {
		t.Fatalf("no cluster (run `make test-cluster`, which brings one up): %v", err)
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test-cluster`")
	}
	return &kube{
		cluster: &cluster{t: t, kubectl: filepath.Join(assets, "kubectl"), kubeconfig: kubeconfig},
		helm:    filepath.Join(root, "bin", "helm"), state: state, nodeIP: strings.TrimSpace(string(ip)),
	}
}

// pods returns the Running tokenguard pods' names and IPs.
func (k *kube) pods() map[string]string {
	out := k.k("-n", clusterNS, "get", "pods", "-l", "app.kubernetes.io/name=tokenguard",
		"--field-selector=status.phase=Running", "-o", `jsonpath={range .items[*]}{.metadata.name} {.status.podIP}{"\n"}{end}`)
	pods := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			pods[f[0]] = f[1]
		}
	}
	return pods
}

// podStates counts the tokenguard pods being deleted (evicted) and the
// Ready ones not being deleted.
func (k *kube) podStates() (gone, ready int) {
	out := k.k("-n", clusterNS, "get", "pods", "-l", "app.kubernetes.io/name=tokenguard", "-o",
		`jsonpath={range .items[*]}{.metadata.deletionTimestamp}|{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		deleting, readyStatus, _ := strings.Cut(l, "|")
		switch {
		case deleting != "":
			gone++
		case readyStatus == "True":
			ready++
		}
	}
	return gone, ready
}

// leader returns the pod that holds the Lease.
func (k *kube) leader() string {
	id := k.k("-n", clusterNS, "get", "lease", "tokenguard.policy.tokenguard.io", "-o", "jsonpath={.spec.holderIdentity}")
	name, _, _ := strings.Cut(id, "_")
	return name
}

func (k *kube) waitRollout() {
	k.t.Helper()
	k.k("-n", clusterNS, "rollout", "status", "deployment/tokenguard", "--timeout=180s")
	tu.Eventually(k.t, 60*time.Second, "two Ready pods", func() error {
		out := k.k("-n", clusterNS, "get", "deployment/tokenguard", "-o", "jsonpath={.status.readyReplicas}/{.status.replicas}")
		if out != "2/2" {
			return fmt.Errorf("ready/replicas %s", out)
		}
		return nil
	})
}

// ask sends one call to an address (ClusterIP or pod IP).
func ask(t *testing.T, host, ip string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+net.JoinHostPort(host, "8090")+webhook.Path,
		bytes.NewReader(tu.JSON(t, tu.Request(ip))))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", actionKey)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// decisions sums tokenguard_decisions_total scraped from a pod.
func decisions(t *testing.T, podIP string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + net.JoinHostPort(podIP, "8080") + "/metrics") //nolint:noctx // test
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "tokenguard_decisions_total{") {
			v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			if err == nil {
				sum += v
			}
		}
	}
	return sum
}

func TestCluster(t *testing.T) {
	k := clusterEnv(t)
	root := tu.RepoRoot()

	// The AbuseIPDB stand-in, on the node's address, reachable from the pods.
	ln, err := net.Listen("tcp", net.JoinHostPort(k.nodeIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	fake := abuseipdbtest.NewServerOn(ln, clusterAbuse, abuseipdbtest.SeedScores)
	t.Cleanup(fake.Stop)

	// 1. Install.
	k.run("", k.kubectl, "create", "namespace", clusterNS)
	k.run(fmt.Sprintf("type: API_KEY\nproperties:\n  header: x-api-key\n  value: %s\n", actionKey),
		k.kubectl, "-n", clusterNS, "create", "secret", "generic", "tokenguard-action-auth", "--from-file=auth.yaml=/dev/stdin")
	k.k("-n", clusterNS, "create", "secret", "generic", "abuseipdb", "--from-literal=apiKey="+clusterAbuse)
	installed := time.Now()
	k.run("", k.helm, "install", "tokenguard", filepath.Join(root, "charts", "tokenguard"), "-n", clusterNS,
		"--set", "image.repository=tokenguard.local/tokenguard", "--set", "image.tag=dev", "--set", "image.pullPolicy=Never",
		"--set", "actionEndpoint.auth.existingSecret=tokenguard-action-auth",
		"--set", "abuseIPDB.url="+fake.URL(), "--wait", "--timeout=180s")
	k.waitRollout()
	fmt.Printf("cluster: helm install to 2 Ready pods in %v\n", time.Since(installed).Round(time.Millisecond))
	pods := k.pods()
	if len(pods) != 2 {
		t.Fatalf("pods %v", pods)
	}
	tu.Eventually(t, 30*time.Second, "a leader", func() error {
		if l := k.leader(); pods[l] == "" {
			return fmt.Errorf("lease held by %q", l)
		}
		return nil
	})
	samples, _ := filepath.Glob(filepath.Join(root, "config", "samples", "*.yaml"))
	var sampleNames []string
	for _, f := range samples {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		for _, obj := range strings.Fields(k.k("-n", clusterNS, "apply", "-f", f, "-o", "name")) {
			if kind, name, _ := strings.Cut(obj, "/"); strings.HasPrefix(kind, "tokenpolicy") {
				sampleNames = append(sampleNames, name)
			}
		}
	}
	if len(sampleNames) < 4 {
		t.Fatalf("samples applied: %v", sampleNames)
	}
	for _, n := range sampleNames {
		k.k("-n", clusterNS, "wait", "--for=condition=Ready", "tokenpolicy/"+n, "--timeout=60s")
	}
	fmt.Print(k.k("-n", clusterNS, "get", "tp"))
	// Only the seed use case stays, so the answers are the README's.
	for _, n := range sampleNames {
		if n != "asgardeo-use-case" {
			k.k("-n", clusterNS, "delete", "tokenpolicy", n)
		}
	}
	svc := k.k("-n", clusterNS, "get", "service", "tokenguard", "-o", "jsonpath={.spec.clusterIP}")
	tu.Eventually(t, 20*time.Second, "seed decisions through the Service", func() error {
		for ip, want := range map[string]string{
			kpAddress:         kpDenied,
			"103.159.198.178": "high IP risk",
			"14.102.69.58":    `{"name":"country","value":"IN"}`,
		} {
			if code, got := ask(t, svc, ip); code != 200 || !strings.Contains(got, want) {
				return fmt.Errorf("%s: %d %s", ip, code, got)
			}
		}
		return nil
	})

	// 7. Metrics and logs: each decision counted and logged, on the pod.
	for name, ip := range pods {
		before := decisions(t, ip)
		logsBefore := strings.Count(k.k("-n", clusterNS, "logs", name), `"token call decided"`)
		const n = 50
		for range n {
			if code, got := ask(t, ip, kpAddress); code != 200 || got != kpDenied {
				t.Fatalf("pod %s: %d %s", name, code, got)
			}
		}
		if got := decisions(t, ip) - before; got != n {
			t.Errorf("pod %s: %v decisions counted for %d calls", name, got, n)
		}
		tu.Eventually(t, 10*time.Second, "decision lines logged", func() error {
			if got := strings.Count(k.k("-n", clusterNS, "logs", name), `"token call decided"`) - logsBefore; got != n {
				return fmt.Errorf("pod %s: %d decision lines for %d calls", name, got, n)
			}
			return nil
		})
	}
	fmt.Println("cluster: metrics scraped from both pods and their logs count one line per decision")

	// From here on, load through the ClusterIP the whole time.
	g := startLoad(t, loadSpec{URL: "http://" + net.JoinHostPort(svc, "8090") + webhook.Path, Rate: loadPerSecond, IP: kpAddress,
		Header: http.Header{"X-Api-Key": {actionKey}}, Bound: 15 * time.Minute})
	scenario := func(name string, f func()) {
		start := time.Now()
		f()
		time.Sleep(time.Second) // calls in flight at the end belong to this scenario
		sent, failed, let, first := tally(g.snapshot(), start, time.Now())
		report(t, name, sent, failed, let, first, false)
	}

	scenario("rolling update (helm upgrade)", func() {
		k.run("", k.helm, "upgrade", "tokenguard", filepath.Join(root, "charts", "tokenguard"), "-n", clusterNS, "--reuse-values",
			"--set-string", "podAnnotations.restartedAt="+strconv.FormatInt(time.Now().Unix(), 10), "--wait", "--timeout=180s")
		k.waitRollout()
	})

	scenario("delete the leader pod", func() {
		old := k.leader()
		k.k("-n", clusterNS, "delete", "pod", old, "--wait=false")
		deleted := time.Now()
		tu.Eventually(t, 20*time.Second, "another replica leads", func() error {
			if l := k.leader(); l == old || l == "" {
				return fmt.Errorf("lease held by %q", l)
			}
			return nil
		})
		fmt.Printf("cluster: new leader %v after the leader pod's deletion\n", time.Since(deleted).Round(time.Millisecond))
		k.waitRollout()
		// A change made now gets its status from the new leader.
		k.k("-n", clusterNS, "patch", "tokenpolicy", "asgardeo-use-case", "--type=merge", "-p", `{"spec":{"geo":{"blockedCountries":["KP","IR","RU","SY","CN","BY"]}}}`)
		gen := k.k("-n", clusterNS, "get", "tokenpolicy", "asgardeo-use-case", "-o", "jsonpath={.metadata.generation}")
		k.k("-n", clusterNS, "wait", "--for=jsonpath={.status.observedGeneration}="+gen, "tokenpolicy/asgardeo-use-case", "--timeout=15s")
	})

	// The drain runs before the API server outage: after one, the
	// controller manager's watches (like any client-go watch) may lag for up
	// to a minute, and a disruption controller working from a stale cache
	// can rewrite the budget's status between two evictions.
	scenario("kubectl drain honours the PodDisruptionBudget", func() {
		node := k.k("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")
		tu.Eventually(t, 30*time.Second, "the PodDisruptionBudget allows one disruption", func() error {
			got := k.k("-n", clusterNS, "get", "pdb", "tokenguard", "-o", "jsonpath={.status.currentHealthy}/{.status.disruptionsAllowed}")
			if got != "2/1" {
				return fmt.Errorf("healthy/allowed %s", got)
			}
			return nil
		})
		drained := make(chan string, 1)
		go func() {
			// Two replicas on one node with minAvailable 1: the first
			// eviction is allowed, the second is refused until a replacement
			// is Ready, which cannot happen on the cordoned node.
			out, _ := k.try("", k.kubectl, "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=30s")
			drained <- out
		}()
		maxGone, minReady := 0, 2
		var out string
	watch:
		for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); {
			select {
			case out = <-drained:
				break watch
			case <-time.After(300 * time.Millisecond):
			}
			gone, ready := k.podStates()
			maxGone, minReady = max(maxGone, gone), min(minReady, ready)
		}
		t.Logf("kubectl drain:\n%s", out)
		if maxGone != 1 || minReady < 1 {
			t.Errorf("during the drain: up to %d tokenguard pods evicted at once (want 1), as few as %d Ready (want 1)", maxGone, minReady)
		}
		k.k("uncordon", node)
		k.waitRollout()
		fmt.Printf("cluster: drain evicted at most %d pod at a time; at least %d stayed Ready\n", maxGone, minReady)
	})

	scenario("API server and etcd stopped for 60 s", func() {
		k.component("stop", "kube-apiserver", "etcd")
		time.Sleep(60 * time.Second)
		k.component("start", "etcd", "kube-apiserver")
		restarted := time.Now()
		tu.Eventually(t, 60*time.Second, "API server back", func() error {
			_, err := k.try("", k.kubectl, "get", "--raw=/readyz")
			return err
		})
		// The pods reach the API server through the kubernetes Service. The
		// API server took its endpoint away on its way out, and kube-proxy,
		// whose watch backs off for up to a minute like any client-go watch,
		// restores it only after that: up to about two minutes here.
		for name := range k.pods() {
			tu.Eventually(t, 180*time.Second, name+" sees the API server again", func() error {
				if !strings.Contains(k.k("-n", clusterNS, "logs", name), "API server reachable again") {
					return fmt.Errorf("not yet")
				}
				return nil
			})
		}
		fmt.Printf("cluster: both pods saw the API server again %v after its restart\n", time.Since(restarted).Round(time.Millisecond))
	})

	scenario("policy change reaches both pods", func() {
		changed := time.Now()
		k.run(`apiVersion: policy.tokenguard.io/v1alpha1
kind: TokenPolicy
metadata: {name: block-probe}
spec: {networks: {blockedCIDRs: [198.51.100.0/24]}}
`, k.kubectl, "-n", clusterNS, "apply", "-f", "-")
		for name, ip := range k.pods() {
			tu.Eventually(t, 10*time.Second, "the new policy on "+name, func() error {
				if code, got := ask(t, ip, "198.51.100.7"); code != 200 || !strings.Contains(got, `"FAILED"`) {
					return fmt.Errorf("%d %s", code, got)
				}
				return nil
			})
		}
		fmt.Printf("cluster: policy applied after the outage served by both pods (by pod IP) in %v\n", time.Since(changed).Round(time.Millisecond))
	})

	sent, failed, let, first := tally(g.finish(), time.Time{}, time.Time{})
	report(t, "whole run through the ClusterIP", sent, failed, let, first, false)
}

// component stops or starts control plane processes through the harness,
// which knows their command lines and PIDs.
func (k *kube) component(action string, names ...string) {
	k.t.Helper()
	k.run("", filepath.Join(tu.RepoRoot(), "hack", "cluster", "component.sh"), append([]string{action}, names...)...)
}

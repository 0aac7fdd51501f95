//go:build e2e

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tokenguard/tokenguard/internal/abuseipdb/abuseipdbtest"
	"github.com/tokenguard/tokenguard/internal/geoip/geoiptest"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
	"github.com/tokenguard/tokenguard/webhook"
)

func TestEndToEnd(t *testing.T) {
	root := tu.RepoRoot()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test-e2e`")
	}
	env := &envtest.Environment{}
	if _, err := env.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	admin, err := env.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &cluster{t: t, kubectl: filepath.Join(assets, "kubectl"), kubeconfig: filepath.Join(dir, "kubeconfig")}
	if err := os.WriteFile(c.kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}

	helm := filepath.Join(root, "bin", "helm")
	chart := filepath.Join(root, "charts", "tokenguard")
	// 0. helm install and uninstall as docs/install.md shows: the CRD survives the uninstall.
	c.run("", helm, "install", "tokenguard", chart, "--namespace", "tokenguard-helm", "--create-namespace",
		"--set", "actionEndpoint.auth.existingSecret=tokenguard-action-auth")
	c.k("-n", "tokenguard-helm", "get", "deployment/tokenguard", "poddisruptionbudget/tokenguard", "service/tokenguard")
	c.run("", helm, "uninstall", "tokenguard", "--namespace", "tokenguard-helm")
	c.k("get", "crd/tokenpolicies.policy.tokenguard.io")
	if out, err := c.try("", c.kubectl, "-n", "tokenguard-helm", "get", "deployment/tokenguard"); err == nil {
		t.Errorf("deployment left after uninstall: %s", out)
	}

	// 1. The Helm chart, rendered and applied server-side.
	c.k("create", "namespace", "tg-system")
	rendered := c.run("", helm, "template", "tokenguard", chart,
		"--namespace", "tg-system", "--set", "actionEndpoint.auth.existingSecret=tg-auth",
		"--set", "metrics.serviceMonitor.enabled=false", "--set", "networkPolicy.enabled=true")
	c.run(rendered, c.kubectl, "apply", "--server-side", "-f", "-")
	// 2. The kustomize install, server-side.
	c.k("apply", "--server-side", "-k", filepath.Join(root, "config", "default"))
	for _, obj := range []string{"deployment/tokenguard -n tg-system", "deployment/tokenguard -n tokenguard-system",
		"crd/tokenpolicies.policy.tokenguard.io", "crd/iplists.policy.tokenguard.io", "role/tokenguard -n tg-system", "rolebinding/tokenguard -n tokenguard-system",
		"networkpolicy/tokenguard -n tg-system", "poddisruptionbudget/tokenguard -n tokenguard-system"} {
		c.k(append([]string{"get"}, strings.Fields(obj)...)...)
	}
	// Both installs let the operator read Secrets in its own namespace and nowhere else.
	for _, installNS := range []string{"tg-system", "tokenguard-system"} {
		user := "system:serviceaccount:" + installNS + ":tokenguard"
		for _, check := range []struct {
			args []string
			want string
		}{
			{[]string{"list", "secrets", "-n", installNS}, "yes"},
			{[]string{"patch", "tokenpolicies", "--subresource=status", "-n", installNS}, "yes"},
			{[]string{"patch", "iplists", "--subresource=status", "-n", installNS}, "yes"},
			{[]string{"watch", "configmaps", "-n", installNS}, "yes"},
			{[]string{"get", "configmaps", "-n", "kube-system"}, "no"},
			{[]string{"get", "secrets", "-n", "kube-system"}, "no"},
			{[]string{"list", "secrets", "--all-namespaces"}, "no"},
		} {
			out, _ := c.try("", c.kubectl, append([]string{"auth", "can-i", "--as=" + user}, check.args...)...)
			if got := strings.TrimSpace(out); got != check.want {
				t.Errorf("%s can-i %v: %s, want %s", user, check.args, got, check.want)
			}
		}
	}

	// 3. The built binary, out of cluster, against the API server, with the
	// identity and the RBAC of the kustomize install's ServiceAccount (RBAC
	// matches a ServiceAccount subject by user name), watching its namespace.
	bin := filepath.Join(root, "bin", "tokenguard")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: run `make build` (make test-e2e does)", bin)
	}
	geo := geoiptest.File(t, "country.mmdb", geoiptest.Country(t, "GeoLite2-Country", geoiptest.SeedNetworks))
	fake := abuseipdbtest.New(t, "e2e-key", abuseipdbtest.SeedScores)
	sa, err := env.AddUser(envtest.User{Name: "system:serviceaccount:tokenguard-system:tokenguard",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:tokenguard-system"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	saConfig, err := sa.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	saKubeconfig := filepath.Join(dir, "kubeconfig-sa")
	if err := os.WriteFile(saKubeconfig, saConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(dir, "auth.yaml")
	if err := os.WriteFile(auth, []byte("type: API_KEY\nproperties:\n  header: x-api-key\n  value: e2e-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	action, probes := freePort(t), freePort(t)
	var logs bytes.Buffer
	const ns = "tokenguard-system"
	cmd := exec.Command(bin, "--leader-election-namespace="+ns, "--watch-namespace="+ns, "--action-bind-address="+action,
		"--health-probe-bind-address="+probes, "--metrics-bind-address="+freePort(t), "--action-auth-config="+auth,
		"--geoip-database="+geo, "--abuseipdb-url="+fake.URL(), "--geoip-reload-interval=1s")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+saKubeconfig)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("tokenguard output:\n%s", logs.String())
		}
	}()
	waitReady(t, probes, 30*time.Second)

	// 4. A Secret and the sample policy in the watched namespace, with
	// kubectl, until Ready; a policy in another namespace, which would block
	// the US, is not seen (step 5 checks a US address is let through).
	c.k("create", "namespace", "identity")
	c.run("apiVersion: policy.tokenguard.io/v1alpha1\nkind: TokenPolicy\nmetadata: {name: unwatched, namespace: identity}\nspec: {geo: {blockedCountries: [US]}}\n",
		c.kubectl, "apply", "-f", "-")
	c.k("-n", ns, "create", "secret", "generic", "abuseipdb", "--from-literal=apiKey=e2e-key")
	c.k("-n", ns, "apply", "-f", filepath.Join(root, "config", "samples", "asgardeo-use-case.yaml"))
	c.k("-n", ns, "wait", "--for=condition=Ready", "tokenpolicy/asgardeo-use-case", "--timeout=60s")
	if out := c.k("-n", ns, "get", "tp"); !strings.Contains(out, "asgardeo-use-case") || !strings.Contains(out, "True") {
		t.Errorf("kubectl get tp:\n%s", out)
	}

	url := "http://" + action + webhook.Path
	call := func(ip, key string) (int, string) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(tu.JSON(t, tu.Request(ip))))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("x-api-key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// 5. The seed requests. Ready is written by the status controller;
	// every replica's snapshot follows on its own, so the first answer is
	// awaited.
	tu.Eventually(t, 10*time.Second, "the policy served", func() error {
		if code, body := call("175.45.176.0", "e2e-secret"); code != 200 ||
			body != `{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Access token issuance is blocked from your region (KP)."}` {
			return fmt.Errorf("KP: %d %s", code, body)
		}
		return nil
	})
	if code, body := call("103.159.198.178", "e2e-secret"); code != 200 || !strings.Contains(body, "high IP risk") {
		t.Errorf("high risk: %d %s", code, body)
	}
	hourBefore := time.Now().UTC().Hour()
	_, body := call("14.102.69.58", "e2e-secret")
	hourAfter := time.Now().UTC().Hour()
	want := func(h int) string {
		if h >= 9 && h < 17 {
			return `"value":900`
		}
		return `"value":300`
	}
	if !strings.Contains(body, want(hourBefore)) && !strings.Contains(body, want(hourAfter)) {
		t.Errorf("medium risk at %d h UTC: %s", hourBefore, body)
	}
	if code, body := call("205.210.31.51", "e2e-secret"); code != 200 ||
		body != `{"actionStatus":"SUCCESS","operations":[{"op":"add","path":"/accessToken/claims/-","value":{"name":"country","value":"US"}}]}` {
		t.Errorf("low risk: %d %s", code, body)
	}
	if out := c.k("-n", "identity", "get", "tp", "unwatched", "-o", "jsonpath={.status}"); out != "" {
		t.Errorf("policy in an unwatched namespace has status %s", out)
	}
	if code, _ := call("205.210.31.51", "wrong"); code != 401 {
		t.Errorf("wrong key: %d", code)
	}

	// 6. Change the policy with kubectl: the decision changes within seconds.
	c.k("-n", ns, "patch", "tokenpolicy", "asgardeo-use-case", "--type=merge", "-p", `{"spec":{"geo":{"blockedCountries":["KP","US"]}}}`)
	tu.Eventually(t, 10*time.Second, "policy change served", func() error {
		if _, body := call("205.210.31.51", "e2e-secret"); !strings.Contains(body, "blocked from your region (US)") {
			return fmt.Errorf("%s", body)
		}
		return nil
	})
	c.k("-n", ns, "wait", "--for=jsonpath={.status.observedGeneration}=2", "tokenpolicy/asgardeo-use-case", "--timeout=30s")

	// 7. Delete it: gone within seconds.
	c.k("-n", ns, "delete", "tokenpolicy", "asgardeo-use-case")
	tu.Eventually(t, 10*time.Second, "deletion served", func() error {
		if _, body := call("175.45.176.0", "e2e-secret"); body != `{"actionStatus":"SUCCESS"}` {
			return fmt.Errorf("%s", body)
		}
		return nil
	})

	// 8. SIGTERM: a clean exit.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("no exit 30 s after SIGTERM")
	}
}
